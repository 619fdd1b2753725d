"""Grading pieces that need no kernel: the submissions layout, repairs, leak checks, grades.csv."""
from __future__ import annotations

import json

import nbformat
import pytest

import tinylab
from labkit.grading.course import build_course
from labkit.grading.editions import hidden_lines, leaks
from labkit.grading.grader import Grade, _write_grades, lab_points, summary
from labkit.grading.repair import MalformedSubmission, read_submission, repair
from labkit.grading.submissions import collect


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """The tiny lab's nbgrader course: (root, source notebook, student edition)."""
    folder = tmp_path_factory.mktemp("tiny")
    source = tinylab.write_source(folder / "notebooks")
    root = build_course({tinylab.NAME: source}, folder / "course")
    release = nbformat.read(root / "release" / tinylab.NAME / f"{tinylab.NAME}.ipynb", as_version=4)
    return root, nbformat.read(source, as_version=4), release


def ids(notebook):
    return [c.metadata.get("nbgrader", {}).get("grade_id") for c in notebook.cells]


# --- the student edition nbgrader makes, and the leak check -----------------------------------

def test_release_is_blank_and_leak_check_passes(course):
    _, source, release = course
    text = json.dumps(release)
    assert "x ** 3" not in text and "square(-2)" not in text and "BEGIN" not in text
    assert "raise NotImplementedError()" in release.cells[tinylab.CUBE].source
    assert leaks(source, release) == []
    assert lab_points(release) == sum(tinylab.POINTS.values())


def test_leak_check_finds_solution_and_hidden_test_lines(course):
    _, source, release = course
    leaky = nbformat.from_dict(release)
    leaky.cells[tinylab.CUBE].source = "def cube(x):\n    return x ** 3"
    leaky.cells[tinylab.TEST_SQUARE].source += "\nchecks.close(square(-2), 4, 'square(-2)')"
    leaky.cells[1].source += "\n### BEGIN SOLUTION"
    problems = leaks(source, leaky)
    assert any("`cube` gives away `return x ** 3`" in p for p in problems)
    assert any("`test_square` gives away `checks.close(square(-2)" in p for p in problems)
    assert any("cell 2 still contains `BEGIN SOLUTION`" in p for p in problems)


def test_hidden_lines_ignore_lines_also_outside_the_region():
    cell = "x = 1\n### BEGIN SOLUTION\nx = 1\ny = 2\n### END SOLUTION\n"
    assert hidden_lines(cell) == {"y = 2"}


# --- repairs ---------------------------------------------------------------------------------

def test_untouched_submission_needs_no_repair(course):
    _, source, release = course
    assert repair(tinylab.answered(release), release, source).notes == []
    assert repair(source, release, source).notes == []         # hidden tests are not an edit


def test_edited_test_cell_is_restored(course):
    _, source, release = course
    nb = tinylab.answered(release)
    nb.cells[tinylab.TEST_SQUARE].source = "pass  # trust me"
    fixed = repair(nb, release, source)
    assert fixed.notebook.cells[tinylab.TEST_SQUARE].source == release.cells[tinylab.TEST_SQUARE].source
    assert fixed.notes == ["locked cell `test_square` had been edited; it was restored from the "
                           "release (its checksum did not match)"]
    assert nb.cells[tinylab.TEST_SQUARE].source == "pass  # trust me"     # input left alone


def test_test_cell_turned_into_markdown_is_restored(course):
    _, source, release = course
    nb = tinylab.answered(release)
    nb.cells[tinylab.TEST_CUBE] = nbformat.v4.new_markdown_cell(nb.cells[tinylab.TEST_CUBE].source,
                                                                 metadata=nb.cells[tinylab.TEST_CUBE].metadata)
    fixed = repair(nb, release, source)
    assert fixed.notebook.cells[tinylab.TEST_CUBE].cell_type == "code"
    assert "`test_cube` had been edited" in fixed.notes[0]


def repaired_without(course, index):
    """Repair an answered submission from which the cell at ``index`` was deleted."""
    _, source, release = course
    nb = tinylab.answered(release)
    del nb.cells[index]
    fixed = repair(nb, release, source)
    assert ids(fixed.notebook) == ids(release)
    return fixed


def test_deleted_test_cell_goes_back_after_its_solution(course):
    fixed = repaired_without(course, tinylab.TEST_SQUARE)
    assert fixed.notes == ["test cell `test_square` was missing; the release copy was put back"]


def test_deleted_solution_cell_comes_back_blank(course):
    fixed = repaired_without(course, tinylab.CUBE)
    assert "raise NotImplementedError()" in fixed.notebook.cells[tinylab.CUBE].source
    assert "solution cell `cube` was missing" in fixed.notes[0] and "score 0" in fixed.notes[0]


def test_renamed_solution_keeps_the_students_code(course):
    _, source, release = course
    nb = tinylab.answered(release, square="x ** 2")
    nb.cells[tinylab.SQUARE].metadata.nbgrader.grade_id = "my_square"
    fixed = repair(nb, release, source)
    assert ids(fixed.notebook) == ids(release)
    assert fixed.notebook.cells[tinylab.SQUARE].source.endswith("return x ** 2")
    assert fixed.notes == ["solution cell `square` had its grade_id changed to `my_square`; the id "
                           "was restored and the student's code kept"]


