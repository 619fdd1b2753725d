"""Where datasets live: a search path of caches, the first writable one taking new files.

Datasets are looked up (and verified) in each folder of ``$LABKIT_DATA_DIR`` -- one folder, or
several separated by ``os.pathsep`` like ``PATH`` -- and then in the per-user cache,
``$XDG_CACHE_HOME/labkit``, else ``~/.cache/labkit``. A folder only read from may be read-only
(a class volume an instructor filled once); new downloads and derived files go to the first
folder that can be written to.
"""
from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

DATA_DIR_ENV = "LABKIT_DATA_DIR"
EXAMPLE_DIR = "/tmp/labkit-data"


class CacheDirError(OSError):
    """No data cache can be created or written to."""


@dataclass(frozen=True)
class CacheDir:
    """One folder of the search path. ``problem`` says why it cannot be written ("" if it can or was not probed)."""

    path: Path
    kind: str                   # "shared" (from $LABKIT_DATA_DIR), "user" (per-user cache), "given" (root=)
    problem: str = ""

    @property
    def writable(self) -> bool:
        return not self.problem

    @property
    def name(self) -> str:
        """How messages call it: "the shared cache" or "the cache"."""
        return "the shared cache" if self.kind == "shared" else "the cache"


def user_cache_dir() -> Path:
    """The per-user cache: ``$XDG_CACHE_HOME/labkit``, else ``~/.cache/labkit``."""
    base = os.environ.get("XDG_CACHE_HOME", "").strip() or Path.home() / ".cache"
    return Path(base).expanduser() / "labkit"


def search_path(root: str | os.PathLike | None = None) -> list[CacheDir]:
    """The caches in lookup order, without touching the disk. ``root`` given: that folder only."""
    if root is not None:
        return [CacheDir(Path(root).expanduser(), "given")]
    value = os.environ.get(DATA_DIR_ENV, "")
    dirs = [CacheDir(Path(part.strip()).expanduser(), "shared") for part in value.split(os.pathsep) if part.strip()]
    dirs.append(CacheDir(user_cache_dir(), "user"))
    unique: dict[str, CacheDir] = {}
    for cache in dirs:
        unique.setdefault(os.path.abspath(cache.path), cache)
    return list(unique.values())


def default_data_dir() -> Path:
    """The first folder datasets are looked up in (``$LABKIT_DATA_DIR``'s first, else the per-user cache)."""
    return search_path()[0].path


def write_problem(path: Path) -> str:
    """Why ``path`` cannot hold new files ("" if it can): creates the folder and a throwaway file."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as err:
        return err.strerror or str(err)
    return ""


def data_dirs(root: str | os.PathLike | None = None) -> list[CacheDir]:
    """The search path with each folder probed for writability (creating the writable ones)."""
    return [replace(cache, problem=write_problem(cache.path)) for cache in search_path(root)]


def writable_dir(root: str | os.PathLike | None = None,
                 prefer: CacheDir | None = None) -> tuple[CacheDir, list[CacheDir]]:
    """The first writable cache (``prefer`` first if given) and the caches passed over as unwritable.

    Folders after the chosen one are not probed. Raises :class:`CacheDirError` if none is writable.
    """
    order = search_path(root)
    if prefer is not None:
        order = [prefer] + [cache for cache in order if cache.path != prefer.path]
    passed_over = []
    for cache in order:
        problem = write_problem(cache.path)
        if not problem:
            return cache, passed_over
        passed_over.append(replace(cache, problem=problem))
    raise CacheDirError(_nothing_writable(passed_over))


def _nothing_writable(caches: list[CacheDir]) -> str:
    if len(caches) == 1:
        what = f"cannot use {caches[0].path} as the data cache ({caches[0].problem})."
    else:
        what = ("cannot use any data cache: "
                + "; ".join(f"{cache.path} ({cache.problem})" for cache in caches) + ".")
    shared = [str(cache.path) for cache in caches if cache.kind == "shared"]
    value = os.pathsep.join(shared + [EXAMPLE_DIR]) if shared else EXAMPLE_DIR
    keep = " (this keeps reading the datasets already in the shared cache)" if shared else ""
    return (f"{what} Point {DATA_DIR_ENV} at a folder you can write to, e.g. "
            f"`export {DATA_DIR_ENV}={value}` or `os.environ['{DATA_DIR_ENV}'] = '{value}'` "
            f"in the notebook{keep}.")


def data_dir(path: str | os.PathLike | None = None) -> Path:
    """The writable cache, where new downloads go (``path`` if given), created if needed.

    Raises :class:`CacheDirError`, saying how to fix it, if no folder of the search path is writable.
    """
    return writable_dir(path)[0].path


def describe_data_dirs(root: str | os.PathLike | None = None) -> str:
    """One line for ``labkit doctor``: where datasets are read from and where downloads go."""
    dirs = data_dirs(root)
    reads = ", then ".join(f"{cache.path}" + ("" if cache.writable else f" (read-only: {cache.problem})")
                           for cache in dirs)
    target = next((cache for cache in dirs if cache.writable), None)
    if target is None:
        return f"reads {reads}; NOT WRITABLE: {_nothing_writable(dirs)}"
    if len(dirs) == 1:
        return str(target.path)
    return f"reads {reads}; downloads go to {target.path}"


def data_dir_environment() -> dict[str, str]:
    """``LABKIT_DATA_DIR`` for a child process with another HOME: it searches the same caches as this one."""
    return {DATA_DIR_ENV: os.pathsep.join(str(cache.path) for cache in search_path())}
