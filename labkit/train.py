"""fit(): one training loop for every lab.

The default step is supervised learning (``loss_fn(model(x), y)``). Labs with other objectives
(GANs with two optimisers, masked language modelling) pass ``step_fn(batch, ctx)``, which does
its own forward pass and calls ``ctx.optimize(loss, optimizer)``; fit() keeps the rest: devices,
mixed precision, progress, the live plot, the NaN guard, early stopping and checkpoints.
"""
from __future__ import annotations

import copy
import math
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from labkit.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from labkit.data.loader import DeviceLoader
from labkit.device import Precision, get_device, precision_policy
from labkit.history import History
from labkit.liveplot import LiveLossPlot
from labkit.progress import progress_bar

Batch = tuple[torch.Tensor, ...]
StepFn = Callable[[Batch, "StepContext"], Mapping[str, Any]]
MetricFn = Callable[[torch.Tensor, torch.Tensor], Any]

_ELEMENTWISE_LOSSES = (nn.MSELoss, nn.L1Loss, nn.SmoothL1Loss, nn.HuberLoss, nn.BCELoss, nn.BCEWithLogitsLoss)
_ELEMENTWISE_FUNCTIONS = (F.mse_loss, F.l1_loss, F.smooth_l1_loss, F.huber_loss, F.binary_cross_entropy,
                          F.binary_cross_entropy_with_logits)
_CLASS_INDEX_LOSSES = (nn.CrossEntropyLoss, nn.NLLLoss)


class NonFiniteLossError(FloatingPointError):
    """The loss (or another logged value) became NaN or infinite during training."""


class ShapeMismatchError(ValueError):
    """Model outputs and targets have shapes the loss cannot pair up correctly."""


def check_loss_shapes(loss_fn: Callable, output: torch.Tensor, target: torch.Tensor) -> None:
    """Reject output/target shapes that would fail, or silently broadcast into a wrong loss."""
    out, tgt = tuple(output.shape), tuple(target.shape)
    name = getattr(loss_fn, "__name__", type(loss_fn).__name__)
    if out and tgt and out[0] != tgt[0]:
        raise ShapeMismatchError(f"the model output has shape {out} but the targets have shape {tgt}: "
                                 f"the batch sizes {out[0]} and {tgt[0]} differ")
    if (isinstance(loss_fn, _ELEMENTWISE_LOSSES) or loss_fn in _ELEMENTWISE_FUNCTIONS) and out != tgt:
        if out == tgt + (1,):
            hint = "Return output.squeeze(-1) from the model, or pass targets as y.unsqueeze(-1)."
        elif tgt == out + (1,):
            hint = "Pass targets as y.squeeze(-1), or return output.unsqueeze(-1) from the model."
        else:
            hint = "Reshape one of them so both have the same shape."
        raise ShapeMismatchError(f"{name} compares output and target element by element, but the model "
                                 f"output has shape {out} and the targets have shape {tgt}; broadcasting "
                                 f"would silently compute the wrong loss. {hint}")
    if isinstance(loss_fn, _CLASS_INDEX_LOSSES) and target.is_floating_point() and len(out) == len(tgt) + 1:
        raise ShapeMismatchError(f"{name} needs integer class labels for targets of shape {tgt}, but they are "
                                 f"{target.dtype}: convert them with y.long()")
    if isinstance(loss_fn, _CLASS_INDEX_LOSSES) and not target.is_floating_point() and len(out) != len(tgt) + 1:
        raise ShapeMismatchError(f"{name} expects scores of shape (N, C) and integer class labels of shape "
                                 f"(N,), but the model output has shape {out} and the targets {tgt}")


