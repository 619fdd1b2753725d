"""Atomic file writes: the old file stays intact until the new one is complete."""
from __future__ import annotations

import os
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Iterator

_PROC_STATUS = "/proc/self/status"
_UMASK_LOCK = threading.Lock()


def current_umask() -> int:
    """The process's umask, read without changing it wherever the system allows."""
    # Linux (4.7 and later) reports it in /proc/self/status: reading it cannot race with anything.
    try:
        with open(_PROC_STATUS, encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    # Elsewhere the only call that reads the umask also sets it. Set the strictest one for the
    # instant before restoring it, so a file another thread creates in between is too private
    # rather than too open; the lock keeps labkit's own threads from interleaving their pairs.
    with _UMASK_LOCK:
        mask = os.umask(0o077)
        os.umask(mask)
    return mask


def _publish_mode(handle: IO, tmp: str) -> None:
    """Give the temporary file the mode a plain ``open()`` would have: 0o666 less the umask."""
    mode = 0o666 & ~current_umask()
    if hasattr(os, "fchmod"):
        os.fchmod(handle.fileno(), mode)      # by descriptor: no window where the name means another file
    else:
        os.chmod(tmp, mode)


@contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb") -> Iterator[IO]:
    """Write to a temporary file beside ``path`` and move it into place only on success.

    If the block raises (or the process dies), ``path`` keeps its previous content and the
    temporary file is removed (or, after a hard crash, left as a hidden ``.part`` file). The new
    file's permissions follow the umask, like a file made by ``open()`` (0o644 under umask 022),
    not ``mkstemp``'s private 0o600; missing parent folders are created with the default mode.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, mode) as handle:
            yield handle
            handle.flush()
            _publish_mode(handle, tmp)
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
