"""`labkit grade` on a batch where students do everything wrong: every submission still gets an
exact, explained score, the others are unaffected, and re-grading changes nothing.

One batch of the tiny lab is graded once (two workers, 15 s per cell) and each test reads its result.
"""
from __future__ import annotations

import csv
import hashlib
import shutil

import nbformat
import pytest

import tinylab
from labkit.grading import grade, release
from labkit.grading.gradebook import db_url

TIMEOUT = 15
LAB = tinylab.NAME
SNOOP = """def square(x):
    return x * x
import os, pathlib
print("cwd", os.getcwd())
print("home", os.path.expanduser("~"))
for path in ("../../../../escape.txt", "~/home.txt"):
    try:
        pathlib.Path(path).expanduser().write_text("outside?")
    except OSError as err:      # in the sandbox, everything above the notebook's folder is read-only
        print("refused", path, err)"""


def fingerprint(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def submissions(release_nb) -> dict[str, nbformat.NotebookNode | str]:
    """student -> what they hand in (a notebook, or raw text for a broken file)."""
    def answered(**kw):
        return tinylab.answered(release_nb, **kw)

    subs = {"ada": answered(), "partial": answered(cube="x * 3"), "blank": nbformat.from_dict(release_nb)}
    subs["loop"] = answered()
    subs["loop"].cells[tinylab.SQUARE].source = "def square(x):\n    while True:\n        pass"
    subs["stubborn"] = answered()
    subs["stubborn"].cells[tinylab.SQUARE].source = (
        "import time\n\ndef square(x):\n    while True:\n        try:\n            time.sleep(0.05)\n"
        "        except KeyboardInterrupt:\n            pass")
    subs["crash"] = answered()
    subs["crash"].cells[tinylab.SQUARE].source = "import os\nos.kill(os.getpid(), 9)"   # the kernel dies
    # Wrong answers behind an edited test (square) and a deleted one (cube): both tests come back.
    subs["tamper"] = answered(square="0", cube="0")
    subs["tamper"].cells[tinylab.TEST_SQUARE].source = "pass  # all good"
    del subs["tamper"].cells[tinylab.TEST_CUBE]
    # A renamed solution cell (square, correct) and a deleted one (cube).
    subs["renamed"] = answered()
    subs["renamed"].cells[tinylab.SQUARE].metadata.nbgrader.grade_id = "my_square"
    del subs["renamed"].cells[tinylab.CUBE]
    subs["snoop"] = answered()
    subs["snoop"].cells[tinylab.SQUARE].source = SNOOP
    subs["garbled"] = '{"cells": [{"cell_type": "code", "source": "print(1)"'
    return subs


def write_batch(folder, subs):
    for student, content in subs.items():
        (folder / student).mkdir(parents=True, exist_ok=True)
        target = folder / student / f"{LAB}.ipynb"
        if isinstance(content, str):
            target.write_text(content)
        else:
            nbformat.write(content, target)


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("faults")
    source = root / "notebooks"
    tinylab.write_source(source)
    before = fingerprint(source)
    released = release(source, root / "release", course=root / "course", timeout=TIMEOUT, echo=lambda _: None)
    release_nb = nbformat.read(released[0], as_version=4)
    subs = root / "submissions"
    write_batch(subs, submissions(release_nb))
    (subs / "lost").mkdir()
    nbformat.write(release_nb, subs / "lost" / "99_nope.ipynb")
    results = grade(subs, source=source, out=root / "grading", jobs=2, timeout=TIMEOUT,
                    progress=False, echo=lambda _: None)
    return {"root": root, "grades": {(g.student, g.lab): g for g in results}, "before": before,
            "source": source, "subs": subs, "out": root / "grading", "release_nb": release_nb}


def scored(graded, student, lab=LAB):
    g = graded["grades"][(student, lab)]
    return g.score, g.status


@pytest.mark.parametrize("student, score", [("ada", 3), ("partial", 1), ("blank", 0)])
def test_round_trip_scores_are_exact(graded, student, score):
    g = graded["grades"][(student, LAB)]
    assert (g.score, g.max_score, g.status, g.notes) == (score, 3, "graded", [])


def test_infinite_loop_times_out_and_the_rest_is_graded(graded):
    assert scored(graded, "loop") == (2, "graded")
    assert graded["grades"][("loop", LAB)].notes == ["cell 4 (`checks.close(square(3), 9, 'square(3)')`) "
                                                      "timed out and scored 0"]


def test_loop_that_ignores_the_interrupt_gets_a_fresh_kernel(graded):
    assert scored(graded, "stubborn") == (2, "graded")
    assert "hung past the time limit" in graded["grades"][("stubborn", LAB)].notes[0]


def test_kernel_crash_scores_zero_for_that_part_only(graded):
    assert scored(graded, "crash") == (2, "graded")
    assert graded["grades"][("crash", LAB)].notes == ["cell 3 (`import os`) crashed the kernel and scored 0"]


def test_edited_and_deleted_test_cells_are_restored(graded):
    tamper = graded["grades"][("tamper", LAB)]
    assert (tamper.score, tamper.status) == (0, "graded")     # the restored tests catch both answers
    assert "locked cell `test_square` had been edited" in tamper.notes[0]
    assert tamper.notes[1] == "test cell `test_cube` was missing; the release copy was put back"


def test_renamed_and_deleted_solutions(graded):
    renamed = graded["grades"][("renamed", LAB)]
    assert (renamed.score, renamed.status) == (1, "graded")   # square kept its code; cube came back blank
    assert "`square` had its grade_id changed to `my_square`" in renamed.notes[0]
    assert "solution cell `cube` was missing" in renamed.notes[1]


def test_malformed_and_unknown_submissions_are_reported(graded):
    garbled = graded["grades"][("garbled", LAB)]
    assert (garbled.score, garbled.status) == (0, "malformed") and "notebook" in garbled.notes[0]
    lost = graded["grades"][("lost", "99_nope")]
    assert (lost.status, lost.max_score) == ("rejected", None) and "no lab named 99_nope" in lost.notes[0]


def test_each_submission_runs_in_its_own_temporary_folder(graded):
    assert scored(graded, "snoop") == (3, "graded")
    executed = graded["out"] / "course" / "autograded" / "snoop" / LAB / f"{LAB}.ipynb"
    printed = "".join(o.get("text", "") for o in nbformat.read(executed, 4).cells[tinylab.SQUARE].outputs)
    cwd = printed.split("cwd ")[1].split()[0]
    home = printed.split("home ")[1].split()[0]
    # a private HOME: in the folder graded in, or (in the sandbox) a private one in memory
    assert "labkit-grade-snoop-" in cwd and (home.startswith(cwd.split("/course/")[0]) or home == "/tmp/home")
    root = graded["root"]
    assert not list(root.rglob("escape.txt")) and not list(root.rglob("home.txt"))
    assert not any(root.parent.glob("labkit-grade-*"))             # private folders are removed


def test_instructor_files_are_untouched(graded):
    assert fingerprint(graded["source"]) == graded["before"]


def test_outputs_agree_with_the_gradebook(graded):
    from nbgrader.api import Gradebook

    out = graded["out"]
    rows = list(csv.DictReader((out / "grades.csv").open()))
    assert len(rows) == len(graded["grades"]) == len({(r["student"], r["lab"]) for r in rows})
    with Gradebook(db_url(out / "course" / "gradebook.db")) as gradebook:
        for row in rows:
            if row["status"] == "graded":
                assert gradebook.find_submission(LAB, row["student"]).score == float(row["score"])
                assert (out / "feedback" / row["student"] / f"{LAB}.html").stat().st_size > 0


def test_regrading_replaces_rows_without_duplicates(graded, tmp_path):
    from nbgrader.api import Gradebook

    out = graded["out"]
    before = (out / "grades.csv").read_text()
    again = tmp_path / "again"
    for student in ("ada", "tamper"):
        shutil.copytree(graded["subs"] / student, again / student)
    regraded = grade(again, source=graded["source"], out=out, jobs=2, timeout=TIMEOUT, progress=False,
                     echo=lambda _: None)
    assert [(g.student, g.score) for g in regraded] == [("ada", 3), ("tamper", 0)]
    assert (out / "grades.csv").read_text() == before
    with Gradebook(db_url(out / "course" / "gradebook.db")) as gradebook:
        assert len(gradebook.assignment_submissions(LAB)) == sum(
            1 for g in graded["grades"].values() if g.status == "graded")
