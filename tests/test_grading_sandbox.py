"""`labkit grade` with each kernel in bubblewrap: a submission cannot read the answers or anything of
the instructor's, reach the network, or exhaust the machine; every limit it hits is noted, and the
rest of the batch is graded as if nothing happened.

One sandboxed batch of the tiny lab (two workers, small limits) and one unsandboxed batch of two of
the same submissions are graded once; each test reads their results. Skips, saying why, where
bubblewrap cannot run (not Linux, not installed, no user namespaces).
"""
from __future__ import annotations

import secrets
import socket
import threading
from dataclasses import replace
from pathlib import Path

import nbformat
import pytest

import tinylab
from conftest import REPO
from labkit.grading import grade, release
from labkit.grading.sandbox import GiB, MiB, Limits, SandboxUnavailable, command, probe, readable_paths

WORKS, DETAIL = probe()
needs_bwrap = pytest.mark.skipif(not WORKS, reason=f"no sandbox here: {DETAIL}")
LAB = tinylab.NAME
LIMITS = Limits(memory_bytes=3 * GiB, processes=64, file_bytes=1 * MiB, cpu_seconds=12, tmp_bytes=64 * MiB)
FORKS = 200                              # more than LIMITS.processes, few enough to be harmless if unbounded


def _square_then(code: str) -> str:
    """A correct square(), then ``code``: the cell's outputs show what the code did."""
    return "def square(x):\n    return x * x\n\n" + code


def _then_square(code: str) -> str:
    """``code``, then a correct square(): when ``code`` is stopped, square is never defined."""
    return code + "\n\ndef square(x):\n    return x * x\n"


def snoop_code(targets: list[Path]) -> str:
    """Look for the answers by every route a student might try, and print whatever was read."""
    return _square_then(f"""import glob, os
candidates = {[str(t) for t in targets]!r} + glob.glob("/tmp/labkit-grade-*/course/gradebook.db")
for pid in [p for p in os.listdir("/proc") if p.isdigit()] + [str(os.getppid())]:
    for name in ("notebooks/{LAB}.ipynb", "gradebook.db", "course/gradebook.db", "../course/gradebook.db"):
        candidates.append(f"/proc/{{pid}}/cwd/{{name}}")
for value in os.environ.values():
    if os.path.isdir(value):
        candidates += glob.glob(os.path.join(value, "**", "*.ipynb"), recursive=True)
here = os.getcwd()
python = (".venv", ".pyenv", "site-packages", "/lib/python3")         # the interpreter's own files
for root, dirs, files in os.walk("/"):
    dirs[:] = [d for d in dirs if not os.path.join(root, d).startswith(("/proc", "/sys", "/dev", "/usr", "/etc", here))
               and not any(part in os.path.join(root, d) for part in python)]
    candidates += [os.path.join(root, n) for n in files if n.endswith((".ipynb", ".db")) or n.startswith("canary")]
found = []
for path in candidates:
    try:
        if not os.path.realpath(path).startswith(here):      # the submission's own notebook is fine
            found.append((path, open(path, errors="replace").read()[:300]))
    except OSError as err:
        print("unreadable:", path, type(err).__name__)
print("FOUND", found)
print("ENV", dict(os.environ))""")


NETWORK = """import socket
try:
    socket.create_connection(("127.0.0.1", {port}), timeout=3).sendall(b"reached the host")
    print("CONNECTED")
except OSError as err:
    raise OSError(f"the host's server is out of reach: {{err}}") from err"""
MEMORY = "hog = bytearray(4 * 2**30)   # 4 GiB: more than the 3 GiB limit"
FORK = f"""import subprocess
children = []
try:
    for _ in range({FORKS}):
        children.append(subprocess.Popen(["sleep", "5"]))
finally:
    print("forked", len(children))"""
BIG_FILE = "open('big.bin', 'wb').write(b'0' * 2 * 2**20)   # 2 MiB: more than the 1 MiB limit"
CPU = _then_square("while True:\n    pass")


