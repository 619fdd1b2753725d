"""``labkit grade``: autograde ``SUBMISSIONS/<student>/<lab>.ipynb`` into grades.csv and feedback.

Every submission is read and repaired here, then graded by its own worker process (see worker.py)
in smoke mode with a per-cell time limit; the results are merged one by one into the course
gradebook at ``OUT/course`` (a normal nbgrader course directory, so ``nbgrader formgrader`` works
on it). Nothing a student submits can stop the others from being graded.
"""
from __future__ import annotations

import csv
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import nbformat

from labkit.files import atomic_write
from labkit.grading.course import build_course, find_labs, grading_environment
from labkit.grading.gradebook import make_template, merge_submission
from labkit.grading.repair import MalformedSubmission, read_submission, repair
from labkit.grading.submissions import Submission, collect
from labkit.mode import SMOKE_CELL_TIMEOUT

CSV_COLUMNS = ["student", "lab", "score", "max_score", "status", "notes"]


@dataclass
class Grade:
    """One student's result for one lab. ``status``: graded | malformed | rejected | failed."""

    student: str
    lab: str
    score: float
    max_score: float | None
    status: str
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0          # time its worker took (0 when it never ran)


def lab_points(notebook: nbformat.NotebookNode) -> float:
    """Total points of the autograded test cells in a lab notebook."""
    return float(sum(cell.metadata.get("nbgrader", {}).get("points", 0) for cell in notebook.cells
                     if cell.metadata.get("nbgrader", {}).get("grade")))


def grade(submissions: str | os.PathLike, *, source: str | os.PathLike = "notebooks",
          out: str | os.PathLike = "grading", jobs: int = 1, timeout: int = SMOKE_CELL_TIMEOUT,
          progress: bool = True, echo: Callable[[str], None] = print) -> list[Grade]:
    """Grade every submission in ``submissions`` against the labs in ``source``.

    Writes ``out/grades.csv`` (one row per student and lab, kept across runs and replaced on
    re-grading), ``out/feedback/<student>/<lab>.html`` and the nbgrader course in ``out/course``,
    then returns the grades of this batch. ``jobs`` submissions are graded at a time.
    """
    if jobs < 1:
        raise ValueError(f"jobs must be at least 1, got {jobs}")
    if timeout < 1:
        raise ValueError(f"timeout is seconds per cell and must be at least 1, got {timeout}")
    out = Path(out).resolve()
    course = out / "course"
    if course / "submitted" == Path(submissions).resolve():
        raise ValueError(f"{submissions} is the course's own submitted/ folder, where repaired copies "
                         "are written; grade into another folder with --out")
    labs = find_labs(source)
    accepted, rejected = collect(submissions, labs)
    needed = sorted({s.lab for s in accepted})
    if needed:
        echo(f"preparing {len(needed)} lab(s) for grading: {', '.join(needed)}")
        build_course({lab: labs[lab] for lab in needed}, course, timeout)
    release = {lab: nbformat.read(course / "release" / lab / f"{lab}.ipynb", as_version=4) for lab in needed}
    sources = {lab: nbformat.read(course / "source" / lab / f"{lab}.ipynb", as_version=4) for lab in needed}
    points = {lab: lab_points(nb) for lab, nb in release.items()}

    grades = [Grade(r.student, r.lab, 0.0, points.get(r.lab), "rejected", [r.reason]) for r in rejected]
    ready: list[tuple[Submission, Path, list[str], int]] = []
    for sub in accepted:
        try:
            notebook = read_submission(sub.path)
        except MalformedSubmission as err:
            grades.append(Grade(sub.student, sub.lab, 0.0, points[sub.lab], "malformed", [str(err)]))
            continue
        repaired = repair(notebook, release[sub.lab], sources[sub.lab])
        copy = course / "submitted" / sub.student / sub.lab / f"{sub.lab}.ipynb"
        with atomic_write(copy, "w") as handle:
            nbformat.write(repaired.notebook, handle)
        code_cells = sum(cell.cell_type == "code" for cell in repaired.notebook.cells)
        limit = timeout * (code_cells + 2) + 120      # the whole notebook, if every cell hit the limit
        ready.append((sub, copy, repaired.notes, limit))

    if ready:
        grades += _grade_in_workers(ready, course, out, points, jobs, timeout, progress)
    grades.sort(key=lambda g: (g.student, g.lab))
    _write_grades(out, grades)
    echo(summary(grades))
    echo(f"grades: {out / 'grades.csv'}   feedback: {out / 'feedback'}   gradebook: {course / 'gradebook.db'}")
    return grades


