"""Downloads that can be trusted: mirror fallback, checksum verification, atomic writes.

Nothing partial or unverified ever lands at the destination: bytes go to a temporary file that
is checked (length and checksum) before it is moved into place.
"""
from __future__ import annotations

import hashlib
import http.client
import os
import urllib.error
import urllib.request
from pathlib import Path
from typing import Sequence

from labkit.data.cache import data_dir
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


def fetch(entry: DatasetEntry, root: str | os.PathLike | None = None, *, timeout: float = 20.0,
          progress: bool = True) -> tuple[dict[str, Path], str]:
    """Make every file of ``entry`` available locally: from the cache, else by download.

    Returns ``(paths, tier)`` where ``paths`` maps filenames to local paths and ``tier`` is
    "cache" when nothing had to be downloaded, else "download". A cached file whose checksum no
    longer matches is downloaded again (and replaced only once the new copy is verified).
    """
    folder = data_dir(root) / (entry.folder or entry.name)
    paths, tier = {}, "cache"
    for remote in entry.files:
        dest = folder / remote.filename
        if not (dest.is_file() and file_checksum(dest, remote.algorithm) == remote.digest):
            download_file(entry.urls(remote), dest, remote, timeout=timeout, progress=progress)
            tier = "download"
        paths[remote.filename] = dest
    return paths, tier
