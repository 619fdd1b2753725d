"""A cheating student gains nothing: the verdict is reached outside the student's kernel.

Each submission below answers with zeros and tries to make the checks pass anyway: replacing the
functions of labkit.checks and numpy.allclose, patching torch and IPython's display, silencing the
answer channel,
swallowing AssertionError with set_custom_exc, rewriting later cells with an input transformer,
printing a fake ✓ and leaving with os._exit, faking answer outputs. (The library shortcut under an
alias is graded in test_exercise_mutants.py; aliases are unit-tested below.) Each scores 0, graded for
real; an honest submission written differently scores full marks.
"""
from __future__ import annotations

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from labkit.answers import ANSWER_MIME, encode
from labkit.grading import grade, release
from labkit.grading.verdict import denied_findings, exercise_rules, verdicts
from tinylab import _nbgrader

LAB = "91_honest"
POINTS = {"squares_test": 2, "total_test": 1}


def _meta(grade_id, *, solution=False, points=None):
    return _nbgrader(grade_id, solution=solution, grade=points is not None, points=points)


def source_lab() -> nbformat.NotebookNode:
    cells = [
        new_code_cell("import numpy as np\nimport labkit\nimport labkit.checks"),
        new_code_cell("def squares(x):\n    ### BEGIN SOLUTION\n    return np.asarray(x, dtype=float) ** 2\n"
                      "    ### END SOLUTION", metadata=_meta("squares", solution=True)),
        new_code_cell("with labkit.checks.exercise('squares', squares, deny=('numpy.square', 'numpy.power')):\n"
                      "    labkit.checks.close(squares([1.0, -2.0]), [1.0, 4.0], 'squares([1, -2])')\n"
                      "### BEGIN HIDDEN TESTS\n"
                      "rng_h = np.random.default_rng(5)\n"
                      "labkit.checks.answer('squares of 6 random numbers', squares(rng_h.normal(size=6)))\n"
                      "### END HIDDEN TESTS", metadata=_meta("squares_test", points=2)),
        new_code_cell("def total(values):\n    ### BEGIN SOLUTION\n    result = 0.0\n    for v in values:\n"
                      "        result += v\n    return result\n    ### END SOLUTION",
                      metadata=_meta("total", solution=True)),
        new_code_cell("with labkit.checks.exercise('total', total, deny=('builtins.sum', 'numpy.sum')):\n"
                      "    labkit.checks.close(total([1.0, 2.0, 3.5]), 6.5, 'total([1, 2, 3.5])')\n"
                      "### BEGIN HIDDEN TESTS\n"
                      "labkit.checks.answer('total of 1..100', total(range(1, 101)))\n"
                      "### END HIDDEN TESTS", metadata=_meta("total_test", points=1)),
    ]
    notebook = new_notebook(cells=cells)
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return notebook


ZEROS = "def squares(x):\n    return np.zeros(len(x))\n"
CHEATS = {
    "patch_checks": "import labkit.checks as C\nfor name in dir(C):\n    if callable(getattr(C, name)) and not "
                    "name.startswith('_') and name not in ('exercise', 'CheckFailed'):\n"
                    "        setattr(C, name, lambda *a, **k: None)\nC.close = lambda *a, **k: None\n"
                    "np.allclose = lambda *a, **k: True\n" + ZEROS,
    "patch_torch_and_display": ("import torch\ntorch.allclose = lambda *a, **k: True\n"
                                "import IPython.display\nIPython.display.display = lambda *a, **k: None\n" + ZEROS),
    "silence_answers": "import labkit.answers\nlabkit.answers.display = lambda *a, **k: None\n" + ZEROS,
    "custom_exc": "get_ipython().set_custom_exc((AssertionError,), lambda *a, **k: None)\n" + ZEROS,
    "input_transformer": "ip = get_ipython()\nip.input_transformers_cleanup.append(lambda lines: ['pass\\n'])\n" + ZEROS,
    "fake_tick_exit": "import os\nprint('✓ squares: every self-check passes')\nos._exit(0)\n" + ZEROS,
    "fake_answer_output": ("from IPython.display import display as show\n"
                           f"show({{{ANSWER_MIME!r}: {{'key': 'total of 1..100', 'answer': {encode(5050.0)!r}, "
                           "'rtol': 1e9, 'atol': 1e9}}, raw=True)\n" + ZEROS),
}
HONEST = "def squares(x):\n    return np.array([v * v for v in x], dtype=float)\n"


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("forgery")
    (root / "notebooks").mkdir()
    nbformat.write(source_lab(), root / "notebooks" / f"{LAB}.ipynb")
    edition = nbformat.read(release(root / "notebooks", root / "release", course=root / "hub", execute=False,
                                    echo=lambda _: None)[0], as_version=4)
    answers = {**CHEATS, "honest": HONEST}
    for student, squares in answers.items():
        notebook = nbformat.from_dict(edition)
        notebook.cells[1].source = squares
        notebook.cells[3].source = "def total(values):\n    return 0.0\n" if student != "honest" else \
            "def total(values):\n    values = list(values)\n    return values[0] + total(values[1:]) if values else 0.0\n"
        (root / "subs" / student).mkdir(parents=True)
        nbformat.write(notebook, root / "subs" / student / f"{LAB}.ipynb")
    results = grade(root / "subs", source=root / "notebooks", out=root / "grading", jobs=2, progress=False,
                    echo=lambda _: None)
    return {g.student: g for g in results}


