"""``labkit check NOTEBOOK``: what a student sees before handing a notebook in.

Runs the notebook as the student has it (nbgrader validate underneath, in the quick mode the
grader uses), then lists every exercise with its points and whether its visible self-check
passes, and says what is missing: an exercise still at ``raise NotImplementedError()``, a locked
test cell that was edited, a solution cell that breaks the tampering rule the grader enforces.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from labkit.grading.course import grading_environment, nbgrader_config
from labkit.grading.repair import grade_id, read_submission
from labkit.integrity import parse, tampering
from labkit.mode import SMOKE_CELL_TIMEOUT
from labkit.runner import environment_variables

NOT_DONE = "raise NotImplementedError"


@dataclass
class Exercise:
    """One graded test cell of the notebook and what its self-check said."""

    grade_id: str
    points: float
    passed: bool = False
    reason: str = ""


@dataclass
class CheckReport:
    """The exercises of a notebook and the problems found in its structure."""

    exercises: list[Exercise] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems and all(e.passed for e in self.exercises)


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:300] if lines else "it raised an error"


def check_notebook(path: str | os.PathLike, *, timeout: int = SMOKE_CELL_TIMEOUT) -> CheckReport:
    """Run ``path``'s visible self-checks and report every exercise and structural problem."""
    from nbgrader.validator import Validator

    path = Path(path).resolve()
    notebook = read_submission(path)
    report = CheckReport()
    tests = [cell for cell in notebook.cells if cell.metadata.get("nbgrader", {}).get("grade")]
    if not tests:
        report.problems.append("this notebook has no graded exercises (is it a lab of the course, "
                               "with its nbgrader cells intact?)")
        return report
    unfinished = set()
    for number, cell in enumerate(notebook.cells, start=1):
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type != "code" or not meta.get("solution"):
            continue
        if NOT_DONE in cell.source:
            unfinished.add(number)
        tree = parse(cell.source)
        for finding in tampering(tree, set()) if tree else ():
            report.problems.append(f"cell {number} ({grade_id(cell)}), {finding}: not allowed in a "
                                   "submission, it would score 0 on every exercise")
    validator = Validator(config=nbgrader_config(path.parent, timeout), ignore_checksums=False)
    with environment_variables(**grading_environment()):
        results = validator.validate(str(path))
    for changed in results.get("type_changed", []):
        report.problems.append(f"a cell changed type ({changed['old_type']} → {changed['new_type']}): "
                               f"`{changed['source'][:60]}`")
    for changed in results.get("changed", []):
        report.problems.append(f"a locked cell was edited: `{changed['source'].splitlines()[0][:60]}`; "
                               "copy it back from a fresh copy of the lab (the grader restores it anyway)")
    failed = {entry["source"]: entry["raw_error"] for entry in results.get("failed", [])}
    ran = not results.get("type_changed") and not results.get("changed")
    for cell in tests:
        exercise = Exercise(grade_id(cell) or "?", float(cell.metadata["nbgrader"].get("points", 0)))
        error = failed.get(cell.source.strip())
        if not ran:
            exercise.reason = "not run: fix the structure first"
        elif error is None:
            exercise.passed = True
        elif NOT_DONE in error or "NotImplementedError" in error:
            exercise.reason = "not done yet (the solution still raises NotImplementedError)"
        else:
            exercise.reason = _last_line(error)
        report.exercises.append(exercise)
    if unfinished and not any(e.reason.startswith("not done") for e in report.exercises):
        report.problems.append(f"cells {sorted(unfinished)} still contain `raise NotImplementedError`")
    return report


def describe(report: CheckReport, name: str) -> str:
    """The report as the student reads it in a terminal."""
    done = sum(e.points for e in report.exercises if e.passed)
    total = sum(e.points for e in report.exercises)
    lines = [f"{name}: {sum(e.passed for e in report.exercises)} of {len(report.exercises)} exercises pass "
             f"their self-checks ({done:g} of {total:g} points)"]
    for e in report.exercises:
        mark = "✓" if e.passed else "✗"
        lines.append(f"  {mark} {e.grade_id} ({e.points:g} point{'s' if e.points != 1 else ''})"
                     + ("" if e.passed else f": {e.reason}"))
    lines += [f"  ! {problem}" for problem in report.problems]
    if report.ok:
        lines.append("Ready to hand in. Hidden tests will add cases when it is graded.")
    return "\n".join(lines)


def check(paths: list[str | os.PathLike], *, timeout: int = SMOKE_CELL_TIMEOUT,
          echo: Callable[[str], None] = print) -> bool:
    """Check each notebook in ``paths`` and print its report; True when every one is ready."""
    ready = True
    for path in paths:
        report = check_notebook(path, timeout=timeout)
        echo(describe(report, Path(path).name))
        ready &= report.ok
    return ready
