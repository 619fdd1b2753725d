"""Every exercise's wrong solutions lose exactly its points; a correct alternative gets them all.

The tables live in tests/mutants/lab<lab>.py. Each lab is reduced to its exercise-only cut (the
exercise cells and the cells they need), released, and graded for real with ``labkit grade``:
submission ``wrong<k>`` holds the k-th wrong solution of every exercise, ``alternative`` the
alternative of every exercise (the instructor's own solutions are graded in
test_grading_roundtrip.py). One grading call, two jobs.

"Fails the visible check" is read from the graded notebook: the visible self-check prints its
single ✓ line only when every stated requirement passed.
"""
from __future__ import annotations

import importlib
import re

import nbformat
import pytest
from nbgrader.api import Gradebook

from conftest import REPO
from labkit.grading import grade, release
from labkit.grading.course import find_labs
from labkit.grading.cut import exercise_cut

TABLES = {lab: importlib.import_module(f"mutants.lab{lab}").MUTANTS for lab in find_labs(REPO / "notebooks")
          if (REPO / "tests" / "mutants" / f"lab{lab}.py").exists()}
TICK = re.compile(r"✓ .*: every self-check passes")


def _meta(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def _test_ids(notebook) -> dict[str, str]:
    """solution grade_id -> the grade_id of the test cell that follows it."""
    pairs, last = {}, None
    for cell in notebook.cells:
        meta = _meta(cell)
        if meta.get("solution"):
            last = meta["grade_id"]
        elif meta.get("grade") and last:
            pairs[last] = meta["grade_id"]
            last = None
    return pairs


def _with_solutions(edition, sources: dict[str, str]):
    notebook = nbformat.from_dict(edition)
    for cell in notebook.cells:
        if _meta(cell).get("solution") and _meta(cell)["grade_id"] in sources:
            cell.source = sources[_meta(cell)["grade_id"]]
    return notebook


def _write(notebook, path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, path)


def test_every_lab_with_exercises_has_a_mutant_table():
    for lab, path in find_labs(REPO / "notebooks").items():
        solutions = {_meta(c)["grade_id"] for c in nbformat.read(path, as_version=4).cells if _meta(c).get("solution")}
        if solutions:
            assert lab in TABLES, f"write tests/mutants/lab{lab}.py"
            assert set(TABLES[lab]) == solutions, f"{lab}: the table must cover exactly {sorted(solutions)}"
            for gid, entry in TABLES[lab].items():
                assert len(entry["wrong"]) >= 3 and entry["alternative"].strip(), f"{lab}/{gid}"
                assert all(mistake.strip() and "return None" not in code for mistake, code in entry["wrong"])


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("mutants")
    cuts = root / "notebooks"
    cuts.mkdir()
    for lab in TABLES:
        nbformat.write(exercise_cut(nbformat.read(REPO / "notebooks" / f"{lab}.ipynb", as_version=4)),
                       cuts / f"{lab}.ipynb")
    editions = {p.stem: nbformat.read(p, as_version=4)
                for p in release(cuts, root / "release", course=root / "hub", execute=False, echo=lambda _: None)}
    rounds = max(len(entry["wrong"]) for table in TABLES.values() for entry in table.values())
    for k in range(rounds):          # wrong<k>: the k-th wrong solution of every exercise that has one
        for lab, table in TABLES.items():
            if any(len(entry["wrong"]) > k for entry in table.values()):
                sources = {gid: entry["wrong"][min(k, len(entry["wrong"]) - 1)][1] for gid, entry in table.items()}
                _write(_with_solutions(editions[lab], sources), root / "subs" / f"wrong{k}" / f"{lab}.ipynb")
    for lab, table in TABLES.items():
        sources = {gid: entry["alternative"] for gid, entry in table.items()}
        _write(_with_solutions(editions[lab], sources), root / "subs" / "alternative" / f"{lab}.ipynb")
    grades = grade(root / "subs", source=cuts, out=root / "grading", jobs=2, progress=False, echo=lambda _: None)
    course = root / "grading" / "course"
    cells = {}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        for g in grades:
            notebook = gradebook.find_submission_notebook(g.lab, g.lab, g.student)
            for cell_grade in notebook.grades:
                cells[(g.student, g.lab, cell_grade.name)] = (float(cell_grade.score), float(cell_grade.max_score))
    ticks = {}
    for g in grades:
        autograded = nbformat.read(course / "autograded" / g.student / g.lab / f"{g.lab}.ipynb", as_version=4)
        for cell in autograded.cells:
            if _meta(cell).get("grade"):
                text = "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("output_type") == "stream")
                ticks[(g.student, g.lab, _meta(cell)["grade_id"])] = bool(TICK.search(text))
    return {"grades": {(g.student, g.lab): g for g in grades}, "cells": cells, "ticks": ticks,
            "pairs": {lab: _test_ids(editions[lab]) for lab in TABLES}, "rounds": rounds}


CASES = [(lab, gid) for lab, table in TABLES.items() for gid in table]


@pytest.mark.parametrize("lab, exercise", CASES)
def test_wrong_solutions_lose_exactly_the_exercise_points_and_never_show_a_tick(graded, lab, exercise):
    test_id = graded["pairs"][lab][exercise]
    for k, (mistake, _) in enumerate(TABLES[lab][exercise]["wrong"]):
        score, points = graded["cells"][(f"wrong{k}", lab, test_id)]
        assert points > 0 and score == 0, f"{lab}/{exercise}: '{mistake}' scored {score}/{points}"
        assert not graded["ticks"][(f"wrong{k}", lab, test_id)], f"{lab}/{exercise}: '{mistake}' shows a ✓"


@pytest.mark.parametrize("lab, exercise", CASES)
def test_a_correct_alternative_gets_full_marks_and_its_tick(graded, lab, exercise):
    test_id = graded["pairs"][lab][exercise]
    score, points = graded["cells"][("alternative", lab, test_id)]
    assert score == points > 0, f"{lab}/{exercise}: the alternative scored {score}/{points}"
    assert graded["ticks"][("alternative", lab, test_id)], f"{lab}/{exercise}: the alternative shows no ✓"