def test_unknown_and_duplicate_grade_ids_become_ordinary_cells(course):
    _, source, release = course
    nb = tinylab.answered(release)
    extra = nbformat.from_dict(nb.cells[tinylab.CUBE])
    extra.metadata.nbgrader.grade_id = "scratch"
    twin = nbformat.from_dict(nb.cells[tinylab.SQUARE])
    nb.cells += [extra, twin]
    fixed = repair(nb, release, source)
    assert ids(fixed.notebook) == ids(release) + [None, None]
    assert fixed.notebook.cells[-1].source == twin.source              # kept, as ordinary code
    assert any("unknown grade_id `scratch`" in note for note in fixed.notes)
    assert any("grade_id `square` appeared twice" in note for note in fixed.notes)


def test_malformed_files_are_reported(tmp_path):
    broken = tmp_path / "broken.ipynb"
    broken.write_text('{"cells": [')
    with pytest.raises(MalformedSubmission, match="not a readable notebook|not valid notebook JSON"):
        read_submission(broken)
    invalid = tmp_path / "invalid.ipynb"
    invalid.write_text(json.dumps({"cells": [{"cell_type": "code"}], "metadata": {}, "nbformat": 4,
                                   "nbformat_minor": 5}))
    with pytest.raises(MalformedSubmission):
        read_submission(invalid)


# --- the submissions folder ------------------------------------------------------------------

def test_collect_sorts_submissions_from_mistakes(tmp_path):
    subs = tmp_path / "subs"
    for path in ["ada/01_linear_regression.ipynb", "ada/02_mlp_backprop.ipynb", "bo/01_linear_regresion.ipynb",
                 "dee/01_linear_regression/01_linear_regression.ipynb", "eve/01_linear_regression.ipynb",
                 "eve/01_linear_regression/01_linear_regression.ipynb",
                 "bo/.ipynb_checkpoints/01_linear_regression-checkpoint.ipynb", "cy/extra/01_linear_regression.ipynb",
                 "stray.ipynb", "bad name!/01_linear_regression.ipynb"]:
        (subs / path).parent.mkdir(parents=True, exist_ok=True)
        (subs / path).write_text("{}")
    accepted, rejected = collect(subs, ["01_linear_regression", "02_mlp_backprop"])
    assert [(s.student, s.lab) for s in accepted] == [("ada", "01_linear_regression"), ("ada", "02_mlp_backprop"),
                                                      ("dee", "01_linear_regression"),   # nbgrader's layout
                                                      ("eve", "01_linear_regression")]
    reasons = {(r.student, r.lab): r.reason for r in rejected}
    assert "did you mean 01_linear_regression.ipynb?" in reasons[("bo", "01_linear_regresion")]
    assert "directly in cy/" in reasons[("cy", "01_linear_regression")]
    assert "not inside a student folder" in reasons[("-", "stray")]
    assert "letters, digits" in reasons[("bad name!", "-")]
    assert "a second copy of 01_linear_regression" in reasons[("eve", "01_linear_regression")]
    assert len(rejected) == 5                                   # the checkpoint copy is ignored


def test_collect_explains_the_layout_when_the_folder_is_missing(tmp_path):
    with pytest.raises(FileNotFoundError, match="SUBMISSIONS/<student>/<lab>.ipynb"):
        collect(tmp_path / "nope", ["01_linear_regression"])


# --- grades.csv ------------------------------------------------------------------------------

def test_grades_csv_rows_are_replaced_on_regrading(tmp_path):
    first = [Grade("ada", "01", 4.0, 6.0, "graded", ["cell 3 timed out"]), Grade("bo", "01", 6.0, 6.0, "graded")]
    _write_grades(tmp_path, first)
    _write_grades(tmp_path, [Grade("ada", "01", 6.0, 6.0, "graded"), Grade("ada", "02", 0.0, None, "rejected", ["x"])])
    lines = (tmp_path / "grades.csv").read_text().splitlines()
    assert lines == ["student,lab,score,max_score,status,notes", "ada,01,6.0,6.0,graded,",
                     "ada,02,0.0,,rejected,x", "bo,01,6.0,6.0,graded,"]


def test_summary_table_marks_notes():
    text = summary([Grade("ada", "01", 4.0, 6.0, "graded", ["cell 3 timed out"]),
                    Grade("bo", "02", 0.0, 6.0, "malformed", ["not JSON"])])
    assert text.splitlines()[:3] == ["student  01    02       ", "ada      4/6*  -        ",
                                     "bo       -     malformed"]
    assert "  ada/01: cell 3 timed out" in text and "  bo/02: not JSON" in text


def test_bad_arguments_are_refused(tmp_path):
    from labkit.grading import grade

    with pytest.raises(ValueError, match="jobs must be at least 1"):
        grade(tmp_path, jobs=0)
    with pytest.raises(ValueError, match="seconds per cell"):
        grade(tmp_path, timeout=0)
    with pytest.raises(ValueError, match="grade into another folder with --out"):
        grade(tmp_path / "course" / "submitted", out=tmp_path)    # would overwrite the originals


def test_cli_reports_bad_input_with_usage_exit_codes(tmp_path, capsys):
    from labkit.cli import main

    assert main(["grade", str(tmp_path / "nope"), "--notebooks", str(tinylab.write_source(tmp_path / "nb").parent)]) == 2
    assert "SUBMISSIONS/<student>/<lab>.ipynb" in capsys.readouterr().err
    assert main(["release", "42", "--notebooks", str(tmp_path / "nb"), "--out", str(tmp_path / "rel")]) == 2
    assert "no lab matches '42'" in capsys.readouterr().err
    assert not (tmp_path / "rel").exists()