@pytest.mark.parametrize("student", sorted(CHEATS))
def test_cheating_gains_nothing(graded, student):
    g = graded[student]
    assert (g.status, g.score, g.max_score) == ("graded", 0, 3), (student, g.notes)


def test_tampering_and_shortcuts_are_named_in_the_notes(graded):
    assert any("changes an attribute of C" in note for note in graded["patch_checks"].notes)   # labkit.checks
    assert any("uses get_ipython" in note for note in graded["custom_exc"].notes)
    assert any("reaches _exit" in note for note in graded["fake_tick_exit"].notes)


def test_an_honest_solution_written_differently_gets_full_marks(graded):
    assert (graded["honest"].score, graded["honest"].notes) == (3, [])


def _autograded(squares_source: str, passed_answer) -> nbformat.NotebookNode:
    """What an autograded notebook would hold if nbgrader had been fooled into a pass."""
    notebook = source_lab()
    notebook.cells[1].source = squares_source
    notebook.cells[2].outputs = [nbformat.v4.new_output(
        "display_data", data={ANSWER_MIME: {"key": "squares of 6 random numbers", "answer": encode(passed_answer),
                                            "rtol": 1e9, "atol": 1e9}, "text/plain": ""})]
    return notebook


def test_answers_are_compared_with_the_instructors_tolerances_not_the_submissions():
    source, release_edition = source_lab(), source_lab()
    reference = {"squares_test": {"squares of 6 random numbers": {
        "key": "squares of 6 random numbers", "answer": encode([1.0] * 6), "rtol": 1e-7, "atol": 1e-10}}}
    wrong = verdicts(_autograded(ZEROS, [0.0] * 6), source, release_edition, reference)
    assert wrong["squares_test"] and "differs from the reference" in wrong["squares_test"][0]
    right = verdicts(_autograded(HONEST, [1.0] * 6), source, release_edition, reference)
    assert right["squares_test"] == []
    missing = verdicts(source_lab(), source, release_edition, reference)
    assert "no answer" in missing["squares_test"][0]


def test_denied_names_are_found_through_aliases_and_helpers():
    source = source_lab()
    rule = exercise_rules(source)["squares_test"]
    assert rule.deny == ("numpy.square", "numpy.power")
    for cheat in ("def squares(x):\n    return np.square(x)\n",
                  "p = np.power\n\n\ndef squares(x):\n    return p(x, 2)\n",
                  "def helper(x):\n    return np.square(x)\n\n\ndef squares(x):\n    return helper(x)\n",
                  "import numpy\n\n\ndef squares(x):\n    return numpy.power(x, 2)\n"):
        notebook = source_lab()
        notebook.cells[1].source = cheat
        assert denied_findings(notebook, source_lab(), rule), cheat
    notebook = source_lab()
    notebook.cells[1].source = HONEST
    assert denied_findings(notebook, source_lab(), rule) == []
