"""The exercise facility: deny lists read from source, answers, quiet checks, `labkit check`,
and the authoring rules every lab's exercises follow (notebooks/AUTHORING.md)."""
from __future__ import annotations

import ast
import re

import nbformat
import numpy as np
import pytest
import torch

import labkit.checks as checks
from conftest import REPO
from labkit.answers import decode, encode, mismatch
from labkit.grading.course import find_labs
from labkit.grading.cut import exercise_cut
from labkit.grading.editions import REGION
from labkit.integrity import chain, parse, tampering
from labkit.solution_source import forbidden_uses

LABS = find_labs(REPO / "notebooks")


def _graded_cells(path):
    return [c for c in nbformat.read(path, as_version=4).cells if c.metadata.get("nbgrader", {}).get("grade")]


# --- deny lists, in the kernel (these functions live in this module, read like a notebook's) ------
def _uses_unfold(x):
    return torch.nn.functional.unfold(x, 2)


_alias = torch.nn.functional.unfold


def _uses_alias(x):
    return _alias(x, 2)


def _uses_helper(x):
    return _uses_unfold(x)


def _tensor_method(x):
    return x.unfold(2, 2, 1)


def _autograd(w):
    (w * w).sum().backward()
    return torch.autograd.grad


@pytest.mark.parametrize("func, deny, found", [
    (_uses_unfold, ("torch.nn.functional.unfold",), True),
    (_uses_alias, ("torch.nn.functional.unfold",), True),
    (_tensor_method, ("torch.nn.functional.unfold",), False),
    (_autograd, (".backward",), True),
    (_autograd, ("torch.autograd",), True),
    (_tensor_method, (".backward", "torch.autograd"), False),
])
def test_forbidden_uses_follow_aliases_and_module_prefixes(func, deny, found):
    assert bool(forbidden_uses(func, deny)) is found


def test_forbidden_uses_follow_helpers_defined_in_the_notebook(monkeypatch):
    monkeypatch.setattr(_uses_unfold, "__module__", "__main__")     # as if written in a cell
    assert forbidden_uses(_uses_helper, ("torch.nn.functional.unfold",))


def _double(x):
    return 2 * x


def test_exercise_block_prints_one_tick_and_stays_quiet_inside(capsys):
    with checks.exercise("double", _double, deny=("torch.mul",)):
        checks.close(2.0, 2.0, "two")
        checks.shape(np.zeros(3), (3,), "zeros")
    assert capsys.readouterr().out == "✓ double: every self-check passes\n"
    checks.close(2.0, 2.0, "two")
    assert "✓ two is correct" in capsys.readouterr().out


def test_exercise_block_fails_on_a_denied_name_and_shows_no_tick(capsys):
    with pytest.raises(checks.CheckFailed, match=r"must not use what .*torch.nn.functional.unfold"):
        with checks.exercise("im2col", _uses_unfold, deny=("torch.nn.functional.unfold",)):
            pass
    assert "✓" not in capsys.readouterr().out
    with pytest.raises(checks.CheckFailed), checks.exercise("x", _tensor_method, deny=()):
        checks.close(1.0, 2.0)
    assert "✓" not in capsys.readouterr().out
    with pytest.raises(TypeError, match="deny must be a tuple"):
        with checks.exercise("x", _tensor_method, deny="torch.mul"):
            pass


@pytest.mark.parametrize("value, ok", [(1.5, True), (3, True), (np.float64(2.0), True),
                                       (torch.tensor(1.5), False), (np.array(1.5), False), (True, False), ("1", False)])
def test_number_accepts_plain_numbers_only(value, ok):
    if ok:
        checks.number(value)
    else:
        with pytest.raises(checks.CheckFailed, match="plain number"):
            checks.number(value)


# --- answers ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("value", [1.5, 7, True, None, "ok", np.arange(6.0).reshape(2, 3), torch.ones(2, 2),
                                   (np.array([1.0, np.nan]), 2.0), [np.array([True, False])]])
def test_answers_round_trip(value):
    payload = encode(value)
    assert mismatch(payload, encode(value), 0, 0) is None
    decode(payload)


def test_answer_mismatches_say_what_differs():
    assert "shape" in mismatch(encode(np.zeros(3)), encode(np.zeros(4)), 1e-7, 0)
    assert "differs" in mismatch(encode(np.zeros(3)), encode(np.ones(3)), 1e-7, 0)
    assert "NaN" in mismatch(encode(np.array([np.nan])), encode(np.array([1.0])), 1e-7, 0)
    assert "expected a number" in mismatch(encode((1.0, 2.0)), encode(3.0), 1e-7, 0)
    assert mismatch(encode(1.0 + 1e-9), encode(1.0), 1e-7, 0) is None
    assert "item 1" in mismatch(encode((1.0, 2.0)), encode((1.0, 3.0)), 1e-7, 0)
    with pytest.raises(TypeError):
        encode({"a": 1})


