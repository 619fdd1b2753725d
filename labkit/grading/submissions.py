"""The submissions folder, checked before anything runs.

Two layouts are accepted, even mixed: ``SUBMISSIONS/<student>/<lab>.ipynb`` (what an instructor
collects by hand or from an LMS) and ``SUBMISSIONS/<student>/<lab>/<lab>.ipynb`` (what
``nbgrader collect`` writes to a course's ``submitted/`` folder on a JupyterHub).
"""
from __future__ import annotations

import difflib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

STUDENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]*$")
IGNORED = {".ipynb_checkpoints", "__MACOSX", ".DS_Store"}


@dataclass(frozen=True)
class Submission:
    """One student's notebook for one lab."""

    student: str
    lab: str
    path: Path


@dataclass(frozen=True)
class Rejected:
    """A file in the submissions folder that cannot be graded, and why."""

    student: str
    lab: str
    path: Path
    reason: str


def collect(folder: str | os.PathLike, labs: Iterable[str]) -> tuple[list[Submission], list[Rejected]]:
    """Sort ``folder``'s contents into gradable submissions and rejected files (each with a reason)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"no submissions folder at {folder.resolve()}; lay submissions out as "
                                "SUBMISSIONS/<student>/<lab>.ipynb, e.g. subs/ada/01_linear_regression.ipynb")
    known = sorted(labs)
    accepted: list[Submission] = []
    rejected: list[Rejected] = []
    for entry in sorted(folder.iterdir()):
        if entry.name in IGNORED or entry.name.startswith("."):
            continue
        if not entry.is_dir():
            rejected.append(Rejected("-", entry.stem, entry, "not inside a student folder; move it to "
                                     f"{folder.name}/<student>/{entry.name}"))
            continue
        if not STUDENT_ID.match(entry.name):
            rejected.append(Rejected(entry.name, "-", entry, "student folder names may use letters, "
                                     "digits and . _ @ - only, starting with a letter or digit"))
            continue
        for path in sorted(entry.rglob("*.ipynb")):
            if any(part in IGNORED for part in path.relative_to(entry).parts):
                continue
            lab = path.stem
            if lab not in known:
                close = difflib.get_close_matches(lab, known, n=1)
                hint = f"did you mean {close[0]}.ipynb? " if close else ""
                rejected.append(Rejected(entry.name, lab, path, f"no lab named {lab}; {hint}the labs "
                                         f"are {', '.join(known)}"))
            elif path.parent != entry and path.parent != entry / lab:
                rejected.append(Rejected(entry.name, lab, path, f"put it directly in {entry.name}/, "
                                         f"not in {path.parent.relative_to(folder)}/"))
            elif any(s.student == entry.name and s.lab == lab for s in accepted):
                rejected.append(Rejected(entry.name, lab, path, f"a second copy of {lab} for "
                                         f"{entry.name}; keep one (the other one was graded)"))
            else:
                accepted.append(Submission(entry.name, lab, path))
    return accepted, rejected
