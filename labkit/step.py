"""One training step: the context a step function works with, and the default supervised steps.

A step function ``step_fn(batch, ctx)`` does its forward pass under ``ctx.autocast()``, calls
``ctx.optimize(loss, name)`` once per optimiser it updates and returns a dict of values to log.
``ctx`` takes care of the rest, the same way for every objective: loss scaling for fp16,
gradient accumulation, clipping, and one GradScaler update per iteration.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import nn

from labkit.batches import split_pair
from labkit.device import Precision
from labkit.losses import compute_loss
from labkit.running import EpochLog

StepFn = Callable[[Any, "StepContext"], Mapping[str, Any]]


class StepContext:
    """What a step function needs: the model, the optimisers, the precision and where we are.

    ``model`` is what the step should call (the compiled model with ``compile=True``);
    ``optimizers`` maps names to optimisers (one optimiser is named "optimizer"); ``epoch`` and
    ``step`` count from 1. A callback may set ``stop_training = True`` to end training after the
    current epoch; ``extra`` is a dict for a step's own state.
    """

    def __init__(self, model: nn.Module, optimizers: Mapping[str, torch.optim.Optimizer], *,
                 loss_fn: Callable | None, precision: Precision, device: torch.device, log: EpochLog,
                 grad_clip: float | None = None, accumulate: int = 1) -> None:
        self.model = model
        self.optimizers = dict(optimizers)
        self.loss_fn = loss_fn
        self.precision = precision
        self.scaler = precision.scaler()
        self.device = device
        self.grad_clip = grad_clip
        self.accumulate = accumulate
        self.epoch = 0
        self.step = 0
        self.stop_training = False
        self.extra: dict[str, Any] = {}
        self.log = log
        self._params = {name: [p for group in opt.param_groups for p in group["params"] if p.requires_grad]
                        for name, opt in self.optimizers.items()}
        self._pending = dict.fromkeys(self.optimizers, 0)   # micro-batches accumulated per optimiser
        self._scaler_stepped: set[str] = set()              # stepped through the scaler since its update
        self._shapes_checked = False

    @property
    def optimizer(self) -> torch.optim.Optimizer:
        """The optimiser, when there is exactly one."""
        if len(self.optimizers) != 1:
            raise ValueError(f"there are {len(self.optimizers)} optimisers ({', '.join(self.optimizers) or 'none'}): "
                             "use ctx.optimizers[name]")
        return next(iter(self.optimizers.values()))

    def autocast(self):
        """Context manager for the forward pass in the chosen precision."""
        return self.precision.autocast()

    def loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """``loss_fn(output, target)``; the shapes are checked on the first call only."""
        if self.loss_fn is None:
            raise ValueError("this step needs loss_fn=... (or a step function that computes its own loss)")
        if self._shapes_checked:
            return self.loss_fn(output, target)
        loss = compute_loss(self.loss_fn, output, target)      # checks the shapes first
        self._shapes_checked = True
        return loss

    def update_metrics(self, output: torch.Tensor, target: torch.Tensor) -> None:
        """Feed this batch's output and targets to the metrics passed to fit/evaluate."""
        self.log.update_metrics(output.detach(), target, self.step)

    def _name(self, optimizer: str | torch.optim.Optimizer | None) -> str:
        if optimizer is None:
            if len(self.optimizers) == 1:
                return next(iter(self.optimizers))
            raise ValueError(f"name the optimiser to step: ctx.optimize(loss, name) with name one of "
                             f"{', '.join(map(repr, self.optimizers)) or '(none: evaluation has no optimiser)'}")
        if isinstance(optimizer, str):
            if optimizer not in self.optimizers:
                raise KeyError(f"no optimiser named {optimizer!r}; the optimisers are "
                               f"{', '.join(map(repr, self.optimizers)) or 'none'}")
            return optimizer
        for name, candidate in self.optimizers.items():
            if candidate is optimizer:
                return name
        raise ValueError("ctx.optimize got an optimiser that was not passed to fit(optimizer=...)")

    def optimize(self, loss: torch.Tensor, optimizer: str | torch.optim.Optimizer | None = None) -> None:
        """Back-propagate ``loss`` into the parameters of one optimiser and step it.

        The gradient reaches only that optimiser's parameters (a GAN's generator loss leaves the
        discriminator's gradients alone). With ``accumulate=k`` the optimiser steps on every k-th
        call, with the mean of the k gradients; with fp16 the loss is scaled and the gradients
        unscaled before clipping (``grad_clip``) and stepping.
        """
        name = self._name(optimizer)
        if name in self._scaler_stepped:          # the same optimiser twice in one iteration
            self.end_iteration()
        opt, params = self.optimizers[name], self._params[name]
        if self._pending[name] == 0:
            opt.zero_grad(set_to_none=True)
        if self.accumulate > 1:
            loss = loss / self.accumulate
        self.scaler.scale(loss).backward(inputs=params or None)
        self._pending[name] += 1
        if self._pending[name] == self.accumulate:
            self._step(name)

    def _step(self, name: str) -> None:
        opt, params, accumulated = self.optimizers[name], self._params[name], self._pending[name]
        if accumulated < self.accumulate:         # a last, shorter group: its mean, not a smaller sum
            for p in params:
                if p.grad is not None:
                    p.grad.mul_(self.accumulate / accumulated)
        if self.grad_clip is not None:
            self.scaler.unscale_(opt)
            torch.nn.utils.clip_grad_norm_(params, self.grad_clip)
        self.scaler.step(opt)
        self._scaler_stepped.add(name)
        self._pending[name] = 0

    def end_iteration(self) -> None:
        """Update the GradScaler once, after every optimiser of the iteration has stepped, and only
        if one did (fit calls this after each step function)."""
        if self._scaler_stepped:
            self.scaler.update()
            self._scaler_stepped.clear()

    def flush_accumulated(self) -> None:
        """Step every optimiser that holds gradients of an unfinished accumulation group."""
        for name, accumulated in self._pending.items():
            if accumulated:
                self._step(name)
        self.end_iteration()


def supervised_step(batch: Any, ctx: StepContext) -> dict[str, torch.Tensor]:
    """The default training step: forward, ``loss_fn(model(x), y)``, backward, optimiser step."""
    x, y = split_pair(batch)
    with ctx.autocast():
        output = ctx.model(x)
        loss = ctx.loss(output, y)
    ctx.optimize(loss)
    ctx.update_metrics(output, y)
    return {"loss": loss.detach()}


def supervised_val_step(batch: Any, ctx: StepContext) -> dict[str, torch.Tensor]:
    """The default validation step: the loss (when there is a loss_fn) and the metrics."""
    x, y = split_pair(batch)
    with ctx.autocast():
        output = ctx.model(x)
        logged = {"loss": ctx.loss(output, y)} if ctx.loss_fn is not None else {}
    ctx.update_metrics(output, y)
    return logged