def _grade_in_workers(ready, course: Path, out: Path, points: dict[str, float], jobs: int,
                      timeout: int, progress: bool) -> list[Grade]:
    from labkit.data.cache import data_dir
    from labkit.progress import progress_bar

    threads = max(1, (os.cpu_count() or 1) // jobs)
    grades = []
    with tempfile.TemporaryDirectory(prefix="labkit-grade-") as scratch:
        scratch = Path(scratch)
        template = make_template(course / "gradebook.db", scratch / "template.db")
        env = {**os.environ, **grading_environment(threads), "LABKIT_DATA_DIR": str(data_dir())}
        with ThreadPoolExecutor(jobs) as pool:
            futures = {}
            for sub, copy, notes, limit in ready:
                # A folder of its own per submission, not a shared parent: ../ leads nowhere useful.
                workdir = Path(tempfile.mkdtemp(prefix=f"labkit-grade-{sub.student}-"))
                job = pool.submit(run_worker, sub, copy, workdir, template, timeout, limit, env)
                futures[job] = (sub, notes, workdir)
            bar = progress_bar(total=len(futures), desc="grading", unit="notebook", disable=not progress)
            for future in as_completed(futures):
                sub, notes, workdir = futures[future]
                try:
                    grades.append(_collect(future.result(), sub, notes, course, out, points[sub.lab]))
                except Exception as err:  # one bad result must not lose the others
                    grades.append(Grade(sub.student, sub.lab, 0.0, points[sub.lab], "failed",
                                        notes + [f"{type(err).__name__}: {err}"]))
                finally:
                    shutil.rmtree(workdir, ignore_errors=True)
                bar.set_postfix_str(f"{sub.student}/{sub.lab}")
                bar.update()
            bar.close()
    return grades


def run_worker(sub: Submission, notebook: Path, workdir: Path, template: Path, timeout: int,
               limit: float, env: dict[str, str]) -> dict:
    """Grade one submission in a child process with its own HOME, TMPDIR and working directory.

    ``timeout`` is the per-cell limit; the process is killed after ``limit`` seconds in all.
    """
    start = time.perf_counter()
    result = _run_worker(sub, notebook, workdir, template, timeout, limit, env)
    return {**result, "seconds": time.perf_counter() - start}


def _run_worker(sub: Submission, notebook: Path, workdir: Path, template: Path, timeout: int,
                limit: float, env: dict[str, str]) -> dict:
    for folder in ("home", "tmp"):
        (workdir / folder).mkdir(parents=True)
    job = {"lab": sub.lab, "student": sub.student, "notebook": str(notebook), "gradebook": str(template),
           "workdir": str(workdir), "timeout": timeout, "result": str(workdir / "result.json")}
    (workdir / "job.json").write_text(json.dumps(job))
    env = {**env, "HOME": str(workdir / "home"), "TMPDIR": str(workdir / "tmp")}
    with open(workdir / "worker.log", "wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "labkit.grading.worker", str(workdir / "job.json")],
                                   cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
        try:
            process.wait(timeout=limit)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            return {"ok": False, "error": f"grading took longer than {limit} s and was stopped"}
    result = workdir / "result.json"
    if not result.exists():
        tail = (workdir / "worker.log").read_text(errors="replace").strip().splitlines()[-5:]
        return {"ok": False, "error": f"the grading process exited with code {process.returncode}: "
                                      + " | ".join(tail)}
    return json.loads(result.read_text())


def _collect(result: dict, sub: Submission, notes: list[str], course: Path, out: Path,
             max_score: float) -> Grade:
    """Merge a worker's result into the course and return the student's Grade."""
    if not result["ok"]:
        return Grade(sub.student, sub.lab, 0.0, max_score, "failed", notes + [result["error"]],
                     result["seconds"])
    merge_submission(course / "gradebook.db", result["gradebook"], sub.lab, sub.student)
    _replace_tree(Path(result["autograded"]), course / "autograded" / sub.student / sub.lab)
    feedback = Path(result["feedback"])
    for target in (course / "feedback" / sub.student / sub.lab / feedback.name,
                   out / "feedback" / sub.student / feedback.name):
        with atomic_write(target) as handle:
            handle.write(feedback.read_bytes())
    score = sum(s for s, _ in result["scores"].values())
    return Grade(sub.student, sub.lab, score, max_score, "graded", notes + result["notes"],
                 result["seconds"])


def _replace_tree(new: Path, target: Path) -> None:
    """Put a copy of ``new`` at ``target``; the old ``target`` is removed only once the copy exists."""
    staging = target.with_name(f".{target.name}.new")
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(new, staging)
    old = target.with_name(f".{target.name}.old")
    if target.exists():
        target.rename(old)
    staging.rename(target)
    shutil.rmtree(old, ignore_errors=True)


def _write_grades(out: Path, grades: list[Grade]) -> None:
    """Update out/results.json and rewrite out/grades.csv: this batch replaces its own rows."""
    state_path = out / "results.json"
    state = {}
    if state_path.exists():
        state = {(r["student"], r["lab"]): r for r in json.loads(state_path.read_text())}
    for g in grades:
        state[(g.student, g.lab)] = asdict(g)
    rows = [state[key] for key in sorted(state)]
    with atomic_write(state_path, "w") as handle:
        json.dump(rows, handle, indent=1)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS)
    writer.writeheader()
    for row in rows:
        writer.writerow({key: row[key] for key in CSV_COLUMNS} | {"notes": "; ".join(row["notes"]),
                         "max_score": "" if row["max_score"] is None else row["max_score"]})
    with atomic_write(out / "grades.csv", "w") as handle:
        handle.write(buffer.getvalue())


def summary(grades: list[Grade]) -> str:
    """A plain-text table: one row per student, one column per lab, then every note."""
    labs = sorted({g.lab for g in grades})
    students = sorted({g.student for g in grades})
    cell = {(g.student, g.lab): g for g in grades}

    def show(g: Grade | None) -> str:
        if g is None:
            return "-"
        if g.status in ("graded", "failed") and g.max_score is not None:
            text = f"{g.score:g}/{g.max_score:g}"
            return text + ("*" if g.notes else "")
        return g.status

    header = ["student"] + labs
    rows = [[s] + [show(cell.get((s, lab))) for lab in labs] for s in students]
    widths = [max(len(r[i]) for r in [header] + rows) for i in range(len(header))]
    lines = ["  ".join(text.ljust(w) for text, w in zip(r, widths)) for r in [header] + rows]
    notes = [f"  {g.student}/{g.lab}: {note}" for g in grades for note in g.notes]
    if notes:
        lines += ["", "* notes:"] + notes
    return "\n".join(lines)
