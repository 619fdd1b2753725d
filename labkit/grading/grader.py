"""``labkit grade``: autograde ``SUBMISSIONS/<student>/<lab>.ipynb`` into grades.csv and feedback.

Every submission is read and repaired here, then graded by its own worker process (see worker.py)
in smoke mode with a per-cell time limit; the results are merged one by one into the course
gradebook at ``OUT/course`` (a normal nbgrader course directory, so ``nbgrader formgrader`` works
on it). Nothing a student submits can stop the others from being graded.

Ctrl-C stops a batch at once: no further submission starts, the running workers are killed, the
submissions graded so far are saved as a finished batch would save them, and ``grade`` raises
:class:`GradingInterrupted` (a KeyboardInterrupt) naming the submissions that were not graded.
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
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable, Iterator, Sequence

import nbformat

from labkit.files import atomic_write
from labkit.grading.course import build_course, find_labs, grading_environment
from labkit.grading.gradebook import make_template, merge_submission
from labkit.grading.repair import MalformedSubmission, read_submission, repair
from labkit.grading.sandbox import Limits, default_limits, readable_paths, resolve
from labkit.grading.submissions import Rejected, Submission, collect
from labkit.grading.verdict import answers_cache, reference_answers
from labkit.mode import SMOKE_CELL_TIMEOUT

CSV_COLUMNS = ["student", "lab", "score", "max_score", "status", "notes"]
# A submission ready for a worker: the repaired copy, the repair notes and its hard time limit (s).
Ready = tuple[Submission, Path, list[str], int]
NOT_STARTED = "grading was interrupted before this submission started"
# What `nbgrader submit` writes beside a notebook and `nbgrader collect` keeps: `nbgrader
# release_feedback` needs both beside the feedback to name it for that submission alone.
EXCHANGE_FILES = ("timestamp.txt", "submission_secret.txt")


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


class GradingInterrupted(KeyboardInterrupt):
    """Grading was stopped part-way (Ctrl-C). The rows of what was graded have been saved.

    ``grades``: the rows of this batch that were saved (none if it stopped before saving);
    ``not_graded``: the submissions that got no row, so an earlier batch's row for them is kept.
    """

    def __init__(self, grades: Sequence[Grade], not_graded: Sequence[Submission], saved_to: Path | None):
        self.grades, self.not_graded, self.saved_to = list(grades), list(not_graded), saved_to
        super().__init__(str(self))

    def __str__(self) -> str:
        names = [f"{s.student}/{s.lab}" for s in self.not_graded]
        listed = ", ".join(names[:10]) + (f" and {len(names) - 10} more" if len(names) > 10 else "")
        saved = (f"The {len(self.grades)} finished row(s) of this batch are saved in {self.saved_to}"
                 if self.saved_to else "Nothing was saved")
        return (f"grading was interrupted; {len(names)} submission(s) were not graded"
                + (f": {listed}" if names else "") + " (their earlier rows, if any, are kept). "
                f"{saved}. Run labkit grade again to grade the rest (rows are replaced, not duplicated).")


def lab_points(notebook: nbformat.NotebookNode) -> float:
    """Total points of the autograded test cells in a lab notebook."""
    return float(sum(cell.metadata.get("nbgrader", {}).get("points", 0) for cell in notebook.cells
                     if cell.metadata.get("nbgrader", {}).get("grade")))


def grade(submissions: str | os.PathLike, *, source: str | os.PathLike = "notebooks",
          out: str | os.PathLike = "grading", jobs: int = 1, timeout: int = SMOKE_CELL_TIMEOUT,
          progress: bool = True, echo: Callable[[str], None] = print, sandbox: str = "auto",
          limits: Limits | None = None) -> list[Grade]:
    """Grade every submission in ``submissions`` against the labs in ``source``.

    Writes ``out/grades.csv`` (one row per student and lab, kept across runs and replaced on
    re-grading), ``out/feedback/<student>/<lab>.html`` and the nbgrader course in ``out/course``,
    then returns the grades of this batch. ``jobs`` submissions are graded at a time.

    ``sandbox``: "auto" runs each kernel in bubblewrap where it works and says once, clearly, where
    it does not; "require" raises SandboxUnavailable instead; "off" never sandboxes.
    ``limits``: what a sandboxed kernel may use (default: :func:`labkit.grading.sandbox.default_limits`,
    with the CPU time of a submission's whole-notebook time limit).

    Ctrl-C (KeyboardInterrupt) while the workers run kills them, saves the rows of the submissions
    already graded and raises :class:`GradingInterrupted`, which names those that were not.
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
    isolation = None
    if accepted and resolve(sandbox, echo):
        isolation = {"secret": [str(Path(p).resolve()) for p in (source, out, submissions)],
                     "private": [str(p) for p in (Path.home(), Path.cwd(), Path(tempfile.gettempdir()))],
                     "limits": limits or default_limits(jobs), "custom": limits is not None}
    try:
        grades, ready, points = _prepare(accepted, rejected, labs, course, timeout, jobs, echo)
    except KeyboardInterrupt:
        raise GradingInterrupted([], accepted, None) from None
    batch = _Batch()
    try:
        if ready:
            _grade_in_workers(ready, course, out, points, jobs, timeout, progress, batch, isolation)
    except KeyboardInterrupt:
        batch.stop()
    finally:
        batch.remove_folders()
    grades = sorted(grades + batch.grades, key=lambda g: (g.student, g.lab))
    with interrupts_ignored():        # a second Ctrl-C must not leave the two files disagreeing
        _write_grades(out, grades)
    echo(summary(grades))
    echo(f"grades: {out / 'grades.csv'}   feedback: {out / 'feedback'}   gradebook: {course / 'gradebook.db'}")
    if batch.stopped:
        done = {(g.student, g.lab) for g in batch.grades}
        not_graded = [sub for sub, *_ in ready if (sub.student, sub.lab) not in done]
        raise GradingInterrupted(grades, not_graded, out / "grades.csv")
    return grades


def _prepare(accepted: list[Submission], rejected: list[Rejected], labs: dict[str, Path], course: Path,
             timeout: int, jobs: int, echo: Callable[[str], None]) -> tuple[list[Grade], list[Ready], dict[str, float]]:
    """Build the course for the labs submitted, then read and repair every submission.

    Returns the grades already known (rejected and malformed files), the submissions ready for a
    worker as (submission, repaired copy, repair notes, hard time limit), and each lab's points.
    """
    needed = sorted({s.lab for s in accepted})
    if needed:
        echo(f"preparing {len(needed)} lab(s) for grading: {', '.join(needed)}")
        build_course({lab: labs[lab] for lab in needed}, course, timeout)
        _all_reference_answers(needed, course, timeout, jobs, echo)
    release = {lab: nbformat.read(course / "release" / lab / f"{lab}.ipynb", as_version=4) for lab in needed}
    sources = {lab: nbformat.read(course / "source" / lab / f"{lab}.ipynb", as_version=4) for lab in needed}
    points = {lab: lab_points(nb) for lab, nb in release.items()}

    grades = [Grade(r.student, r.lab, 0.0, points.get(r.lab), "rejected", [r.reason]) for r in rejected]
    ready: list[Ready] = []
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
        _carry_exchange_files(sub.path.parent if sub.path.parent.name == sub.lab else None, copy.parent)
        code_cells = sum(cell.cell_type == "code" for cell in repaired.notebook.cells)
        limit = timeout * (code_cells + 2) + 120      # the whole notebook, if every cell hit the limit
        ready.append((sub, copy, repaired.notes, limit))
    return grades, ready, points


def _all_reference_answers(labs: list[str], course: Path, timeout: int, jobs: int,
                           echo: Callable[[str], None]) -> None:
    """Each lab's reference answers (cached in the course), computed ``jobs`` labs at a time."""
    echo(f"reference answers from the instructor's solutions: {', '.join(labs)}")
    todo = [(course / "source" / lab / f"{lab}.ipynb", answers_cache(course, lab), timeout) for lab in labs]
    workers = min(jobs, len(todo))
    if workers <= 1:
        for args in todo:
            reference_answers(*args)
        return
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for future in [pool.submit(reference_answers, *args) for args in todo]:
            future.result()                  # NoReferenceAnswers is raised here as it was there


@contextmanager
def interrupts_ignored() -> Iterator[None]:
    """Ignore Ctrl-C for the duration of the block (in the main thread, where Python handles it)."""
    previous = signal.getsignal(signal.SIGINT)
    if threading.current_thread() is not threading.main_thread() or previous is None:
        yield                          # None: a handler not set from Python, which could not be restored
        return
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def kill_worker(process: subprocess.Popen) -> None:
    """Kill a grading worker now, with the notebook kernels it started; the caller reaps it.

    The worker leads a process group of its own and Jupyter gives each kernel another, so every
    group in the tree gets SIGKILL (the tree is listed with psutil where it is installed; a kernel
    not listed stops itself within a second of its worker's death, as ipykernel watches its parent).
    Where there are no process groups (Windows), the worker itself is killed.
    """
    if process.returncode is not None:            # already reaped: its pid may be reused by now
        return
    if not hasattr(os, "killpg"):
        process.kill()
        return
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGSTOP)     # frozen, it cannot start another kernel meanwhile
    for group in {process.pid} | _descendant_groups(process.pid):
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(group, signal.SIGKILL)


