"""Callbacks, validation steps, torch.compile, the live plot's time budget, output folders."""
import pytest
import torch
from torch import nn

import labkit
from fitting import Regressor, regression_data
from labkit.checkpoint import load_checkpoint
from labkit.history import History
from labkit.liveplot import LiveLossPlot
from labkit.train import fit

QUIET = {"plot": False, "progress": False}


def test_callbacks_see_each_epoch_and_can_stop_training():
    X, y = regression_data(64)
    seen = []

    class Grid:                               # e.g. a GAN's fixed-noise samples every epoch
        def on_epoch_end(self, history, ctx):
            seen.append((history.rows[-1]["epoch"], ctx.epoch, "val_loss" in history.rows[-1]))
            if ctx.epoch == 3:
                ctx.stop_training = True

    history = fit(Regressor(), (X, y), epochs=10, loss_fn=nn.MSELoss(), val=(X, y), callbacks=[Grid()], **QUIET)
    assert seen == [(1, 1, True), (2, 2, True), (3, 3, True)]
    assert len(history) == 3 and history.stopped_early
    with pytest.raises(TypeError, match="on_epoch_end"):
        fit(Regressor(), (X, y), epochs=1, loss_fn=nn.MSELoss(), callbacks=["plot"], **QUIET)


def test_a_validation_step_for_an_objective_that_is_not_a_loss_of_outputs():
    X, _ = regression_data(64)
    autoencoder = nn.Sequential(nn.Linear(3, 2), nn.Linear(2, 3))

    def reconstruction(batch, ctx):
        (x,) = batch
        with ctx.autocast():
            loss = ((ctx.model(x) - x) ** 2).sum(1).mean()
        if torch.is_grad_enabled():
            ctx.optimize(loss)
        return {"loss": loss.detach(), "kl": torch.tensor(0.5)}

    history = fit(autoencoder, (X,), epochs=2, step_fn=reconstruction, val=(X,), val_step_fn=reconstruction,
                  lr=0.05, **QUIET)
    assert history.keys() == ["epoch", "loss", "kl", "val_loss", "val_kl"]
    assert history.last("val_kl") == pytest.approx(0.5)


def test_compiled_training_keeps_plain_checkpoints(tmp_path):
    X, y = regression_data(64)
    torch.manual_seed(0)
    model = Regressor()
    ck = tmp_path / "ck.pt"
    history = fit(model, (X, y), epochs=2, loss_fn=nn.MSELoss(), val=(X, y), checkpoint=ck,
                  compile={"backend": "aot_eager"}, **QUIET)      # inductor's C++ build is the GPU tests' job
    assert len(history) == 2 and history.last("loss") < history["loss"][0]
    saved = load_checkpoint(ck)["model"]
    assert set(saved) == set(Regressor().state_dict())          # no "_orig_mod." prefixes
    Regressor().load_state_dict(saved)                           # loadable without compile


def test_the_live_plot_takes_a_bounded_share_of_training_time(monkeypatch):
    now = [0.0]
    monkeypatch.setattr("labkit.liveplot.widget_frontend", lambda: True)

    def slow_draw(figure):                       # drawing costs 0.1 s of the fake clock
        now[0] += 0.1
        return b"\x89PNG"

    monkeypatch.setattr("labkit.liveplot.figure_png", slow_draw)
    plot = LiveLossPlot(epochs=200, mode="widget", clock=lambda: now[0])
    history = History()
    for epoch in range(1, 201):
        now[0] += 0.4                            # a 0.4 s epoch
        history.append({"epoch": epoch, "loss": 1 / epoch})
        plot.update(history)
    drawing = 0.1 * plot.draws
    assert plot.draws >= 10 and drawing / now[0] <= 0.06       # at most ~5% of the time, still live


def test_output_dir_is_one_folder_per_lab(tmp_path, monkeypatch):
    monkeypatch.setenv("LABKIT_OUTPUT_DIR", str(tmp_path / "build"))
    folder = labkit.output_dir("05_gan")
    assert folder == tmp_path / "build" / "05_gan" and folder.is_dir()
    monkeypatch.delenv("LABKIT_OUTPUT_DIR")
    monkeypatch.chdir(tmp_path)
    assert labkit.output_dir("05_gan") == tmp_path / "labkit-outputs" / "05_gan"
    with pytest.raises(ValueError, match="plain folder name"):
        labkit.output_dir("../notebooks")
