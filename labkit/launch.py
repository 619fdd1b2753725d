"""Where students launch the labs: the repository URL in one place, and what is built from it.

Every lab notebook starts with the same two things, written from here: a line of badges (Open in
Colab, Launch Binder) under the title in its first cell, and the setup cell. ``python -m labkit.launch
--fix notebooks`` adds or updates both in every lab; the test suite fails for a lab without them.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Sequence

REPOSITORY = "labkit-course/labkit"      # GitHub owner/name: the one place to change it
BRANCH = "main"
INSTALL = f"labkit @ git+https://github.com/{REPOSITORY}"
COLAB_BADGE = "https://colab.research.google.com/assets/colab-badge.svg"
BINDER_BADGE = "https://mybinder.org/badge_logo.svg"

# The first code cell of every lab. On Colab it installs labkit and pins torch to the version
# Colab already has, so pip can never swap Colab's CUDA build for another one; elsewhere labkit
# is already installed. Then it prints the one-line banner (device, precision, torch).
SETUP_CELL = f"""\
import sys
if "google.colab" in sys.modules:  # Colab only: install labkit, keeping Colab's own torch
    from importlib.metadata import version
    %pip install -q "{INSTALL}" "torch=={{version('torch')}}"
import labkit
labkit.banner()"""


def colab_url(notebook: str) -> str:
    """Open ``notebooks/<notebook>`` in Colab, straight from GitHub."""
    return f"https://colab.research.google.com/github/{REPOSITORY}/blob/{BRANCH}/notebooks/{notebook}"


def binder_url(notebook: str | None = None) -> str:
    """Launch Binder with JupyterLab on ``notebooks/`` (or on one notebook in it)."""
    return f"https://mybinder.org/v2/gh/{REPOSITORY}/{BRANCH}?urlpath=lab/tree/notebooks/{notebook or ''}"


def badges(notebook: str | None = None) -> str:
    """Markdown for the two badges; ``notebook=None`` gives the README's (Colab opens lab 00)."""
    return (f"[![Open in Colab]({COLAB_BADGE})]({colab_url(notebook or '00_setup.ipynb')}) "
            f"[![Launch Binder]({BINDER_BADGE})]({binder_url(notebook)})")


def _source(cell: dict) -> str:
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def problems(path: Path) -> list[str]:
    """What a lab notebook lacks: its badge line under the title, and the exact setup cell."""
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    found = []
    title = _source(cells[0]).splitlines() if cells and cells[0]["cell_type"] == "markdown" else []
    if len(title) < 3 or not title[0].startswith("# ") or title[1:3] != ["", badges(path.name)]:
        found.append(f"{path.name}: the first cell is not its title followed by its badges")
    first_code = next((c for c in cells if c["cell_type"] == "code"), None)
    if first_code is None or _source(first_code) != SETUP_CELL:
        found.append(f"{path.name}: the first code cell is not the standard setup cell")
    return found


def fix(path: Path) -> None:
    """Add or update the badge line and the setup cell of the lab notebook at ``path``."""
    notebook = json.loads(path.read_text(encoding="utf-8"))
    cells = notebook["cells"]
    if not cells or cells[0]["cell_type"] != "markdown" or not _source(cells[0]).startswith("# "):
        raise ValueError(f"{path.name}: the first cell must be markdown starting with the title ('# ...')")
    title, *rest = _source(cells[0]).splitlines()
    while rest and (not rest[0].strip() or rest[0].startswith("[![Open in Colab]")):
        rest = rest[1:]
    cells[0]["source"] = "\n".join([title, "", badges(path.name), ""] + rest)
    setup = next(c for c in cells if c["cell_type"] == "code")
    setup["source"] = SETUP_CELL
    for cell in cells:       # the repository stores sources as lists of lines
        if isinstance(cell["source"], str):
            cell["source"] = cell["source"].splitlines(keepends=True)
    path.write_text(json.dumps(notebook, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m labkit.launch", description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="?", default="notebooks", help="folder of labs (default: notebooks)")
    parser.add_argument("--fix", action="store_true", help="write the badges and setup cell into every lab")
    args = parser.parse_args(argv)
    from labkit.runner import discover

    labs = discover(args.notebooks)
    if args.fix:
        for path in labs:
            fix(path)
    found = [p for path in labs for p in problems(path)]
    print("\n".join(found) if found else f"{len(labs)} labs have their badges and setup cell")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