def compute_loss(loss_fn: Callable, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``loss_fn(output, target)`` after a shape check; errors name both shapes."""
    check_loss_shapes(loss_fn, output, target)
    try:
        return loss_fn(output, target)
    except RuntimeError as err:
        raise ShapeMismatchError(f"the loss failed on model output {tuple(output.shape)} "
                                 f"(dtype {output.dtype}) and targets {tuple(target.shape)} "
                                 f"(dtype {target.dtype}): {err}") from err


@dataclass
class StepContext:
    """What a step function needs: the model, optimiser, precision and where we are."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    loss_fn: Callable | None
    metrics: Mapping[str, MetricFn]
    device: torch.device
    precision: Precision
    scaler: torch.amp.GradScaler
    grad_clip: float | None = None
    epoch: int = 0
    step: int = 0
    extra: dict = field(default_factory=dict)

    def autocast(self):
        """Context manager for the forward pass in the chosen precision."""
        return self.precision.autocast()

    def optimize(self, loss: torch.Tensor, optimizer: torch.optim.Optimizer | None = None) -> None:
        """zero_grad, backward (scaled for fp16), optional gradient clipping, optimiser step."""
        optimizer = optimizer or self.optimizer
        optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if self.grad_clip is not None:
            self.scaler.unscale_(optimizer)
            params = [p for group in optimizer.param_groups for p in group["params"]]
            torch.nn.utils.clip_grad_norm_(params, self.grad_clip)
        self.scaler.step(optimizer)


def _split(batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
    if not isinstance(batch, (tuple, list)) or len(batch) != 2:
        raise ValueError("the default training step expects batches (inputs, targets); "
                         f"got {type(batch).__name__} of length {len(batch) if hasattr(batch, '__len__') else '?'}. "
                         "Pass step_fn=... for other batch layouts.")
    return batch[0], batch[1]


def supervised_step(batch: Batch, ctx: StepContext) -> dict[str, torch.Tensor]:
    """The default step: forward, loss, backward, optimiser step."""
    x, y = _split(batch)
    with ctx.autocast():
        output = ctx.model(x)
        loss = compute_loss(ctx.loss_fn, output, y)
    ctx.optimize(loss)
    logged = {"loss": loss.detach()}
    with torch.no_grad():
        for name, fn in ctx.metrics.items():
            logged[name] = fn(output.detach().float(), y)
    return logged


@torch.no_grad()
def evaluate(model: nn.Module, data: Iterable[Batch], loss_fn: Callable | None = None,
             metrics: Mapping[str, MetricFn] | None = None, *, precision: Precision | None = None,
             device: str | torch.device | None = None) -> dict[str, float]:
    """Average loss and metrics over ``data`` (weighted by batch size), in eval mode."""
    device = _model_device(model) if device is None else get_device(device)
    precision = precision or Precision(device.type, None)
    was_training = model.training
    model.eval()
    totals: dict[str, torch.Tensor] = {}
    count = 0
    try:
        for batch in data:
            x, y = _split(_to_device(batch, device))
            with precision.autocast():
                output = model(x)
                values = {"loss": compute_loss(loss_fn, output, y)} if loss_fn is not None else {}
            for name, fn in (metrics or {}).items():
                values[name] = fn(output.float(), y)
            n = len(y)
            for name, value in values.items():
                totals[name] = totals.get(name, 0.0) + torch.as_tensor(value, device=device).float() * n
            count += n
    finally:
        model.train(was_training)
    if count == 0:
        raise ValueError("evaluation data is empty")
    return {name: float(total) / count for name, total in totals.items()}


def _model_device(model: nn.Module) -> torch.device:
    param = next(iter(model.parameters()), None)
    return param.device if param is not None else get_device()


def _to_device(batch: Any, device: torch.device) -> Any:
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, (tuple, list)):
        return tuple(_to_device(b, device) for b in batch)
    return batch


def _as_batches(data: Any, name: str, batch_size: int, shuffle: bool, device: torch.device) -> Iterable:
    if isinstance(data, (tuple, list)) and data and all(isinstance(t, torch.Tensor) for t in data):
        return DeviceLoader(*data, batch_size=batch_size, shuffle=shuffle, device=device)
    if isinstance(data, Iterable) and not isinstance(data, (str, bytes, torch.Tensor)):
        return data
    raise TypeError(f"{name} must be a DeviceLoader, a DataLoader or a tuple (X, y) of tensors, "
                    f"got {type(data).__name__}")


def _batch_size(batch: Any) -> int:
    first = batch[0] if isinstance(batch, (tuple, list)) else batch
    return len(first) if hasattr(first, "__len__") else 1


def _current_lr(optimizer: torch.optim.Optimizer) -> float:
    return float(optimizer.param_groups[0]["lr"])


def fit(model: nn.Module, train: Any, *, epochs: int, loss_fn: Callable | None = None,
        optimizer: torch.optim.Optimizer | None = None, lr: float = 1e-3, val: Any = None,
        metrics: Mapping[str, MetricFn] | None = None, batch_size: int = 64,
        device: str | torch.device | None = None, precision: str = "auto",
        step_fn: StepFn | None = None, scheduler: Any = None, grad_clip: float | None = None,
        patience: int | None = None, monitor: str | None = None, restore_best: bool = True,
        checkpoint: str | os.PathLike | None = None, resume: bool = False,
        plot: str | bool = "auto", progress: bool = True) -> History:
    """Train ``model`` for ``epochs`` epochs and return its :class:`History`.

    train, val      a DeviceLoader, a DataLoader, or a tuple ``(X, y)`` of tensors (batched with
                    ``batch_size``; train shuffled each epoch).
    loss_fn         e.g. ``nn.MSELoss()``; shapes are checked so a (N, 1) vs (N,) slip is an error.
    optimizer       default ``torch.optim.Adam(model.parameters(), lr=lr)``.
    metrics         ``{"accuracy": fn(output, target)}``: logged per epoch on the training batches
                    (as the weights change during the epoch) and on the validation data ("val_...").
    device          default: where the model's parameters are.
    precision       "auto" (bf16 on recent CUDA GPUs, fp16 + GradScaler on older ones, fp32 on
                    CPU), or "fp32" / "bf16" / "fp16".
    step_fn         ``step_fn(batch, ctx) -> {"loss": ..., ...}`` replaces the supervised step.
    patience        stop after this many epochs without improvement of ``monitor`` (default
                    "val_loss" when there is validation data, else "loss"); with ``restore_best``
                    the best weights are put back.
    checkpoint      a path saved (atomically) after every epoch; ``resume=True`` continues from it.
    plot            "auto" (live plot in JupyterLab, lines elsewhere), "widget", "text" or False.

    Raises :class:`NonFiniteLossError` naming the epoch and step if a logged value becomes NaN or
    infinite, and :class:`ShapeMismatchError` if outputs and targets do not fit the loss.
    """
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be a positive integer, got {epochs!r}")
    if patience is not None and (isinstance(patience, bool) or not isinstance(patience, int) or patience < 1):
        raise ValueError(f"patience must be a positive integer or None, got {patience!r}")
    if step_fn is None and loss_fn is None:
        raise ValueError("fit needs a loss: pass loss_fn=nn.MSELoss() for regression or "
                         "nn.CrossEntropyLoss() for classification (or a custom step_fn)")
    if val is not None and loss_fn is None and not metrics:
        raise ValueError("validation needs loss_fn or metrics to measure anything")
    if resume and checkpoint is None:
        raise ValueError("resume=True needs checkpoint=PATH to resume from")

    dev = get_device(device) if device is not None else _model_device(model)
    model.to(dev)
    policy = precision_policy(dev, precision)
    optimizer = optimizer or torch.optim.Adam(model.parameters(), lr=lr)
    ctx = StepContext(model, optimizer, loss_fn, dict(metrics or {}), dev, policy, policy.scaler(), grad_clip)
    step = step_fn or supervised_step
    train_batches = _as_batches(train, "train", batch_size, True, dev)
    val_batches = _as_batches(val, "val", batch_size, False, dev) if val is not None else None
    monitor = monitor or ("val_loss" if val_batches is not None else "loss")

    history, start_epoch = History(), 0
    best_value, best_epoch, best_state, waited = math.inf, None, None, 0
    if checkpoint is not None and resume and Path(checkpoint).exists():
        state = load_checkpoint(checkpoint, map_location=dev)
        try:
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
        except (RuntimeError, ValueError, KeyError) as err:
            raise CheckpointError(f"checkpoint {checkpoint} does not fit this model/optimizer: {err}. "
                                  "It was left untouched; use a new checkpoint path for a new model.") from err
        if state.get("scaler"):
            ctx.scaler.load_state_dict(state["scaler"])
        if scheduler is not None and state.get("scheduler"):
            scheduler.load_state_dict(state["scheduler"])
        history = History.from_dict(state["history"])
        start_epoch = int(state["epoch"])
        best_value, best_epoch, waited = state["best_value"], state["best_epoch"], state["waited"]
        best_state = state.get("best_model")
        print(f"resumed from {checkpoint} after epoch {start_epoch}")
    elif resume:
        print(f"no checkpoint at {checkpoint} yet: starting from epoch 1")

    steps_per_epoch = len(train_batches) if hasattr(train_batches, "__len__") else None
    sync_every = 50 if dev.type == "cuda" else 1        # reading values back stalls a GPU; batch it
    live = LiveLossPlot(epochs, plot)
    bar = progress_bar(total=steps_per_epoch * (epochs - start_epoch) if steps_per_epoch else None,
                       desc="training", unit="step", disable=not progress, leave=False)
    message = ""

    def flush(pending: list, sums: dict[str, float], epoch: int) -> int:
        """Read logged values back, stop on NaN/Inf, add them to the epoch sums; returns samples."""
        if not pending:
            return 0
        for key in pending[0][2]:
            values = torch.stack([torch.as_tensor(out[key], device=dev).detach().float().reshape(())
                                  for _, _, out in pending]).cpu().tolist()
            for (step_no, n, _), value in zip(pending, values):
                if not math.isfinite(value):
                    kept = f" The checkpoint {checkpoint} still holds epoch {epoch - 1}." if checkpoint and epoch > 1 else ""
                    lr_now = _current_lr(optimizer)
                    raise NonFiniteLossError(
                        f"{key} became {value} at epoch {epoch}, step {step_no}"
                        f"{f' of {steps_per_epoch}' if steps_per_epoch else ''}; training stopped.{kept} "
                        f"The usual cause is a learning rate that is too large (it is {lr_now:g}): try "
                        f"{lr_now / 10:g}. Unnormalised inputs and log(0) in a custom loss are the other "
                        "common causes.")
                sums[key] = sums.get(key, 0.0) + value * n
        samples = sum(n for _, n, _ in pending)
        pending.clear()
        return samples

    try:
        for epoch in range(start_epoch + 1, epochs + 1):
            model.train()
            ctx.epoch = epoch
            sums: dict[str, float] = {}
            pending: list = []
            seen = 0
            for i, batch in enumerate(train_batches, start=1):
                ctx.step = i
                batch = _to_device(batch, dev)
                logged = step(batch, ctx)
                ctx.scaler.update()
                if not isinstance(logged, Mapping) or not logged:
                    raise TypeError("a step function must return a dict of logged values, e.g. {'loss': loss}")
                pending.append((i, _batch_size(batch), logged))
                if len(pending) >= sync_every:
                    seen += flush(pending, sums, epoch)
                bar.update(1)
            seen += flush(pending, sums, epoch)
            if seen == 0:
                raise ValueError("the training data produced no batches; is it empty?")
            row = {"epoch": epoch, **{k: v / seen for k, v in sums.items()}}
            if scheduler is not None:
                scheduler.step()
            if val_batches is not None:
                scores = evaluate(model, val_batches, loss_fn, metrics, precision=policy, device=dev)
                row.update({f"val_{k}": v for k, v in scores.items()})
            history.append(row)
            if monitor not in row:
                raise KeyError(f"monitor={monitor!r} is not among the logged values {list(row)}")
            if row[monitor] < best_value:
                best_value, best_epoch, waited = row[monitor], epoch, 0
                if patience is not None and restore_best:
                    best_state = copy.deepcopy(model.state_dict())
            else:
                waited += 1
            history.best_epoch = best_epoch
            if checkpoint is not None:
                save_checkpoint(checkpoint, {
                    "epoch": epoch, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                    "scaler": ctx.scaler.state_dict(),
                    "scheduler": scheduler.state_dict() if scheduler is not None else None,
                    "history": history.to_dict(), "best_value": best_value, "best_epoch": best_epoch,
                    "waited": waited, "best_model": best_state})
            bar.set_postfix({k: f"{v:.4g}" for k, v in row.items() if k != "epoch"}, refresh=False)
            live.update(history)
            if patience is not None and waited >= patience:
                history.stopped_early = True
                message = (f"early stopping after epoch {epoch}: {monitor} has not improved for {patience} "
                           f"epochs (best {best_value:.4g} at epoch {best_epoch})")
                break
    finally:
        bar.close()
    if history.stopped_early and restore_best and best_state is not None:
        model.load_state_dict(best_state)
        message += "; restored the best weights"
    live.close(history, message)
    return history
