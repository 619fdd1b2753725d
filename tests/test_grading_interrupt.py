"""Ctrl-C during `labkit grade`: the batch stops at once, its processes are killed, what was graded
is saved and nothing else is touched.

The real command runs in a subprocess with one job on the tiny lab: ada's quick submission is
graded, then bo's loops forever (a 600 s cell limit), and the test sends SIGINT while it runs.
"""
from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

import tinylab
from labkit.grading.grader import Grade, _write_grades
from labkit.grading.sandbox import probe

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGINT") or os.name != "posix",
                                reason="sends SIGINT to a subprocess (POSIX only)")

LAB = tinylab.NAME
# bo's first code cell: say (in its own folder, the one place a sandboxed kernel can write) that it
# runs, then never finish.
LOOP = """import pathlib
pathlib.Path("ready.part").write_text("looping")
pathlib.Path("ready.part").replace("ready")
while True:
    pass"""
EARLIER = Grade("bo", LAB, 1.0, 3.0, "graded", ["from an earlier batch"])


def write_submissions(folder: Path) -> None:
    """ada: a correct answer; bo: a first cell that loops forever once it has written ``ready``."""
    lab = tinylab.source_lab()            # the instructor's copy needs no repair (see test_grading_units)
    for student in ("ada", "bo"):
        notebook = tinylab.answered(lab)
        if student == "bo":                # in place of the imports: the loop starts sooner
            notebook.cells[1].source = LOOP
        (folder / student).mkdir(parents=True)
        nbformat.write(notebook, folder / student / f"{LAB}.ipynb")


def wait_for(condition, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"gave up after {seconds} s waiting for {what}"
        time.sleep(0.1)


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


@pytest.mark.parametrize("sandbox", ["off", pytest.param("require", marks=pytest.mark.skipif(
    not probe()[0], reason=f"no sandbox here: {probe()[1]}"))])
def test_ctrl_c_stops_grading_kills_the_workers_and_keeps_what_was_graded(tmp_path, sandbox):
    psutil = pytest.importorskip("psutil", reason="finds every process the grader started")
    source, subs, out, scratch = (tmp_path / name for name in ("notebooks", "subs", "grading", "tmp"))
    tinylab.write_source(source)
    write_submissions(subs)
    scratch.mkdir()
    _write_grades(out, [EARLIER])                       # bo's row from a batch graded before
    command = [sys.executable, "-m", "labkit.cli", "grade", str(subs), "--notebooks", str(source),
               "--out", str(out), "--jobs", "1", "--timeout", "600", "--no-progress", "--sandbox", sandbox]
    grader = subprocess.Popen(command, env={**os.environ, "TMPDIR": str(scratch)},
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: any(scratch.glob(f"labkit-grade-bo-*/course/autograded/bo/{LAB}/ready"))
                 or grader.poll() is not None, 240, "bo's kernel to start")
        assert grader.poll() is None, f"labkit grade ended early:\n{grader.communicate()}"
        started = [p.pid for p in psutil.Process(grader.pid).children(recursive=True)]   # worker, kernel (bwrap)
        assert len(started) >= 2
        grader.send_signal(signal.SIGINT)
        start = time.monotonic()
        stdout, stderr = grader.communicate(timeout=10)
        elapsed = time.monotonic() - start
    finally:
        if grader.poll() is None:
            grader.kill()
            grader.communicate()
    assert grader.returncode == 130 and elapsed < 10, (grader.returncode, elapsed, stderr)
    assert "Traceback" not in stderr
    assert "grading was interrupted" in stderr and f"not graded: bo/{LAB}" in stderr

    wait_for(lambda: all(gone(pid) for pid in started), 5, f"every process the grader started ({started}) to exit")

    rows = {(r["student"], r["lab"]): r for r in csv.DictReader((out / "grades.csv").open())}
    assert set(rows) == {("ada", LAB), ("bo", LAB)}
    assert (rows[("ada", LAB)]["score"], rows[("ada", LAB)]["status"]) == ("3.0", "graded")
    assert rows[("bo", LAB)]["notes"] == "from an earlier batch"        # not overwritten
    saved = {(r["student"], r["lab"]): r for r in json.loads((out / "results.json").read_text())}
    assert saved[("bo", LAB)]["notes"] == EARLIER.notes and saved[("ada", LAB)]["score"] == 3.0
    assert "ada" in stdout and (out / "feedback" / "ada" / f"{LAB}.html").exists()
    assert not list(scratch.glob("labkit-grade-*"))


def test_ctrl_c_before_any_worker_started_saves_nothing(tmp_path, monkeypatch):
    import labkit.grading.grader as grader

    source, subs = tinylab.write_source(tmp_path / "notebooks").parent, tmp_path / "subs"
    (subs / "ada").mkdir(parents=True)
    nbformat.write(tinylab.answered(tinylab.source_lab()), subs / "ada" / f"{LAB}.ipynb")

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(grader, "build_course", interrupted)
    with pytest.raises(grader.GradingInterrupted) as caught:
        grader.grade(subs, source=source, out=tmp_path / "grading", progress=False, echo=lambda _: None)
    assert [(s.student, s.lab) for s in caught.value.not_graded] == [("ada", LAB)]
    assert "not graded: ada/90_tiny" in str(caught.value) and "Nothing was saved" in str(caught.value)
    assert not (tmp_path / "grading" / "grades.csv").exists()


# --- the kill used on Ctrl-C and at the hard time limit ---------------------------------------

SPAWNER = """import subprocess, sys, time
kernel = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"], start_new_session=True)
print(kernel.pid, flush=True)
time.sleep(120)"""


def test_kill_worker_kills_its_group_and_the_sessions_it_started():
    """Like a worker and its kernel: each leads a session of its own."""
    pytest.importorskip("psutil", reason="without psutil only the worker's own group is killed "
                                         "(a real kernel then stops itself when its worker dies)")
    from labkit.grading.grader import kill_worker

    worker = subprocess.Popen([sys.executable, "-c", SPAWNER], stdout=subprocess.PIPE, text=True,
                              start_new_session=True)
    kernel = int(worker.stdout.readline())
    try:
        kill_worker(worker)
        assert worker.wait(timeout=5) == -signal.SIGKILL
        wait_for(lambda: gone(kernel), 5, f"the worker's child {kernel} to be killed")
    finally:
        worker.stdout.close()
        if not gone(kernel):
            os.kill(kernel, signal.SIGKILL)


def test_kill_worker_without_process_groups_kills_the_child(monkeypatch):
    from labkit.grading.grader import kill_worker

    class Child:
        pid, returncode, killed = 12345, None, False

        def kill(self) -> None:
            self.killed = True

    monkeypatch.delattr(os, "killpg")              # as on Windows
    child = Child()
    kill_worker(child)
    assert child.killed
