"""Batches (dicts, named tuples, counts), devices, evaluate(), exact epoch metrics, host reads."""
from collections import namedtuple

import pytest
import torch
from sklearn.metrics import f1_score
from torch import nn
from torch.utils.data import DataLoader, Dataset

import labkit.running
from fitting import Regressor, regression_data
from labkit.batches import DeviceMismatchError, as_batches, batch_size, move_batch
from labkit.data import DeviceLoader
from labkit.metrics import F1Score
from labkit.train import NAN_CHECK_EVERY, evaluate, fit

QUIET = {"plot": False, "progress": False}
Pair = namedtuple("Pair", "inputs targets")


class DictData(Dataset):
    """A masked-LM-like layout: each example a dict of tensors."""

    def __init__(self, n: int) -> None:
        self.X, self.y = regression_data(n)

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i):
        return {"features": self.X[i], "target": self.y[i], "mask": torch.tensor(i % 3 == 0)}


def test_dict_and_named_tuple_batches_keep_their_structure():
    batch = {"a": torch.ones(4, 2), "b": Pair(torch.zeros(4), [torch.ones(4)])}
    moved = move_batch(batch, torch.device("cpu"))
    assert isinstance(moved["b"], Pair) and isinstance(moved["b"].targets, list)
    assert batch_size(batch) == 4 and batch_size({"tokens": torch.ones(7, 128), "labels": torch.ones(7, 128)}) == 7


def test_data_on_another_device_is_refused_not_copied_back():
    on_meta = torch.empty(4, 3, device="meta")       # stands in for a GPU tensor on a CPU-only machine
    with pytest.raises(DeviceMismatchError, match="a batch of data is on meta but the model is on cpu"):
        move_batch({"x": on_meta}, torch.device("cpu"))
    loader = DeviceLoader(torch.ones(8, 2), torch.ones(8), device="cpu")
    with pytest.raises(DeviceMismatchError, match=r"the train DeviceLoader is on cpu but the model is on meta.*"
                                                  r"device='meta'"):
        as_batches(loader, "train", 8, True, torch.device("meta"))


def test_dict_batches_weighted_by_the_count_the_step_returns():
    loader = DataLoader(DictData(30), batch_size=8)          # batches of 8, 8, 8 and 6
    model = Regressor()
    logged = []

    def masked_step(batch, ctx):
        with ctx.autocast():
            errors = (ctx.model(batch["features"]) - batch["target"]) ** 2
        masked = batch["mask"]
        loss = errors[masked].mean()
        ctx.optimize(loss)
        logged.append((loss.item(), int(masked.sum()), len(batch["target"])))
        return {"loss": loss.detach(), "batch_mean": errors.mean().detach(), "count": masked.sum()}

    history = fit(model, loader, epochs=1, step_fn=masked_step, **QUIET)
    expected = sum(loss * n for loss, n, _ in logged) / sum(n for _, n, _ in logged)
    assert history.last("loss") == pytest.approx(expected, rel=1e-6)
    unweighted = sum(loss for loss, _, _ in logged) / len(logged)
    assert abs(expected - unweighted) > 1e-3 * abs(expected)    # the weighting matters here


def test_without_a_count_means_are_weighted_by_batch_size_not_by_keys():
    loader = DataLoader(DictData(12), batch_size=8)           # batches of 8 and 4
    values = iter([1.0, 4.0])

    def step(batch, ctx):
        return {"value": torch.tensor(next(values))}

    history = fit(Regressor(), loader, epochs=1, step_fn=step, **QUIET)
    assert history.last("value") == pytest.approx((8 * 1.0 + 4 * 4.0) / 12)


def test_evaluate_accepts_what_fit_accepts_and_follows_the_same_precision_rule():
    X, y = regression_data(64)
    torch.manual_seed(0)
    model = Regressor()
    history = fit(model, (X, y), epochs=1, loss_fn=nn.MSELoss(), val=(X, y), precision="bf16", **QUIET)
    as_tuple = evaluate(model, (X, y), nn.MSELoss(), precision="bf16")
    assert as_tuple["loss"] == pytest.approx(history.last("val_loss"), rel=1e-6)
    assert evaluate(model, [(X[:40], y[:40]), (X[40:], y[40:])], nn.MSELoss(), precision="bf16")["loss"] == \
        pytest.approx(as_tuple["loss"], rel=1e-6)
    assert evaluate(model, DeviceLoader(X, y, batch_size=10), nn.MSELoss())["loss"] == \
        pytest.approx(evaluate(model, (X, y), nn.MSELoss(), precision="fp32")["loss"], rel=1e-6)   # auto: fp32 on a CPU
    assert evaluate(model, (X, y), nn.MSELoss(), precision="fp32")["loss"] != as_tuple["loss"]
    with pytest.raises(ValueError, match="needs loss_fn, metrics or step_fn"):
        evaluate(model, (X, y))


def test_f1_is_exact_over_the_epoch_where_a_mean_of_batches_is_not():
    torch.manual_seed(0)
    X = torch.randn(230, 2)
    labels = (X[:, 0] > 0.3).long() + (X[:, 1] > 0.8).long()
    model = nn.Linear(2, 3)
    batch_f1 = lambda out, target: f1_score(target, out.argmax(1), average="macro", zero_division=0)
    history = fit(model, (X, labels), epochs=3, loss_fn=nn.CrossEntropyLoss(), lr=0.05, val=(X, labels),
                  batch_size=50, metrics={"f1": F1Score(3), "batch_f1": batch_f1}, **QUIET)
    with torch.no_grad():
        exact = f1_score(labels, model(X).argmax(1), average="macro")
    assert history.last("val_f1") == pytest.approx(exact, abs=1e-9)
    assert abs(history.last("val_batch_f1") - exact) > 1e-3       # a mean of batch F1s is not the F1


def test_host_reads_are_batched(monkeypatch):
    reads = []
    original = labkit.running.to_host
    monkeypatch.setattr(labkit.running, "to_host", lambda t: reads.append(len(t)) or original(t))
    X, y = regression_data(2 * NAN_CHECK_EVERY * 4 + 8)          # 2 N + 2 steps of 4 per epoch
    fit(Regressor(), (X, y), epochs=2, loss_fn=nn.MSELoss(), batch_size=4, **QUIET)
    steps = len(X) // 4
    assert len(reads) == 2 * (steps // NAN_CHECK_EVERY + 2)     # checks every N steps, 2 reads at the end


def test_metrics_see_the_output_as_computed_and_shapes_are_checked_once(monkeypatch):
    calls = []
    monkeypatch.setattr("labkit.losses.check_loss_shapes", lambda *args: calls.append(args))
    dtypes = []
    X, y = regression_data(64)
    fit(Regressor(), (X, y), epochs=2, loss_fn=nn.MSELoss(), val=(X, y), precision="bf16", batch_size=16,
        metrics={"seen": lambda out, target: dtypes.append(out.dtype) or 0.0}, **QUIET)
    assert set(dtypes) == {torch.bfloat16}                    # no per-step .float() copy
    assert len(calls) == 1
