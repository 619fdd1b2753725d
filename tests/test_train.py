import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import labkit
from labkit.checkpoint import CheckpointError
from labkit.data import DeviceLoader, house_prices
from labkit.train import NonFiniteLossError, ShapeMismatchError, evaluate, fit


class Regressor(nn.Module):
    """nn.Linear that returns (N,) so it pairs with (N,) targets."""

    def __init__(self, d: int = 3) -> None:
        super().__init__()
        self.linear = nn.Linear(d, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x).squeeze(-1)


@pytest.fixture
def houses():
    labkit.seed_everything(0)
    data = house_prices(256, seed=0)
    mean, std = data.X.mean(0), data.X.std(0)
    return (data.X - mean) / std, data.y, data, mean, std


def test_fit_recovers_the_true_weights(houses):
    X, y, data, mean, std = houses
    model = Regressor()
    history = fit(model, (X, y), epochs=60, loss_fn=nn.MSELoss(), lr=0.05,
                  optimizer=torch.optim.SGD(model.parameters(), lr=0.05), batch_size=32, val=(X, y))
    raw_weight = model.linear.weight.detach().squeeze(0) / std
    assert torch.allclose(raw_weight, data.weight, rtol=0.15)
    assert history["loss"][-1] < history["loss"][0] / 50
    assert len(history) == 60 and history.keys() == ["epoch", "loss", "val_loss"]
    assert 300 < history.last("val_loss") < 500            # close to the noise variance, 20^2


def test_column_output_against_flat_targets_is_rejected_with_both_shapes(houses):
    X, y, *_ = houses
    with pytest.raises(ShapeMismatchError, match=r"\(64, 1\).*\(64,\).*squeeze"):
        fit(nn.Linear(3, 1), (X, y), epochs=1, loss_fn=nn.MSELoss())


def test_other_shape_mistakes_name_both_shapes():
    X, labels = torch.randn(32, 4), torch.randint(0, 3, (32,))
    with pytest.raises(ShapeMismatchError, match=r"\(32,\).*\(32,\)"):
        fit(Regressor(4), (X, labels), epochs=1, loss_fn=nn.CrossEntropyLoss())
    with pytest.raises(ShapeMismatchError, match=r"integer class labels .* torch.float32: convert them with y.long\(\)"):
        fit(nn.Linear(4, 3), (X, labels.float()), epochs=1, loss_fn=nn.CrossEntropyLoss())
    with pytest.raises(ShapeMismatchError, match=r"batch sizes 16 and 32 differ"):
        fit(nn.Linear(4, 3), [(X[:16], labels)], epochs=1, loss_fn=nn.CrossEntropyLoss())


def test_nan_loss_stops_with_epoch_step_and_advice(houses):
    X, y, data, *_ = houses
    model = Regressor()
    with pytest.raises(NonFiniteLossError, match=r"loss became (nan|inf) at epoch 1, step \d+ of 8.*"
                                                 r"learning rate .* \(it is 1\): try 0.1"):
        fit(model, (data.X, y), epochs=3, loss_fn=nn.MSELoss(), batch_size=32,
            optimizer=torch.optim.SGD(model.parameters(), lr=1.0), plot=False, progress=False)


def test_early_stopping_restores_the_best_weights(houses):
    X, y, *_ = houses
    torch.manual_seed(0)
    model = Regressor()
    # Validation targets that the model cannot fit: val_loss rises while train loss falls.
    history = fit(model, (X, y), epochs=200, loss_fn=nn.MSELoss(), lr=0.05, val=(X, -y), patience=3)
    assert history.stopped_early and len(history) < 200
    best = history.best_epoch
    assert len(history) == best + 3
    assert evaluate(model, [(X, -y)], nn.MSELoss())["loss"] == pytest.approx(history["val_loss"][best - 1], rel=1e-5)


def test_checkpoint_resume_continues_where_it_stopped(houses, tmp_path):
    X, y, *_ = houses
    ck = tmp_path / "run" / "ck.pt"
    torch.manual_seed(0)
    model = Regressor()
    fit(model, (X, y), epochs=3, loss_fn=nn.MSELoss(), lr=0.05, checkpoint=ck)
    weights_after_3 = model.linear.weight.detach().clone()
    resumed = Regressor()
    history = fit(resumed, (X, y), epochs=5, loss_fn=nn.MSELoss(), lr=0.05, checkpoint=ck, resume=True)
    assert history["epoch"] == [1, 2, 3, 4, 5]
    assert not torch.equal(resumed.linear.weight, weights_after_3)
    assert labkit.checkpoint.load_checkpoint(ck)["epoch"] == 5