def _descendant_groups(pid: int) -> set[int]:
    """The process groups of the processes below ``pid``, other than our own (empty without psutil)."""
    try:
        import psutil
    except ImportError:
        return set()
    groups = set()
    try:
        children = psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return set()
    for child in children:
        with suppress(OSError):
            groups.add(os.getpgid(child.pid))
    return groups - {os.getpgrp()}


class _Batch:
    """The workers, private folders and finished grades of one batch, so that Ctrl-C can stop it.

    Once ``stop()`` has been called no folder is made and no worker starts, and those running are killed.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: set[subprocess.Popen] = set()
        self.folders: list[Path] = []
        self.grades: list[Grade] = []
        self.stopped = False

    def folder(self, student: str) -> Path | None:
        """A new private working folder for ``student``'s worker (None once stopped)."""
        with self._lock:
            if self.stopped:
                return None
            # A folder of its own per submission, not a shared parent: ../ leads nowhere useful.
            folder = Path(tempfile.mkdtemp(prefix=f"labkit-grade-{student}-"))
            self.folders.append(folder)
            return folder

    def start(self, command: list[str], **options) -> subprocess.Popen | None:
        """``subprocess.Popen(command, **options)``, remembered until ``finished`` (None once stopped)."""
        with self._lock:
            if self.stopped:
                return None
            process = subprocess.Popen(command, **options)
            self._running.add(process)
            return process

    def finished(self, process: subprocess.Popen) -> None:
        """Forget ``process``: its worker has exited and been reaped."""
        with self._lock:
            self._running.discard(process)

    def stop(self) -> None:
        """Start nothing more and kill the workers still running (Ctrl-C is ignored meanwhile)."""
        with interrupts_ignored(), self._lock:
            self.stopped = True
            for process in self._running:
                kill_worker(process)

    def remove_folders(self) -> None:
        """Remove every working folder made for this batch (those already removed are skipped)."""
        for folder in self.folders:
            shutil.rmtree(folder, ignore_errors=True)


