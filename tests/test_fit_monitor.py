"""The best epoch: monitor lookup only when needed, min/max modes, restoring the best weights,
and schedulers (per epoch after validation, plateau, per step)."""
import math

import pytest
import torch
from torch import nn

from fitting import Recorder, Regressor, regression_data, weights
from labkit.monitor import default_monitor_mode
from labkit.train import fit

QUIET = {"plot": False, "progress": False}


def test_validation_with_metrics_but_no_loss_needs_no_monitor():
    X, y = regression_data(64)
    labels = (y > 0).long()
    model = nn.Linear(3, 2)

    def own_loss(batch, ctx):                  # no loss_fn: the step computes its loss itself
        with ctx.autocast():
            output = ctx.model(batch[0])
            loss = nn.functional.cross_entropy(output, batch[1])
        ctx.optimize(loss)
        return {"xent": loss.detach()}

    accuracy = {"accuracy": lambda out, target: (out.argmax(1) == target).float().mean()}
    history = fit(model, (X, labels), epochs=2, step_fn=own_loss, val=(X, labels), metrics=accuracy, **QUIET)
    assert history.keys() == ["epoch", "xent", "val_accuracy"]
    with pytest.raises(KeyError, match=r"monitor='val_loss' is not among the logged values .*'val_accuracy'"):
        fit(model, (X, labels), epochs=2, step_fn=own_loss, val=(X, labels), metrics=accuracy, patience=2, **QUIET)


@pytest.mark.parametrize("name, mode", [("val_accuracy", "max"), ("accuracy", "max"), ("val_f1", "max"),
                                        ("val_macro_f1", "max"), ("auroc", "max"), ("val_r2", "max"),
                                        ("val_loss", "min"), ("loss", "min"), ("val_perplexity", "min"),
                                        ("neg_elbo", "min")])
def test_default_monitor_mode_follows_the_name(name, mode):
    assert default_monitor_mode(name) == mode


def _run(epochs, inject, **kwargs):
    X, y = regression_data(64)
    torch.manual_seed(0)
    model = Regressor()
    recorder = Recorder(inject)
    history = fit(model, (X, y), epochs=epochs, loss_fn=nn.MSELoss(), lr=0.01, callbacks=[recorder], **QUIET, **kwargs)
    return model, history, recorder


def test_a_maximised_monitor_stops_at_the_peak_and_restores_it():
    accuracy = [0.5, 0.7, 0.9, 0.8, 0.6, 0.4, 0.3, 0.2]
    model, history, recorder = _run(8, {"val_accuracy": accuracy}, monitor="val_accuracy", patience=2)
    assert history.best_epoch == 3 and history.stopped_early and len(history) == 5
    assert history.restored_epoch == 3 and torch.equal(weights(model), recorder.weights[3])


def test_an_explicit_monitor_mode_wins_over_the_name():
    model, history, recorder = _run(4, {"val_accuracy": [0.5, 0.7, 0.9, 0.8]}, monitor="val_accuracy",
                                    monitor_mode="min", patience=10)
    assert history.best_epoch == 1 and history.restored_epoch == 1
    with pytest.raises(ValueError, match="monitor_mode must be 'min', 'max'"):
        _run(1, {}, monitor_mode="largest")


def test_best_weights_are_restored_when_the_last_epoch_diverged_without_stopping(capsys):
    model, history, recorder = _run(5, {"val_score": [3.0, 2.0, 1.0, 2.0, math.nan]}, monitor="val_score",
                                    patience=10)
    assert not history.stopped_early and history.best_epoch == 3 and history.restored_epoch == 3
    assert torch.equal(weights(model), recorder.weights[3])
    assert "restored the weights of epoch 3, the best val_score (1)" in capsys.readouterr().out
    # without patience nothing is restored: the run keeps its last weights, as before
    model, history, recorder = _run(5, {"val_score": [3.0, 2.0, 1.0, 2.0, 5.0]}, monitor="val_score")
    assert history.best_epoch == 3 and history.restored_epoch is None
    assert torch.equal(weights(model), recorder.weights[5])


def test_plateau_scheduler_gets_the_monitored_value_after_validation():
    X, y = regression_data(64)
    model = Regressor()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="max", factor=0.5, patience=0)
    lrs = []
    fit(model, (X, y), epochs=4, loss_fn=nn.MSELoss(), optimizer=opt, scheduler=plateau, monitor="val_accuracy",
        callbacks=[Recorder({"val_accuracy": [0.5, 0.6, 0.6, 0.6]}),
                   lambda history, ctx: lrs.append(opt.param_groups[0]["lr"])], **QUIET)
    # callbacks run before the scheduler, so lrs[e] is the rate epoch e+1 trained with
    assert lrs == [0.1, 0.1, 0.1, 0.05]
    assert opt.param_groups[0]["lr"] == pytest.approx(0.025)    # halved after epochs 3 and 4
    wrong_mode = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="min")
    with pytest.raises(ValueError, match="create it with mode='max'"):
        fit(model, (X, y), epochs=1, loss_fn=nn.MSELoss(), optimizer=opt, scheduler=wrong_mode,
            monitor="val_accuracy", **QUIET)
    with pytest.raises(ValueError, match="scheduler_interval='epoch'"):
        fit(model, (X, y), epochs=1, loss_fn=nn.MSELoss(), optimizer=opt, scheduler=plateau,
            monitor="val_accuracy", scheduler_interval="step", **QUIET)


@pytest.mark.parametrize("accumulate, optimiser_steps", [(1, 8), (2, 4), (3, 3)])
def test_per_step_warm_up_advances_with_every_optimiser_step(accumulate, optimiser_steps):
    X, y = regression_data(64)
    model = Regressor()
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    warm_up = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / 10))
    fit(model, (X, y), epochs=1, loss_fn=nn.MSELoss(), optimizer=opt, scheduler=warm_up, batch_size=8,
        scheduler_interval="step", accumulate=accumulate, **QUIET)
    assert opt.param_groups[0]["lr"] == pytest.approx((optimiser_steps + 1) / 10)


def test_epoch_schedulers_of_two_optimisers():
    X, y = regression_data(32)
    model = Regressor()
    optimizers = {"body": torch.optim.SGD(model.body.parameters(), 0.1), "head": torch.optim.SGD(model.head.parameters(), 0.2)}
    schedulers = {name: torch.optim.lr_scheduler.StepLR(opt, 1, gamma=0.5) for name, opt in optimizers.items()}

    def step(batch, ctx):
        with ctx.autocast():
            loss = ctx.loss(ctx.model(batch[0]), batch[1])
        ctx.optimize(loss, "body")
        with ctx.autocast():
            loss = ctx.loss(ctx.model(batch[0]), batch[1])
        ctx.optimize(loss, "head")
        return {"loss": loss.detach()}

    fit(model, (X, y), epochs=3, loss_fn=nn.MSELoss(), step_fn=step, optimizer=optimizers, scheduler=schedulers, **QUIET)
    assert [opt.param_groups[0]["lr"] for opt in optimizers.values()] == pytest.approx([0.0125, 0.025])
    with pytest.raises(ValueError, match="not optimiser names"):
        fit(model, (X, y), epochs=1, loss_fn=nn.MSELoss(), step_fn=step, optimizer=optimizers,
            scheduler={"generator": schedulers["body"]}, **QUIET)