def outside_code(targets: list[Path]) -> str:
    return f"""for path in {[str(t) for t in targets]!r}:
    try:
        open(path, "w").write("written from a submission")
        print("WROTE", path)
    except OSError as err:
        print("refused:", path, err)
open("/etc/written-by-a-submission", "w").write("a read-only file system refuses this")"""


class Server:
    """A TCP server on 127.0.0.1 that records every connection it accepts."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.connections, self.stopped = 0, threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stopped.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self.stopped.set()
        self.thread.join()
        self.sock.close()


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    if not WORKS:
        pytest.skip(f"no sandbox here: {DETAIL}")
    root = tmp_path_factory.mktemp("sandbox")
    tinylab.write_source(root / "notebooks")
    edition = nbformat.read(release(root / "notebooks", root / "release", [LAB], execute=False,
                                    course=root / "hub", echo=lambda _: None)[0], as_version=4)
    token = secrets.token_hex(8)
    canaries = [REPO / f"canary-{token}.txt", Path.home() / f"canary-{token}.txt", root / "grading" / f"canary-{token}.txt"]
    secrets_read = [REPO / "notebooks" / "01_linear_regression.ipynb", root / "notebooks" / f"{LAB}.ipynb",
                    root / "grading" / "course" / "gradebook.db", *canaries]
    writes = [REPO / f"written-{token}.txt", Path.home() / f"written-{token}.txt", Path("/etc") / f"written-{token}"]
    server = Server()
    subs = {student: tinylab.answered(edition) for student in ("ada", "snoop", "limits", "cpu")}
    subs["partial"] = tinylab.answered(edition, cube="x * 3")
    subs["snoop"].cells[tinylab.SQUARE].source = snoop_code(secrets_read)
    subs["cpu"].cells[tinylab.SQUARE].source = CPU
    # one cell of its own for each limit, before correct answers: each cell fails, the answers score
    for code in reversed([NETWORK.format(port=server.port), MEMORY, FORK, BIG_FILE, outside_code(writes)]):
        subs["limits"].cells.insert(2, nbformat.v4.new_code_cell(code))
    (root / "grading").mkdir()
    for canary in canaries:
        canary.write_text(f"CANARY-{token}")
    try:
        for sandbox, folder, students in [("require", "inside", subs), ("off", "outside", ["ada", "partial"])]:
            for student in students:
                (root / folder / student).mkdir(parents=True)
                nbformat.write(subs[student], root / folder / student / f"{LAB}.ipynb")
        inside = grade(root / "inside", source=root / "notebooks", out=root / "grading", jobs=2, timeout=60,
                       progress=False, echo=lambda _: None, sandbox="require", limits=LIMITS)
        outside = grade(root / "outside", source=root / "notebooks", out=root / "unsandboxed", jobs=2, timeout=60,
                        progress=False, echo=lambda _: None, sandbox="off")
    finally:
        server.close()
        for path in canaries + writes:
            path.unlink(missing_ok=True)
    autograded = root / "grading" / "course" / "autograded"
    return {"inside": {g.student: g for g in inside}, "outside": {g.student: g for g in outside},
            "server": server, "token": token, "writes": writes,
            "outputs": {s: nbformat.read(autograded / s / LAB / f"{LAB}.ipynb", as_version=4) for s in subs}}


def _text(notebook) -> str:
    """Everything the cells printed and every error they raised (tracebacks show the source, too)."""
    return "\n".join(str(output) for cell in notebook.cells for output in cell.get("outputs", []))


def _printed(notebook) -> str:
    """What the cells printed, and nothing else."""
    return "".join(output.get("text", "") for cell in notebook.cells for output in cell.get("outputs", [])
                   if output.get("output_type") == "stream")


def _notes(grade_) -> str:
    return " | ".join(grade_.notes)


@needs_bwrap
def test_an_honest_submission_scores_the_same_inside_and_outside(graded):
    for student, points in (("ada", 3), ("partial", 1)):
        inside, outside = graded["inside"][student], graded["outside"][student]
        assert (inside.status, inside.score, inside.notes) == ("graded", points, [])
        assert (outside.status, outside.score) == ("graded", inside.score)


@needs_bwrap
def test_a_submission_reads_none_of_the_answers_the_instructors_files_or_the_gradebook(graded):
    text = _text(graded["outputs"]["snoop"])
    assert "FOUND []" in _printed(graded["outputs"]["snoop"]), text[:3000]
    assert f"CANARY-{graded['token']}" not in text and "BEGIN SOLUTION" not in text and "HIDDEN TESTS" not in text
    assert graded["inside"]["snoop"].score == 3          # it answered correctly, and only that counts


@needs_bwrap
def test_the_network_is_cut_off(graded):
    assert graded["server"].connections == 0
    assert "CONNECTED" not in _printed(graded["outputs"]["limits"])


@needs_bwrap
@pytest.mark.parametrize("cell, note", [
    ("cell 3 (`import socket`)", "tried to use the network, which is cut off while grading"),
    ("cell 4 (`hog = bytearray", "ran out of its memory limit (3.0 GiB)"),
    ("cell 5 (`import subprocess`)", f"started more processes or threads than the limit ({LIMITS.processes})"),
    ("cell 6 (`open('big.bin'", "wrote a file larger than the limit (1 MiB)"),
    ("cell 7 (`for path in", "tried to write outside its folder, which is read-only while grading"),
])
def test_each_limit_stops_its_cell_with_a_note_and_the_rest_is_graded(graded, cell, note):
    g = graded["inside"]["limits"]
    assert any(n.startswith(cell) and n.endswith(note) for n in g.notes), g.notes
    assert (g.status, g.score) == ("graded", 3)          # the answers after those cells all score


@needs_bwrap
def test_a_kernel_over_its_cpu_time_is_stopped_and_the_rest_is_graded(graded):
    g = graded["inside"]["cpu"]
    assert g.notes == [f"cell 3 (`while True:`) used up its CPU-time limit ({LIMITS.cpu_seconds} s): the kernel "
                       "was stopped and the cell scored 0"]
    assert g.score == 2                       # square was never defined; cube, after the restart, scores


@needs_bwrap
def test_a_fork_bomb_is_stopped_well_below_its_bound(graded):
    printed = _printed(graded["outputs"]["limits"])
    assert f"forked {FORKS}" not in printed and "forked" in printed


@needs_bwrap
def test_nothing_was_written_outside_the_submissions_folder(graded):
    assert not any(path.exists() for path in graded["writes"])
    printed = _printed(graded["outputs"]["limits"])
    assert "WROTE" not in printed and printed.count("refused:") == len(graded["writes"])


def test_require_refuses_to_grade_without_a_sandbox(tmp_path, monkeypatch):
    monkeypatch.setattr("labkit.grading.sandbox.probe", lambda: (False, "bubblewrap (bwrap) is not installed"))
    tinylab.write_source(tmp_path / "notebooks")
    (tmp_path / "subs" / "ada").mkdir(parents=True)
    nbformat.write(tinylab.source_lab(), tmp_path / "subs" / "ada" / f"{LAB}.ipynb")
    with pytest.raises(SandboxUnavailable, match="bubblewrap .bwrap. is not installed; install bubblewrap"):
        grade(tmp_path / "subs", source=tmp_path / "notebooks", out=tmp_path / "out", sandbox="require",
              progress=False, echo=lambda _: None)


def test_the_command_line_refuses_with_require_and_says_why(tmp_path, monkeypatch, capsys):
    from labkit.cli import main

    monkeypatch.setattr("labkit.grading.sandbox.probe", lambda: (False, "bubblewrap (bwrap) is not installed"))
    tinylab.write_source(tmp_path / "notebooks")
    (tmp_path / "subs" / "ada").mkdir(parents=True)
    nbformat.write(tinylab.source_lab(), tmp_path / "subs" / "ada" / f"{LAB}.ipynb")
    status = main(["grade", str(tmp_path / "subs"), "--notebooks", str(tmp_path / "notebooks"),
                   "--out", str(tmp_path / "out"), "--sandbox", "require", "--no-progress"])
    assert status == 2 and "--sandbox require: bubblewrap (bwrap) is not installed" in capsys.readouterr().err
    assert not (tmp_path / "out" / "grades.csv").exists()


def test_auto_says_once_that_grading_is_not_isolated(monkeypatch):
    from labkit.grading.sandbox import resolve

    monkeypatch.setattr("labkit.grading.sandbox.probe", lambda: (False, "bubblewrap needs Linux and this is Darwin"))
    said = []
    assert resolve("auto", said.append) is False
    assert len(said) == 1 and "NOT isolated" in said[0] and "Darwin" in said[0] and "bubblewrap" in said[0]
    with pytest.raises(ValueError, match="sandbox must be one of auto, require, off"):
        resolve("strict", said.append)


def test_the_sandbox_shows_neither_the_secrets_nor_the_private_folders(tmp_path):
    repo, venv, labs = tmp_path / "repo", tmp_path / "repo" / ".venv", tmp_path / "repo" / "notebooks"
    for folder in (venv, labs, tmp_path / "data"):
        folder.mkdir(parents=True)
    env = {"PYTHONPATH": f"{repo}:{labs}:{venv}", "LABKIT_DATA_DIR": f"{tmp_path / 'data'}:{tmp_path}"}
    shown = readable_paths(secret=[labs], private=[repo], env=env)
    assert str(venv) in shown and str(tmp_path / "data") in shown           # inside the repository: fine
    assert str(repo) not in shown and str(labs) not in shown and str(tmp_path) not in shown


def test_the_sources_of_editable_installs_are_readable_wherever_the_grader_was_started(tmp_path):
    from labkit.grading.sandbox import _editable_sources

    (tmp_path / "__editable___labkit_0_1_0_finder.py").write_text(
        "from __future__ import annotations\nMAPPING: dict[str, str] = {'labkit': '/src/labkit', 'tool': '/src/tool'}\n")
    (tmp_path / "__editable___other_finder.py").write_text("MAPPING = {'other': '/elsewhere/other'}\n")
    assert _editable_sources(tmp_path) == {"/src/labkit", "/src/tool", "/elsewhere/other"}


def test_the_command_line_cuts_the_network_and_drops_root(tmp_path):
    args = command(["python", "-m", "ipykernel_launcher"], cwd=str(tmp_path), sockets="/tmp/lk-x",
                   readable=["/opt/venv"], limits=replace(LIMITS, cpu_seconds=7), uid=1_000_123)
    text = " ".join(args)
    for flag in ("--unshare-net", "--unshare-pid", "--die-with-parent", "--new-session",
                 f"--bind {tmp_path} {tmp_path}", "--ro-bind /opt/venv /opt/venv", "--unsetenv JPY_PARENT_PID"):
        assert flag in text
    assert '"uid": 1000123' in text and '["RLIMIT_CPU", [7, 12]]' in text and '"RLIMIT_NPROC", [64, 64]' in text
    assert args[-3:] == ["python", "-m", "ipykernel_launcher"]
    assert "--unshare-user" in command(["k"], cwd="/w", sockets="/s", readable=[], limits=LIMITS, uid=None)


@pytest.mark.parametrize("field, value", [("memory_bytes", 0), ("processes", -1), ("cpu_seconds", 1.5),
                                          ("file_bytes", True)])
def test_limits_must_be_positive_whole_numbers(field, value):
    with pytest.raises(ValueError, match=f"Limits.{field} must be a positive whole number"):
        replace(LIMITS, **{field: value})