def test_corrupt_checkpoint_on_resume_is_reported_and_kept(houses, tmp_path):
    X, y, *_ = houses
    ck = tmp_path / "ck.pt"
    fit(Regressor(), (X, y), epochs=1, loss_fn=nn.MSELoss(), checkpoint=ck)
    ck.write_bytes(ck.read_bytes()[:100])
    damaged = ck.read_bytes()
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        fit(Regressor(), (X, y), epochs=2, loss_fn=nn.MSELoss(), checkpoint=ck, resume=True)
    assert ck.read_bytes() == damaged
    ck.unlink()
    fit(Regressor(), (X, y), epochs=1, loss_fn=nn.MSELoss(), checkpoint=ck)
    with pytest.raises(CheckpointError, match="does not fit this model"):
        fit(Regressor(d=5), (torch.randn(8, 5), torch.randn(8)), epochs=2, loss_fn=nn.MSELoss(),
            checkpoint=ck, resume=True)


def test_crash_while_checkpointing_keeps_the_previous_epoch(houses, tmp_path, monkeypatch):
    X, y, *_ = houses
    ck = tmp_path / "ck.pt"
    fit(Regressor(), (X, y), epochs=2, loss_fn=nn.MSELoss(), checkpoint=ck)

    def dying_save(obj, handle):
        handle.write(b"PK partial")
        raise OSError("disk full")

    monkeypatch.setattr("labkit.checkpoint.torch.save", dying_save)
    with pytest.raises(OSError, match="disk full"):
        fit(Regressor(), (X, y), epochs=4, loss_fn=nn.MSELoss(), checkpoint=ck, resume=True)
    monkeypatch.undo()
    assert labkit.checkpoint.load_checkpoint(ck)["epoch"] == 2


def test_custom_step_function_drives_training():
    X, y = torch.randn(64, 2), torch.randn(64)
    model = nn.Linear(2, 1)
    calls = []

    def step(batch, ctx):
        x, target = batch
        with ctx.autocast():
            loss = ((ctx.model(x).squeeze(-1) - target) ** 2).mean()
        ctx.optimize(loss)
        calls.append((ctx.epoch, ctx.step))
        return {"loss": loss.detach(), "batch_mean": target.mean()}

    history = fit(model, DeviceLoader(X, y, batch_size=16), epochs=2, step_fn=step,
                  optimizer=torch.optim.SGD(model.parameters(), lr=0.1))
    assert calls == [(e, s) for e in (1, 2) for s in (1, 2, 3, 4)]
    assert set(history.keys()) == {"epoch", "loss", "batch_mean"}
    assert history["batch_mean"][0] == pytest.approx(float(y.mean()), abs=1e-5)
    with pytest.raises(TypeError, match="must return a dict"):
        fit(model, (X, y), epochs=1, step_fn=lambda batch, ctx: 1.0)


def test_dataloader_input_and_validation_metrics():
    torch.manual_seed(0)
    X = torch.randn(200, 2)
    labels = (X[:, 0] + X[:, 1] > 0).long()
    loader = DataLoader(TensorDataset(X, labels), batch_size=20, shuffle=True)
    accuracy = lambda out, y: (out.argmax(1) == y).float().mean()
    history = fit(nn.Linear(2, 2), loader, epochs=15, loss_fn=nn.CrossEntropyLoss(), lr=0.05,
                  val=(X, labels), metrics={"accuracy": accuracy})
    assert history.last("val_accuracy") > 0.9


@pytest.mark.parametrize("kwargs, message", [
    ({"epochs": 0}, "epochs must be a positive integer"),
    ({"epochs": 1, "loss_fn": None}, "fit needs a loss"),
    ({"epochs": 1, "patience": 0}, "patience"),
    ({"epochs": 1, "resume": True}, "needs checkpoint"),
    ({"epochs": 1, "device": "cuda:7"}, "CUDA|cuda"),
])
def test_bad_arguments_are_explained(kwargs, message):
    kwargs = {"loss_fn": nn.MSELoss(), **kwargs}
    with pytest.raises(Exception, match=message):
        fit(Regressor(2), (torch.randn(4, 2), torch.randn(4)), **kwargs)


def test_text_progress_prints_a_bounded_number_of_lines(capsys):
    fit(Regressor(2), (torch.randn(16, 2), torch.randn(16)), epochs=100, loss_fn=nn.MSELoss(), progress=False)
    lines = [l for l in capsys.readouterr().out.splitlines() if l.startswith("epoch")]
    assert lines[0].startswith("epoch   1/100") and lines[-1].startswith("epoch 100/100")
    assert len(lines) == 11


def test_metrics_are_logged_for_training_and_validation():
    torch.manual_seed(0)
    X = torch.randn(120, 2)
    labels = (X[:, 0] > 0).long()
    accuracy = lambda out, y: (out.argmax(1) == y).float().mean()
    history = fit(nn.Linear(2, 2), (X, labels), epochs=5, loss_fn=nn.CrossEntropyLoss(), lr=0.1,
                  val=(X, labels), metrics={"accuracy": accuracy}, batch_size=30)
    assert history.keys() == ["epoch", "loss", "accuracy", "val_loss", "val_accuracy"]
    assert 0 <= history.last("accuracy") <= 1 and history.last("val_accuracy") > 0.8