def _grade_in_workers(ready: list[Ready], course: Path, out: Path, points: dict[str, float], jobs: int,
                      timeout: int, progress: bool, batch: _Batch, isolation: dict | None = None) -> None:
    """Grade the ``ready`` submissions ``jobs`` at a time, adding each grade to ``batch.grades``.

    ``isolation`` (hidden paths, limits) sandboxes every kernel. On KeyboardInterrupt the batch is
    stopped (its workers killed) before the interrupt goes on.
    """
    from labkit.data.cache import data_dir_environment
    from labkit.progress import progress_bar

    threads = max(1, (os.cpu_count() or 1) // jobs)
    with tempfile.TemporaryDirectory(prefix="labkit-grade-") as scratch:
        template = make_template(course / "gradebook.db", Path(scratch) / "template.db")
        env = {**os.environ, **grading_environment(threads), **data_dir_environment()}
        readable = readable_paths(isolation["secret"], isolation["private"], env) if isolation else []

        def sandbox_for(limit: float) -> dict | None:
            if isolation is None:
                return None
            limits = isolation["limits"]
            if not isolation["custom"]:        # CPU: the whole notebook's time limit, on every thread
                limits = replace(limits, cpu_seconds=int(limit * threads))
            return {"readable": readable, "limits": asdict(limits)}

        with ThreadPoolExecutor(jobs) as pool:
            bar = progress_bar(total=len(ready), desc="grading", unit="notebook", disable=not progress)
            try:
                futures = {pool.submit(run_worker, sub, copy, template, timeout, limit, env, batch,
                                       sandbox_for(limit)): (sub, notes) for sub, copy, notes, limit in ready}
                for future in as_completed(futures):
                    sub, notes = futures[future]
                    batch.grades.append(_graded(future.result, sub, notes, course, out, points[sub.lab]))
                    bar.set_postfix_str(f"{sub.student}/{sub.lab}")
                    bar.update()
            except KeyboardInterrupt:
                batch.stop()
                pool.shutdown(wait=True, cancel_futures=True)
                raise
            finally:
                bar.close()


def _graded(result: Callable[[], dict], sub: Submission, notes: list[str], course: Path, out: Path,
            max_score: float) -> Grade:
    """The Grade of a finished worker (``result`` gives its result or raises); removes its folder."""
    workdir = None
    try:
        outcome = result()
        workdir = outcome.get("workdir")
        return _collect(outcome, sub, notes, course, out, max_score)
    except Exception as err:  # one bad result must not lose the others
        return Grade(sub.student, sub.lab, 0.0, max_score, "failed", notes + [f"{type(err).__name__}: {err}"])
    finally:
        if workdir:
            shutil.rmtree(workdir, ignore_errors=True)


def run_worker(sub: Submission, notebook: Path, template: Path, timeout: int, limit: float,
               env: dict[str, str], batch: _Batch, sandbox: dict | None = None) -> dict:
    """Grade one submission in a child process with its own HOME, TMPDIR and working directory.

    ``timeout`` is the per-cell limit; the process is killed after ``limit`` seconds in all.
    ``sandbox`` (readable folders, limits) runs its kernels in bubblewrap. The result names the
    private working folder (``workdir``), which the caller removes.
    """
    start = time.perf_counter()
    workdir = batch.folder(sub.student)
    if workdir is None:
        return {"ok": False, "error": NOT_STARTED, "seconds": 0.0}
    result = _run_worker(sub, notebook, workdir, template, timeout, limit, env, batch, sandbox)
    return {**result, "workdir": str(workdir), "seconds": time.perf_counter() - start}


def _run_worker(sub: Submission, notebook: Path, workdir: Path, template: Path, timeout: int,
                limit: float, env: dict[str, str], batch: _Batch, sandbox: dict | None) -> dict:
    for folder in ("home", "tmp"):
        (workdir / folder).mkdir(parents=True)
    course = notebook.parents[3]                 # course/submitted/<student>/<lab>/<lab>.ipynb
    job = {"lab": sub.lab, "student": sub.student, "notebook": str(notebook), "gradebook": str(template),
           "source": str(course / "source" / sub.lab / f"{sub.lab}.ipynb"),
           "release": str(course / "release" / sub.lab / f"{sub.lab}.ipynb"),
           "answers": str(answers_cache(course, sub.lab)),
           "workdir": str(workdir), "timeout": timeout, "result": str(workdir / "result.json"),
           "sandbox": sandbox}
    (workdir / "job.json").write_text(json.dumps(job))
    env = {**env, "HOME": str(workdir / "home"), "TMPDIR": str(workdir / "tmp")}
    with open(workdir / "worker.log", "wb") as log:
        # A session of its own: the terminal's Ctrl-C reaches the grader only, which stops the batch.
        process = batch.start([sys.executable, "-m", "labkit.grading.worker", str(workdir / "job.json")],
                              cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT,
                              start_new_session=True)
        if process is None:
            return {"ok": False, "error": NOT_STARTED}
        try:
            process.wait(timeout=limit)
        except subprocess.TimeoutExpired:
            kill_worker(process)
            process.wait()
            return {"ok": False, "error": f"grading took longer than {limit} s and was stopped"}
        finally:
            batch.finished(process)
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
    _carry_exchange_files(course / "submitted" / sub.student / sub.lab, course / "feedback" / sub.student / sub.lab)
    score = sum(s for s, _ in result["scores"].values())
    return Grade(sub.student, sub.lab, score, max_score, "graded", notes + result["notes"],
                 result["seconds"])


def _carry_exchange_files(source: Path | None, target: Path) -> None:
    """Copy nbgrader's exchange files (EXCHANGE_FILES) from ``source`` to ``target``, or remove them.

    A submission from ``nbgrader collect`` (``<student>/<lab>/<lab>.ipynb``) brings them; without
    them (``source`` None, or a hand-filed submission) any stale copy from an earlier batch goes.
    """
    for name in EXCHANGE_FILES:
        found = source / name if source is not None else None
        if found is not None and found.is_file():
            with atomic_write(target / name) as handle:
                handle.write(found.read_bytes())
        else:
            (target / name).unlink(missing_ok=True)


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
