"""The data cache directory: ``$LABKIT_DATA_DIR``, else ``$XDG_CACHE_HOME/labkit``, else ``~/.cache/labkit``."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

DATA_DIR_ENV = "LABKIT_DATA_DIR"


class CacheDirError(OSError):
    """The cache directory cannot be created or written to."""


def default_data_dir() -> Path:
    """Where datasets are cached when nothing else is configured."""
    if os.environ.get(DATA_DIR_ENV, "").strip():
        return Path(os.environ[DATA_DIR_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME", "").strip() or Path.home() / ".cache"
    return Path(base) / "labkit"


def data_dir(path: str | os.PathLike | None = None) -> Path:
    """Return the cache directory (``path`` if given), created and checked to be writable."""
    root = Path(path).expanduser() if path is not None else default_data_dir()
    try:
        root.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=root):
            pass
    except OSError as err:
        raise CacheDirError(
            f"cannot use {root} as the data cache ({err.strerror or err}). Point {DATA_DIR_ENV} "
            f"at a folder you can write to, e.g. `export {DATA_DIR_ENV}=/tmp/labkit-data` or "
            f"`os.environ['{DATA_DIR_ENV}'] = '/tmp/labkit-data'` in the notebook."
        ) from err
    return root
