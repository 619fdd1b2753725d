import math

import nbformat
import numpy as np
import pytest
import torch

from labkit import checks, mode
from labkit.report import METRIC_MIME, metrics_from_notebook, record


def test_mode_default_reads_environment(monkeypatch):
    monkeypatch.setenv("LABKIT_MODE", "full")
    assert mode.default() == "full"
    monkeypatch.setenv("LABKIT_MODE", "smoke")
    assert mode.default() == "smoke"


def test_auto_mode_is_smoke_without_gpu(monkeypatch):
    monkeypatch.delenv("LABKIT_MODE")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert mode.default() == "smoke"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert mode.resolve("auto") == "full"


def test_bad_mode_is_rejected(monkeypatch):
    monkeypatch.setenv("LABKIT_MODE", "fast")
    with pytest.raises(ValueError, match="LABKIT_MODE='fast'.*smoke, full or auto"):
        mode.default()
    with pytest.raises(ValueError, match="unknown mode"):
        mode.pick("medium", smoke=1, full=2)


def test_pick_sizes_work_by_mode():
    assert mode.pick("smoke", smoke=10, full=1000) == 10
    assert mode.pick("full", smoke=10, full=1000) == 1000


def test_record_outside_a_kernel_prints_plain_values(capsys):
    record("weight_error", torch.tensor(0.25))
    record("n", np.int64(3))
    record("device", "cpu")
    out = capsys.readouterr().out
    assert "recorded weight_error = 0.25" in out and "recorded n = 3\n" in out and "device = 'cpu'" in out


@pytest.mark.parametrize("name", ["", "1abc", "has space", None])
def test_record_rejects_bad_names(name):
    with pytest.raises(ValueError, match="metric name"):
        record(name, 1.0)


def test_record_rejects_non_finite_and_non_scalar_values():
    with pytest.raises(ValueError, match="non-finite"):
        record("loss", math.nan)
    with pytest.raises(TypeError, match="number, bool or string"):
        record("loss", torch.ones(3))


def test_metrics_are_read_back_from_notebook_outputs():
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("x")
    cell.outputs = [nbformat.v4.new_output("display_data", data={METRIC_MIME: {"name": "acc", "value": 0.5},
                                                                 "text/plain": "acc"}),
                    nbformat.v4.new_output("display_data", data={METRIC_MIME: {"name": "acc", "value": 0.9}})]
    nb.cells = [nbformat.v4.new_markdown_cell("hi"), cell]
    assert metrics_from_notebook(nb) == {"acc": 0.9}


def test_close_passes_and_fails_with_a_useful_message(capsys):
    checks.close(torch.tensor([1.0, 2.0]), [1.0, 2.0], "w")
    assert "✓ w is correct" in capsys.readouterr().out
    with pytest.raises(checks.CheckFailed, match=r"w is not right: got \[1. 3.\], expected \[1. 2.\]"):
        checks.close([1.0, 3.0], [1.0, 2.0], "w")
    with pytest.raises(checks.CheckFailed, match=r"shape \(3,\), expected \(2,\)"):
        checks.close([1.0, 2.0, 3.0], [1.0, 2.0], "w")
    with pytest.raises(checks.CheckFailed, match="is None"):
        checks.close(None, [1.0], "w")
    with pytest.raises(checks.CheckFailed, match="NaN"):
        checks.close([math.nan], [1.0], "w")
    assert issubclass(checks.CheckFailed, AssertionError)   # nbgrader scores it as a failed test


def test_shape_check():
    checks.shape(torch.zeros(2, 3), (2, 3), "X")
    with pytest.raises(checks.CheckFailed, match=r"X has shape \(3, 2\), expected \(2, 3\)"):
        checks.shape(np.zeros((3, 2)), (2, 3), "X")


def test_numerical_gradient_and_gradient_check():
    a = np.array([1.0, -2.0, 0.5])
    f = lambda x: float(np.sum(a * x**2))           # gradient 2 a x
    x = np.array([0.3, 0.7, -1.1])
    numeric = checks.numerical_gradient(f, x)
    assert checks.gradient(2 * a * x, numeric, "dx") is None     # a value would read as partial credit
    assert checks.relative_error(2 * a * x, numeric) < 1e-8
    with pytest.raises(checks.CheckFailed, match="relative error"):
        checks.gradient(a * x, numeric, "dx")          # forgot the factor 2
    assert checks.relative_error([1.0], [1.0]) == 0.0
