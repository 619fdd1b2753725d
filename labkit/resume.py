"""Everything a training run needs to continue exactly where it stopped, and putting it back.

Saved after every epoch: the model, every optimiser and scheduler, the GradScaler, the history,
the best epoch so far (with its weights when early stopping keeps them), the global random-number
states and the training loader's own generator. A run resumed from epoch k on the same device
then repeats the uninterrupted run.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from labkit.checkpoint import CheckpointError
from labkit.history import History
from labkit.monitor import BestEpoch
from labkit.randomness import get_rng_state, set_rng_state


def _loader_generator(loader: Any) -> torch.Generator | None:
    generator = getattr(loader, "generator", None)
    return generator if isinstance(generator, torch.Generator) else None


def training_state(epoch: int, model: nn.Module, optimizers: Mapping[str, torch.optim.Optimizer],
                   schedulers: Mapping[str, Any], scaler: torch.amp.GradScaler, history: History,
                   best: BestEpoch, loader: Any) -> dict[str, Any]:
    """The state of a run at the end of ``epoch``, ready for :func:`labkit.checkpoint.save_checkpoint`."""
    generator = _loader_generator(loader)
    return {
        "epoch": epoch,
        "model": model.state_dict(),
        "optimizers": {name: opt.state_dict() for name, opt in optimizers.items()},
        "schedulers": {name: s.state_dict() for name, s in schedulers.items()},
        "scaler": scaler.state_dict(),
        "history": history.to_dict(),
        "best": best.state_dict(),
        "rng": get_rng_state(),
        "loader_generator": None if generator is None else
        {"device": str(generator.device), "state": generator.get_state()},
    }


def _same_names(what: str, saved: Mapping[str, Any], current: Mapping[str, Any]) -> None:
    if set(saved) != set(current):
        raise CheckpointError(f"the checkpoint has {what} {sorted(saved)} but this run has {sorted(current)}; "
                              "resume with the same ones (or use a new checkpoint path for a new run)")


def restore_training_state(state: Mapping[str, Any], *, model: nn.Module,
                           optimizers: Mapping[str, torch.optim.Optimizer], schedulers: Mapping[str, Any],
                           scaler: torch.amp.GradScaler, best: BestEpoch, loader: Any) -> tuple[History, list[str]]:
    """Load ``state`` into the run's objects; returns its history and notes on what could not be
    restored exactly (a checkpoint from an older labkit, or from another device)."""
    notes: list[str] = []
    if "optimizers" not in state:              # version 1: one optimiser, no random-number state
        state = {**state, "optimizers": {next(iter(optimizers), "optimizer"): state["optimizer"]},
                 "schedulers": {name: state["scheduler"] for name in schedulers} if state.get("scheduler") else {}}
        notes.append("it was written by an earlier labkit without the random-number state, so shuffling "
                     "and dropout will not repeat the interrupted run exactly")
    _same_names("optimisers", state["optimizers"], optimizers)
    _same_names("schedulers", state["schedulers"], schedulers)
    try:
        model.load_state_dict(state["model"])
        for name, opt in optimizers.items():
            opt.load_state_dict(state["optimizers"][name])
    except (RuntimeError, ValueError, KeyError) as err:
        raise CheckpointError(f"the checkpoint does not fit this model/optimiser: {err}. It was left untouched; "
                              "use a new checkpoint path for a new model.") from err
    for name, scheduler in schedulers.items():
        scheduler.load_state_dict(state["schedulers"][name])
    if state.get("scaler") and scaler.is_enabled():
        scaler.load_state_dict(state["scaler"])
    if "best" in state:
        try:
            best.load_state_dict(state["best"])
        except ValueError as err:
            raise CheckpointError(str(err)) from None
    if state.get("rng") is not None:
        notes += [f"{part} could not be restored" for part in set_rng_state(state["rng"])]
    saved, generator = state.get("loader_generator"), _loader_generator(loader)
    if saved is not None and generator is not None:
        if torch.device(saved["device"]).type == generator.device.type:
            generator.set_state(saved["state"])
        else:
            notes.append(f"the training data was shuffled on {saved['device']} and is now on "
                         f"{generator.device}: its order continues from a fresh random state")
    return History.from_dict(state["history"]), notes