# --- tampering, read from source ---------------------------------------------------------------------
@pytest.mark.parametrize("source, found", [
    ("np.allclose = lambda *a, **k: True", "changes an attribute of np"),
    ("labkit.checks.close.__code__ = f.__code__", "changes an attribute of labkit"),
    ("get_ipython().input_transformers_cleanup.append(f)", "uses get_ipython"),
    ("import os\nos._exit(0)", "reaches _exit"),
    ("setattr(np, 'allclose', f)", "calls setattr()"),
    ("eval('F.un' + 'fold')", "calls eval()"),
    ("from torch.nn.functional import *", "import *"),
    ("import inspect", "imports inspect"),
    ("!pip install cheat", "runs a shell command"),
    ("%load_ext cheat", "%load_ext magic"),
])
def test_tampering_is_found(source, found):
    tree = parse(source)
    findings = tampering(tree, {"np", "labkit", "torch", "os"})
    assert any(found in f.what for f in findings), findings


@pytest.mark.parametrize("source", ["%time y = f(x)", "model.weight = w", "x = np.zeros(3)\nx[0] = 1",
                                    "def f(self):\n    self.a = 1", "getattr(model, 'weight')"])
def test_ordinary_code_is_not_tampering(source):
    assert tampering(parse(source), {"np", "torch"}) == []


# --- authoring rules, on every lab --------------------------------------------------------------------
@pytest.mark.parametrize("lab", [lab for lab, path in LABS.items() if _graded_cells(path)])
def test_every_exercise_declares_its_deny_list_and_emits_hidden_answers(lab):
    for cell in _graded_cells(LABS[lab]):
        gid = cell.metadata["nbgrader"]["grade_id"]
        assert re.search(r"labkit\.checks\.exercise\(", cell.source), f"{lab}/{gid}: no `with labkit.checks.exercise(...)`"
        hidden = "".join(m.group(2) for m in REGION.finditer(cell.source) if m.group(1) == "HIDDEN TESTS")
        assert "labkit.checks.answer(" in hidden, f"{lab}/{gid}: the hidden tests emit no answer"
        assert not global_randomness(hidden), f"{lab}/{gid}: hidden inputs must come from local seeded generators"


RANDOM_TORCH = {"rand", "randn", "randint", "randperm", "normal", "rand_like", "randn_like", "manual_seed", "bernoulli"}


def global_randomness(source: str) -> list[str]:
    """Calls in ``source`` that draw from (or reseed) a global random generator."""
    found = []
    for node in ast.walk(parse(source)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            names = chain(node.func) or ()
            local = any(k.arg == "generator" for k in node.keywords)
            if names[:1] == ("torch",) and names[-1] in RANDOM_TORCH and not local:
                found.append(".".join(names))
            if names[:2] == ("np", "random") and names[-1] != "default_rng":
                found.append(".".join(names))
    return found


@pytest.mark.parametrize("lab", list(LABS))
def test_solutions_obey_the_tampering_rule(lab):
    notebook = nbformat.read(LABS[lab], as_version=4)
    for cell in notebook.cells:
        if cell.metadata.get("nbgrader", {}).get("solution"):
            assert tampering(parse(cell.source), set()) == [], (lab, cell.metadata["nbgrader"]["grade_id"])


# --- labkit check, on lab 00 as a student has it ------------------------------------------------------
def test_labkit_check_reports_each_exercise(tmp_path):
    from labkit.grading import release
    from labkit.grading.selfcheck import check_notebook, describe

    (tmp_path / "nb").mkdir()          # the exercise-only cut of lab 00: the same exercise, in seconds
    nbformat.write(exercise_cut(nbformat.read(LABS["00_setup"], as_version=4)), tmp_path / "nb" / "00_setup.ipynb")
    edition = release(tmp_path / "nb", tmp_path / "release", course=tmp_path / "hub", execute=False,
                      echo=lambda _: None)[0]
    blank = check_notebook(edition)
    assert not blank.ok and blank.exercises[0].reason.startswith("not done yet")
    notebook = nbformat.read(edition, as_version=4)
    solution = next(c for c in notebook.cells if c.metadata.get("nbgrader", {}).get("solution"))
    solution.source = ("def mean_squared_error(pred, target):\n    if len(pred) != len(target):\n"
                       "        raise ValueError('lengths')\n    return torch.nn.functional.mse_loss(pred, target).item()\n")
    nbformat.write(notebook, tmp_path / "shortcut.ipynb")
    shortcut = check_notebook(tmp_path / "shortcut.ipynb")
    assert not shortcut.ok and "must not use" in shortcut.exercises[0].reason
    solution.source = solution.source.replace("torch.nn.functional.mse_loss(pred, target)", "((pred - target) ** 2).mean()")
    nbformat.write(notebook, tmp_path / "done.ipynb")
    done = check_notebook(tmp_path / "done.ipynb")
    assert done.ok, describe(done, "done")
    assert "1 of 1 exercises pass" in describe(done, "done.ipynb")
