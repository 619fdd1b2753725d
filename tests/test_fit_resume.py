"""Resuming from a checkpoint continues the same run: same weights as the uninterrupted one."""
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import labkit
from fitting import Regressor, regression_data, weights
from labkit.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from labkit.data import DeviceLoader
from labkit.train import fit

QUIET = {"plot": False, "progress": False}


def _supervised(ck, epochs, resume):
    """Dropout, a DataLoader shuffled by the global RNG, Adam and a per-epoch StepLR."""
    X, y = regression_data(96)
    labkit.seed_everything(7 if not resume else 99)       # a resumed run starts from other random state
    model = Regressor(dropout=0.3)
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    loader = DataLoader(TensorDataset(X, y), batch_size=16, shuffle=True)
    history = fit(model, loader, epochs=epochs, loss_fn=nn.MSELoss(), optimizer=opt, val=(X, y), patience=10,
                  scheduler=torch.optim.lr_scheduler.StepLR(opt, 1, gamma=0.8), checkpoint=ck, resume=resume, **QUIET)
    return model, history


def _two_optimisers(ck, epochs, resume):
    """Two optimisers with per-step schedulers, accumulation, a seeded DeviceLoader, dropout."""
    X, y = regression_data(80)
    labkit.seed_everything(3 if not resume else 42)
    model = Regressor(dropout=0.2)
    optimizers = {"body": torch.optim.SGD(model.body.parameters(), lr=0.05, momentum=0.9),
                  "head": torch.optim.AdamW(model.head.parameters(), lr=0.01)}
    schedulers = {name: torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / 6))
                  for name, opt in optimizers.items()}

    def step(batch, ctx):
        for name in ("body", "head"):
            with ctx.autocast():
                loss = ctx.loss(ctx.model(batch[0]), batch[1])
            ctx.optimize(loss, name)
        return {"loss": loss.detach()}

    history = fit(model, DeviceLoader(X, y, batch_size=8, seed=5), epochs=epochs, loss_fn=nn.MSELoss(),
                  step_fn=step, optimizer=optimizers, scheduler=schedulers, scheduler_interval="step",
                  accumulate=3, checkpoint=ck, resume=resume, **QUIET)
    return model, history


@pytest.mark.parametrize("run", [_supervised, _two_optimisers])
def test_resume_reproduces_the_uninterrupted_run(run, tmp_path):
    whole, whole_history = run(tmp_path / "whole.pt", 4, resume=False)
    run(tmp_path / "split.pt", 2, resume=False)                       # "interrupted" after epoch 2
    resumed, resumed_history = run(tmp_path / "split.pt", 4, resume=True)
    assert resumed_history["epoch"] == [1, 2, 3, 4]
    assert torch.allclose(weights(resumed), weights(whole), atol=1e-6, rtol=0)
    assert resumed_history["loss"] == pytest.approx(whole_history["loss"], rel=1e-6)


def test_a_new_run_over_an_existing_checkpoint_says_it_replaces_it(tmp_path, capsys):
    ck = tmp_path / "ck.pt"
    _supervised(ck, 2, resume=False)
    capsys.readouterr()
    _supervised(ck, 1, resume=False)            # re-running the notebook cell keeps working
    assert f"{ck} holds epoch 2 of an earlier run: this new run replaces it" in capsys.readouterr().out
    assert load_checkpoint(ck)["epoch"] == 1
    ck.write_bytes(b"not a checkpoint")                # a damaged file does not stop a new run either
    _supervised(ck, 1, resume=False)
    assert "exists but is not a readable labkit checkpoint" in capsys.readouterr().out
    assert load_checkpoint(ck)["epoch"] == 1


def test_resume_with_other_optimisers_is_refused_and_the_file_kept(tmp_path):
    ck = tmp_path / "ck.pt"
    _two_optimisers(ck, 1, resume=False)
    before = ck.read_bytes()
    X, y = regression_data(16)
    with pytest.raises(CheckpointError, match=r"optimisers \['body', 'head'\] but this run has \['optimizer'\]"):
        fit(Regressor(), (X, y), epochs=2, loss_fn=nn.MSELoss(), checkpoint=ck, resume=True, **QUIET)
    assert ck.read_bytes() == before


def test_checkpoints_of_the_first_format_still_resume(tmp_path, capsys):
    X, y = regression_data(32)
    model = Regressor()
    opt = torch.optim.Adam(model.parameters())
    ck = tmp_path / "v1.pt"
    save_checkpoint(ck, {"epoch": 1, "model": model.state_dict(), "optimizer": opt.state_dict(), "scaler": {},
                         "scheduler": None, "history": {"rows": [{"epoch": 1, "loss": 9.0}]},
                         "best_value": 9.0, "best_epoch": 1, "waited": 0, "best_model": None})
    payload = torch.load(ck, weights_only=True)
    payload["version"] = 1
    torch.save(payload, ck)
    history = fit(Regressor(), (X, y), epochs=2, loss_fn=nn.MSELoss(), checkpoint=ck, resume=True, **QUIET)
    assert history["epoch"] == [1, 2]
    assert "without the random-number state" in capsys.readouterr().out
