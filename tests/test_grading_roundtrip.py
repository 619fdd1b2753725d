"""The real labs through nbgrader, end to end: `release` makes blank editions, and `grade` gives the
instructor's solutions full marks, the blank editions zero, and a half-done lab exactly its points.

The blank editions and the half-done lab are whole labs, executed to their end. The instructor's
solutions are graded on each lab's exercise-only cut (every exercise and test cell, and the cells
they depend on): the whole source notebook already runs twice in the suite, under papermill
(tests/test_notebooks.py) and nbval, so a third whole run would test nothing new.

`make release` additionally runs `nbgrader validate` on every source and `--invert` on every
edition (about 2.5 minutes here); grading the same notebooks below checks the same two facts
through autograde, hidden tests included, so the suite does not run them twice.
"""
from __future__ import annotations

import json
import shutil

import nbformat
import pytest

from conftest import REPO, instructor_solutions
from labkit.grading import grade, release
from labkit.grading.course import find_labs
from labkit.grading.cut import exercise_cut
from labkit.grading.editions import REGION, hidden_lines
from labkit.grading.grader import lab_points

LABS = {lab: path for lab, path in find_labs(REPO / "notebooks").items()
        if lab_points(nbformat.read(path, as_version=4)) > 0}
PARTIAL_LAB, PARTIAL_BLANK = "01_linear_regression", "ex2_ridge_fit"


def nbgrader_meta(cell) -> dict:
    return cell.metadata.get("nbgrader", {})


def half_done(source: nbformat.NotebookNode, edition: nbformat.NotebookNode, blank_id: str):
    """The student edition with every solution written in, except ``blank_id``'s; and its points."""
    solutions = instructor_solutions(source)
    notebook = nbformat.from_dict(edition)
    lost, blank_seen = 0.0, False
    for cell in notebook.cells:
        meta = nbgrader_meta(cell)
        if meta.get("solution"):
            blank_seen = meta["grade_id"] == blank_id
            if not blank_seen:
                cell.source = solutions[meta["grade_id"]]
        elif meta.get("grade") and blank_seen:
            lost += meta["points"]           # the tests that follow the blank solution
    return notebook, lab_points(edition) - lost


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    root = tmp_path_factory.mktemp("roundtrip")
    editions = {p.stem: p for p in release(REPO / "notebooks", root / "release", list(LABS), execute=False,
                                           course=root / "hub", echo=lambda _: None)}
    subs = root / "submissions"
    for folder in ("solutions", "blank", "half"):
        (subs / folder).mkdir(parents=True)
    for lab, source in LABS.items():
        nbformat.write(exercise_cut(nbformat.read(source, as_version=4)), subs / "solutions" / f"{lab}.ipynb")
        shutil.copyfile(editions[lab], subs / "blank" / f"{lab}.ipynb")
    partial, expected = half_done(nbformat.read(LABS[PARTIAL_LAB], as_version=4),
                                  nbformat.read(editions[PARTIAL_LAB], as_version=4), PARTIAL_BLANK)
    nbformat.write(partial, subs / "half" / f"{PARTIAL_LAB}.ipynb")
    grades = grade(subs, source=REPO / "notebooks", out=root / "grading", jobs=2, progress=False,
                   echo=lambda _: None)
    return {"grades": {(g.student, g.lab): g for g in grades}, "editions": editions, "expected": expected,
            "out": root / "grading"}


def test_editions_hold_no_solutions(batch):
    for lab, edition in batch["editions"].items():
        text = edition.read_text()
        assert "BEGIN SOLUTION" not in text and "HIDDEN TESTS" not in text
        assert text.count("raise NotImplementedError()") >= 1, lab


def test_release_folder_holds_only_what_students_may_see(batch):
    """No file under release/ holds a line of a solution or hidden test (the course lives elsewhere)."""
    release_dir = batch["editions"][next(iter(batch["editions"]))].parent
    files = [p for p in release_dir.rglob("*") if p.is_file()]
    assert sorted(p.name for p in files) == sorted(f"{lab}.ipynb" for lab in LABS)
    for lab, source in LABS.items():
        cells = nbformat.read(source, as_version=4).cells
        shown = "\n".join(REGION.sub("", cell.source) for cell in cells)    # code and text outside the regions
        secret = {line for cell in cells for line in hidden_lines(cell.source)   # lines nothing visible contains
                  if len(line) >= 20 and line not in shown}
        assert len(secret) >= 5, lab
        edition = nbformat.read(release_dir / f"{lab}.ipynb", as_version=4)
        text = "\n".join(cell.source for cell in edition.cells) + json.dumps(edition.metadata)
        leaked = [line for line in secret if line in text]
        assert not leaked, f"{lab} gives away {leaked[:3]}"


@pytest.mark.parametrize("lab", LABS)
def test_instructor_solutions_get_full_marks(batch, lab):
    g = batch["grades"][("solutions", lab)]
    assert (g.status, g.score, g.max_score) == ("graded", lab_points(nbformat.read(LABS[lab], 4)), g.score)
    assert g.max_score >= (1 if lab == "00_setup" else 6)   # lab 00: one practice point


@pytest.mark.parametrize("lab", LABS)
def test_blank_edition_scores_zero_and_still_runs_to_the_end(batch, lab):
    g = batch["grades"][("blank", lab)]
    assert (g.status, g.score, g.notes) == ("graded", 0, [])
    executed = nbformat.read(batch["out"] / "course" / "autograded" / "blank" / lab / f"{lab}.ipynb", 4)
    crashed = [i for i, cell in enumerate(executed.cells)
               if cell.cell_type == "code" and not nbgrader_meta(cell)
               and any(o.output_type == "error" for o in cell.outputs)]
    assert crashed == [], f"{lab}: cells outside the exercises fail when an exercise is skipped: {crashed}"


def test_half_done_lab_gets_exactly_its_points(batch):
    g = batch["grades"][("half", PARTIAL_LAB)]
    assert 0 < batch["expected"] < g.max_score
    assert (g.status, g.score) == ("graded", batch["expected"])


def test_feedback_written_for_every_graded_notebook(batch):
    for (student, lab), g in batch["grades"].items():
        html = (batch["out"] / "feedback" / student / f"{lab}.html").read_text()
        assert f"{g.score:g}" in html and lab in html
    rows = json.loads((batch["out"] / "results.json").read_text())
    assert len(rows) == len(batch["grades"]) == 2 * len(LABS) + 1
