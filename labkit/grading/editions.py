"""``labkit release``: the student edition of every lab, proven blank before anyone receives it.

nbgrader generate_assignment strips solutions and hidden tests. Before the editions are written to
``release/``, three checks run on each lab and any failure stops the release:

1. the source notebook passes ``nbgrader validate`` (the instructor's solutions pass every test);
2. the student edition contains no solution code, no hidden-test text and no nbgrader markers;
3. every autograded test cell fails on the student edition (``nbgrader validate --invert``), so
   no exercise awards points for doing nothing.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Callable, Sequence

import nbformat

from labkit.files import atomic_write
from labkit.grading.course import (GradingError, build_course, find_labs,
                                   grading_environment, nbgrader_config)
from labkit.grading.repair import grade_id
from labkit.mode import SMOKE_CELL_TIMEOUT
from labkit.runner import environment_variables

# The instructor's nbgrader course for a hub's exchange: solutions, hidden tests and the gradebook.
DEFAULT_COURSE = "grading/hub"
MARKERS = ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS")
REGION = re.compile(r"^[ \t]*#*[ \t]*BEGIN (SOLUTION|HIDDEN TESTS)[^\n]*\n(.*?)^[ \t]*#*[ \t]*END \1",
                    re.S | re.M)


class ReleaseError(GradingError):
    """A student edition failed a check; the message lists every problem, lab by lab."""


def hidden_lines(source: str) -> set[str]:
    """Lines inside solution or hidden-test regions that appear nowhere else in the cell."""
    inside = {line.strip() for match in REGION.finditer(source) for line in match.group(2).splitlines()}
    outside = {line.strip() for line in REGION.sub("", source).splitlines()}
    return {line for line in inside - outside if any(ch.isalnum() for ch in line)}


def leaks(source: nbformat.NotebookNode, student: nbformat.NotebookNode) -> list[str]:
    """What the student edition gives away: nbgrader markers, or lines of solutions/hidden tests."""
    problems = []
    released = {grade_id(cell): cell.source for cell in student.cells if grade_id(cell)}
    for number, cell in enumerate(student.cells, start=1):
        for marker in MARKERS:
            if marker in cell.source:
                problems.append(f"cell {number} still contains `{marker}`")
    for cell in source.cells:
        gid = grade_id(cell)
        shown = {line.strip() for line in released.get(gid, "").splitlines()}
        for line in sorted(hidden_lines(cell.source) & shown):
            problems.append(f"cell `{gid}` gives away `{line[:60]}`")
    return problems


def validate(path: Path, *, invert: bool, timeout: int) -> list[str]:
    """Run nbgrader validate on ``path``: test cells that fail (or, with ``invert``, that pass)."""
    from nbgrader.validator import Validator

    validator = Validator(config=nbgrader_config(path.parent, timeout), invert=invert,
                          ignore_checksums=not invert)
    with environment_variables(**grading_environment()):
        results = validator.validate(str(path))
    def first(cell: dict) -> str:
        return cell["source"].strip().splitlines()[0][:60] if cell["source"].strip() else ""

    problems = [f"test cell `{first(c)}` passes on the blank edition" for c in results.get("passed", [])]
    problems += [f"test cell `{first(c)}` fails on the instructor's solution: "
                 f"{c['raw_error'].strip().splitlines()[-1][:200] if c['raw_error'].strip() else ''}"
                 for c in results.get("failed", [])]
    problems += [f"cell `{first(c)}` changed type" for c in results.get("type_changed", [])]
    problems += [f"locked cell `{first(c)}` differs from its checksum" for c in results.get("changed", [])]
    return problems


def release(source: str | os.PathLike = "notebooks", out: str | os.PathLike = "release",
            labs: Sequence[str] = (), *, course: str | os.PathLike = DEFAULT_COURSE,
            timeout: int = SMOKE_CELL_TIMEOUT, execute: bool = True,
            echo: Callable[[str], None] = print) -> list[Path]:
    """Build, check and write the student edition of each lab to ``out/<lab>.ipynb``.

    ``out`` receives the student editions and nothing else: it is the folder to share. ``course``
    (outside ``out``) keeps the nbgrader course directory with every solution and hidden test,
    for ``nbgrader release_assignment`` on a JupyterHub. ``execute=False`` skips the two checks
    that run the notebooks. Raises ReleaseError, writing no edition at all, if any check fails.
    """
    found = find_labs(source, labs)
    out, course_root = Path(out).resolve(), Path(course).resolve()
    if course_root == out or out in course_root.parents:
        raise ValueError(f"the course directory {course_root} holds the solutions and hidden tests; it must "
                         f"not be inside {out}, the folder of student editions you share")
    echo(f"building student editions of {len(found)} lab(s) with nbgrader generate_assignment")
    course = build_course(found, course_root, timeout)
    editions, problems = {}, []
    for lab, notebook in found.items():
        edition = course / "release" / lab / f"{lab}.ipynb"
        lab_problems = leaks(nbformat.read(notebook, as_version=4), nbformat.read(edition, as_version=4))
        if execute:
            echo(f"{lab}: checking that the solutions pass and the blank edition fails every test")
            lab_problems += validate(course / "source" / lab / f"{lab}.ipynb", invert=False, timeout=timeout)
            lab_problems += validate(edition, invert=True, timeout=timeout)
        problems += [f"{lab}: {problem}" for problem in lab_problems]
        editions[lab] = edition
    if problems:
        raise ReleaseError("the student editions failed their checks; nothing was written to "
                           f"{out}:\n  " + "\n  ".join(problems))
    written = []
    for lab, edition in editions.items():
        target = out / f"{lab}.ipynb"
        with atomic_write(target) as handle:
            handle.write(edition.read_bytes())
        written.append(target)
    echo(f"released {len(written)} lab(s) to {out}: no solutions, no hidden tests, every test fails blank")
    return written
