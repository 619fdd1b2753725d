"""Where a lab writes its files (checkpoints, exports, frames): one folder per lab, never notebooks/.

``labkit.output_dir("05_gan")`` is ``$LABKIT_OUTPUT_DIR/05_gan``; ``labkit run``, ``make lab``,
the tests and the grader point LABKIT_OUTPUT_DIR into ``build/`` (or a private folder), so
executing a lab never writes beside the notebooks that nbval and papermill run. Without the
variable it is ``labkit-outputs/05_gan`` in the current folder.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

OUTPUT_ENV = "LABKIT_OUTPUT_DIR"
DEFAULT_FOLDER = "labkit-outputs"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def output_dir(name: str) -> Path:
    """The folder for files the lab (or run) ``name`` writes, created if needed."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(f"output_dir needs a plain folder name such as '05_gan' (letters, digits, _ . -), "
                         f"got {name!r}")
    base = os.environ.get(OUTPUT_ENV, "").strip()
    folder = (Path(base).expanduser() if base else Path.cwd() / DEFAULT_FOLDER) / name
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise OSError(f"cannot create the output folder {folder} ({err.strerror or err}); point "
                      f"{OUTPUT_ENV} at a folder you can write to") from err
    return folder
