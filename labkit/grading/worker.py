"""Grade one submission in a private, throw-away course directory (run as its own process).

``python -m labkit.grading.worker JOB.json``. The job names the template gradebook (the lab's
cells, checksums and points, and no other student's data), the repaired notebook, the per-cell
timeout, the instructor's and student's editions and reference answers (for the grader's own
verdict, labkit.grading.verdict, applied after nbgrader's) and where to write the result. Because every submission gets its own process, gradebook
and working directory, parallel grading never shares a SQLite file and one student's code can only
touch its own scratch folder by relative paths. The parent merges the result into the course.
"""
from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import nbformat

from labkit.files import atomic_write
from labkit.grading.course import check, nbgrader_api
from labkit.grading.execute import STOPPED
from labkit.grading.gradebook import quiet
from labkit.grading.sandbox import Limits, limit_note
from labkit.grading.verdict import apply, verdicts

# Error names the executor leaves on cells that did not finish, and how the report words them.
INCOMPLETE = {"CellTimeoutError": "timed out", "KernelDied": "crashed the kernel",
              "KernelHung": "hung past the time limit"}


def scores(db_url: str, lab: str, student: str) -> dict[str, list[float]]:
    """grade_id -> [score, max_score] for the student's submission in the gradebook at ``db_url``."""
    from nbgrader.api import Gradebook

    with Gradebook(db_url) as gradebook:
        notebook = gradebook.find_submission_notebook(lab, lab, student)
        return {g.name: [float(g.score), float(g.max_score)] for g in notebook.grades}


def _what_stopped(output: dict, limits: Limits | None) -> str | None:
    """How the report words an error output that means a cell did not finish or hit a sandbox limit."""
    ename, evalue = output.get("ename", ""), output.get("evalue", "")
    if ename in INCOMPLETE:
        return f"{INCOMPLETE[ename]} and scored 0"
    if ename == "LimitReached":              # the executor's words: "This cell <cause>: the kernel was stopped. ..."
        return evalue.removeprefix("This cell ").partition(STOPPED)[0] + STOPPED + " and the cell scored 0"
    return limit_note(ename, evalue, limits) if limits is not None else None


def incomplete_cells(autograded: Path, limits: Limits | None = None) -> list[str]:
    """Notes for cells that timed out, crashed, hung or (sandboxed, with ``limits``) hit a limit,
    numbered as students see them (from 1)."""
    notebook = nbformat.read(autograded, as_version=4)
    notes = []
    for number, cell in enumerate(notebook.cells, start=1):
        for output in cell.get("outputs", []):
            what = _what_stopped(output, limits) if output.get("output_type") == "error" else None
            if what:
                first = cell.source.strip().splitlines()[0][:60] if cell.source.strip() else ""
                notes.append(f"cell {number} (`{first}`) {what}")
                break
    return notes


def run(job: dict) -> dict:
    """Autograde and generate feedback for ``job``; returns the result the parent merges."""
    lab, student = job["lab"], job["student"]
    root = Path(job["workdir"]) / "course"
    (root / "submitted" / student / lab).mkdir(parents=True)
    shutil.copyfile(job["gradebook"], root / "gradebook.db")
    shutil.copyfile(job["notebook"], root / "submitted" / student / lab / f"{lab}.ipynb")
    sandbox = job.get("sandbox")
    api = nbgrader_api(root, job["timeout"], sandbox)
    check(api.autograde(lab, student, force=True, create=True), f"autograde {student}/{lab}")
    autograded = root / "autograded" / student / lab / f"{lab}.ipynb"
    gradebook = f"sqlite:///{root / 'gradebook.db'}"
    verdict = verdicts(nbformat.read(autograded, as_version=4), nbformat.read(job["source"], as_version=4),
                       nbformat.read(job["release"], as_version=4), json.loads(Path(job["answers"]).read_text())["answers"])
    limits = Limits(**sandbox["limits"]) if sandbox else None
    notes = incomplete_cells(autograded, limits) + apply(verdict, gradebook, lab, student, autograded)
    check(api.generate_feedback(lab, student, force=True), f"write feedback for {student}/{lab}")
    return {"scores": scores(gradebook, lab, student),
            "notes": notes,
            "autograded": str(autograded.parent),
            "feedback": str(root / "feedback" / student / lab / f"{lab}.html"),
            "gradebook": gradebook}


def main(argv: list[str]) -> int:
    job = json.loads(Path(argv[0]).read_text())
    try:
        with quiet():
            result = {"ok": True, **run(job)}
    except Exception as err:  # reported to the instructor, never fatal for the batch
        result = {"ok": False, "error": f"{type(err).__name__}: {err}"}
    with atomic_write(job["result"], "w") as handle:
        json.dump(result, handle)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
