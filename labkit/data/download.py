"""Downloads that can be trusted: mirror fallback, checksum verification, atomic writes.

Nothing partial or unverified ever lands at the destination: bytes go to a temporary file that
is checked (length and checksum) before it is moved into place.
"""
from __future__ import annotations

import hashlib
import http.client
import os
import shutil
import urllib.error
import urllib.request
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Sequence

from labkit.data.cache import CacheDir, search_path, writable_dir
from labkit.data.registry import DatasetEntry, RemoteFile, file_checksum
from labkit.files import atomic_write
from labkit.progress import progress_bar

USER_AGENT = "labkit (course kit; +https://pypi.org/project/labkit/)"


class DownloadError(OSError):
    """No mirror delivered a complete file with the right checksum; ``failures`` says why, per URL."""

    def __init__(self, message: str, failures: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.failures = list(failures)


class ChecksumMismatch(DownloadError):
    """A downloaded file's checksum differs from the registry's."""


def _fetch_one(url: str, dest: Path, remote: RemoteFile, timeout: float, progress: bool) -> None:
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    digest = hashlib.new(remote.algorithm)
    with urllib.request.urlopen(request, timeout=timeout) as response, atomic_write(dest) as out:
        expected = response.headers.get("Content-Length")
        expected = int(expected) if expected and expected.isdigit() else remote.size
        received = 0
        with progress_bar(total=expected, unit="B", unit_scale=True, desc=remote.filename,
                  disable=not progress, leave=False) as bar:
            for chunk in iter(lambda: response.read(1 << 16), b""):
                out.write(chunk)
                digest.update(chunk)
                received += len(chunk)
                bar.update(len(chunk))
        if expected is not None and received != expected:
            raise DownloadError(f"transfer interrupted: got {received} of {expected} bytes")
        if digest.hexdigest() != remote.digest:
            raise ChecksumMismatch(f"{remote.algorithm} checksum mismatch: expected {remote.digest}, "
                                   f"got {digest.hexdigest()} (file discarded)")


def download_file(urls: Sequence[str], dest: str | os.PathLike, remote: RemoteFile, *,
                  timeout: float = 20.0, progress: bool = True) -> Path:
    """Fetch ``remote`` from the first URL that delivers it intact, into ``dest`` (atomically).

    Each failure (HTTP error, refused connection, interrupted transfer, wrong checksum) moves on
    to the next URL. If all fail, :class:`DownloadError` lists every URL with its reason; an
    existing file at ``dest`` is never touched by a failed attempt.
    """
    dest = Path(dest)
    failures = []
    for url in urls:
        try:
            _fetch_one(url, dest, remote, timeout, progress)
            return dest
        except (urllib.error.URLError, http.client.HTTPException, OSError) as err:
            reason = getattr(err, "reason", None) if isinstance(err, urllib.error.URLError) else None
            failures.append(f"{url}: {reason or err}")
    raise DownloadError(
        f"could not download {remote.filename} from any of {len(urls)} mirror(s):\n"
        + "\n".join(f"  {failure}" for failure in failures)
        + f"\nCheck your internet connection, or place a verified copy at {dest} yourself.",
        failures)


@dataclass(frozen=True)
class Fetched:
    """Where :func:`fetch_entry` found or put a dataset: every file in one folder of one cache."""

    paths: dict[str, Path]                      # filename -> local path
    tier: str                                   # "cache" | "download"
    cache: CacheDir                             # the cache that holds the files
    folder: Path                                # cache.path / the entry's folder
    passed_over: tuple[CacheDir, ...] = ()      # earlier caches that could not be written (with why)

    def read_only_note(self) -> str:
        """Why the files are not in an earlier cache, e.g. " (the shared cache X is read-only: why)"."""
        return "".join(f" ({cache.name} {cache.path} is read-only: {cache.problem})" for cache in self.passed_over)

    def where(self, unpacked: Path | None = None) -> str:
        """Which tier served, truthfully: the cache (shared or not) and folder, or where the download
        went; ``unpacked`` names the folder files were unpacked into, when it is another one."""
        if self.tier == "download":
            return f"downloaded and verified into {self.folder}{self.read_only_note()}"
        unpacked_note = f", unpacked into {unpacked}" if unpacked is not None and unpacked != self.folder else ""
        return f"from {self.cache.name} ({self.folder}{unpacked_note}){self.read_only_note()}"


def unavailable_reason(err: DownloadError, download: bool = True) -> str:
    """Why the download tier did not serve: each mirror's reason (without the URLs), or download=False."""
    if not download:
        return "downloads disabled (download=False)"
    reasons = sorted({failure.split(": ", 1)[-1] for failure in err.failures})
    return f"it could not be downloaded ({len(err.failures)} mirror(s) tried: {'; '.join(reasons)})"


def _verified(path: Path, remote: RemoteFile) -> bool:
    return path.is_file() and file_checksum(path, remote.algorithm) == remote.digest


def _copy(source: Path, dest: Path) -> None:
    with open(source, "rb") as src, atomic_write(dest) as out:
        shutil.copyfileobj(src, out)


def fetch_entry(entry: DatasetEntry, root: str | os.PathLike | None = None, *, download: bool = True,
                timeout: float = 20.0, progress: bool = True) -> Fetched:
    """Make every file of ``entry`` available in one local folder: a cache that has them all, else by download.

    The caches of :func:`~labkit.data.cache.search_path` are searched in order and a folder
    holding every file with the right checksum is used as it is, without writing to it.
    Otherwise the files go to the first writable cache: copied from another cache that holds a
    verified copy, else downloaded (and moved into place only once verified). Raises
    :class:`DownloadError` if files are missing and ``entry`` has no mirrors (or ``download`` is
    False), and :class:`~labkit.data.cache.CacheDirError` if no cache can be written to.
    """
    if not download:                                   # a cache or nothing: no mirror is tried
        entry = replace(entry, mirrors=())
    sub = entry.folder or entry.name
    copies: dict[str, list[Path]] = {remote.filename: [] for remote in entry.files}   # verified copies
    for cache in search_path(root):
        here = {remote.filename: cache.path / sub / remote.filename for remote in entry.files}
        verified = [remote.filename for remote in entry.files if _verified(here[remote.filename], remote)]
        if len(verified) == len(entry.files):
            return Fetched(here, "cache", cache, cache.path / sub)
        for name in verified:
            copies[name].append(here[name])
    missing = [name for name, paths in copies.items() if not paths]
    if missing and not entry.mirrors:
        searched = ", ".join(str(cache.path / sub) for cache in search_path(root))
        raise DownloadError(f"{', '.join(missing)} of {entry.name} not found in any data cache ({searched})")
    dest, passed_over = writable_dir(root)
    folder, tier = dest.path / sub, "cache"
    for remote in entry.files:
        target, found = folder / remote.filename, copies[remote.filename]
        if not found:
            download_file(entry.urls(remote), target, remote, timeout=timeout, progress=progress)
            tier = "download"
        elif target not in found:
            _copy(found[0], target)
    paths = {r.filename: folder / r.filename for r in entry.files}
    return Fetched(paths, tier, dest, folder, tuple(passed_over))


def fetch(entry: DatasetEntry, root: str | os.PathLike | None = None, *, timeout: float = 20.0,
          progress: bool = True) -> tuple[dict[str, Path], str]:
    """Make every file of ``entry`` available locally: from a cache, else by download.

    Returns ``(paths, tier)`` where ``paths`` maps filenames to local paths and ``tier`` is
    "cache" when nothing had to be downloaded, else "download". A cached file whose checksum no
    longer matches is downloaded again (and replaced only once the new copy is verified).
    :func:`fetch_entry` also says which cache served.
    """
    fetched = fetch_entry(entry, root, timeout=timeout, progress=progress)
    return fetched.paths, fetched.tier
