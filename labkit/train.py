"""fit(): one training loop for every lab, and evaluate().

The default step is supervised learning (``loss_fn(model(x), y)``). Other objectives pass
``step_fn(batch, ctx)`` (and ``val_step_fn``): a VAE returns its ELBO terms, a GAN steps two
optimisers with ``ctx.optimize(d_loss, "d")`` and ``ctx.optimize(g_loss, "g")``, a masked language
model returns its loss with the number of masked tokens as ``"count"``. fit() keeps the rest:
devices, mixed precision, accumulation, schedulers, progress, the live plot, the NaN guard,
early stopping, callbacks and checkpoints with exact resume.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from labkit.arguments import check_positive_int
from labkit.batches import DeviceMismatchError, as_batches, batch_size as count_examples, move_batch  # noqa: F401
from labkit.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from labkit.device import Precision, get_device, precision_policy
from labkit.history import History
from labkit.liveplot import LiveLossPlot
from labkit.losses import ShapeMismatchError, compute_loss  # noqa: F401  (part of labkit.train's API)
from labkit.monitor import BestEpoch
from labkit.progress import progress_bar
from labkit.resume import restore_training_state, training_state
from labkit.running import EpochLog, NonFiniteValue
from labkit.step import StepContext, StepFn, supervised_step, supervised_val_step

SCHEDULER_INTERVALS = ("epoch", "step")
# Logged values stay on the device; a device-side flag of non-finite values is read every this
# many steps (and at each epoch's end): one host sync per NAN_CHECK_EVERY steps instead of one per step.
NAN_CHECK_EVERY = 50
_Plateau = torch.optim.lr_scheduler.ReduceLROnPlateau


class NonFiniteLossError(FloatingPointError):
    """The loss (or another logged value) became NaN or infinite during training."""


def _model_device(model: nn.Module) -> torch.device:
    param = next(iter(model.parameters()), None)
    return param.device if param is not None else get_device()


def _policy(precision: str | Precision | None, device: torch.device) -> Precision:
    return precision if isinstance(precision, Precision) else precision_policy(device, precision or "auto")


def _describe_checkpoint(path: str | os.PathLike) -> str:
    """"holds epoch 3 of an earlier run", or what else the file at ``path`` is."""
    try:
        return f"holds epoch {load_checkpoint(path)['epoch']} of an earlier run"
    except CheckpointError:
        return "exists but is not a readable labkit checkpoint"


def _named_optimizers(optimizer: Any, model: nn.Module, lr: float, device: torch.device) -> dict[str, torch.optim.Optimizer]:
    if optimizer is None:       # fused kernels on CUDA: one launch per step, and no host sync with fp16
        return {"optimizer": torch.optim.Adam(model.parameters(), lr=lr, fused=device.type == "cuda")}
    optimizers = dict(optimizer) if isinstance(optimizer, Mapping) else {"optimizer": optimizer}
    for name, opt in optimizers.items():
        if not isinstance(name, str) or not isinstance(opt, torch.optim.Optimizer):
            raise TypeError("optimizer must be a torch.optim.Optimizer or a dict {name: optimizer}, e.g. "
                            f"{{'g': Adam(G.parameters()), 'd': Adam(D.parameters())}}; got {name!r}: {type(opt).__name__}")
    if not optimizers:
        raise ValueError("optimizer={} holds no optimiser")
    return optimizers


def _named_schedulers(scheduler: Any, optimizers: Mapping[str, torch.optim.Optimizer]) -> dict[str, Any]:
    """{optimiser name: scheduler}, each scheduler checked to belong to that optimiser."""
    if scheduler is None:
        return {}
    if isinstance(scheduler, Mapping):
        unknown = set(scheduler) - set(optimizers)
        if unknown:
            raise ValueError(f"scheduler names {sorted(unknown)} are not optimiser names ({', '.join(optimizers)}): "
                             "key each scheduler by the name of the optimiser it drives")
        named = dict(scheduler)
    else:
        owner = [name for name, opt in optimizers.items() if getattr(scheduler, "optimizer", None) is opt]
        if not owner:
            raise ValueError("the scheduler drives an optimiser that was not passed to fit(optimizer=...)")
        named = {owner[0]: scheduler}
    for name, sched in named.items():
        if getattr(sched, "optimizer", None) is not optimizers[name]:
            raise ValueError(f"scheduler {name!r} does not drive optimiser {name!r}")
    return named


def _check_plateau(schedulers: Mapping[str, Any], interval: str, best: BestEpoch) -> None:
    for name, sched in schedulers.items():
        if not isinstance(sched, _Plateau):
            continue
        if interval == "step":
            raise ValueError("ReduceLROnPlateau needs the monitored value of each epoch: use "
                             "scheduler_interval='epoch' (or a per-step scheduler such as OneCycleLR)")
        if sched.mode != best.mode:
            raise ValueError(f"ReduceLROnPlateau(mode={sched.mode!r}) would lower the learning rate while "
                             f"{best.monitor!r} (monitor_mode={best.mode!r}) improves: create it with mode={best.mode!r}")


def _callback(callback: Any) -> Callable[[History, StepContext], None]:
    if callable(getattr(callback, "on_epoch_end", None)):
        return callback.on_epoch_end
    if callable(callback):
        return callback
    raise TypeError(f"a callback is an object with on_epoch_end(history, ctx), or a function (history, ctx); "
                    f"got {type(callback).__name__}")


def _count_and_values(logged: Any, batch: Any, allow_empty: bool = False) -> tuple[Any, dict[str, Any]]:
    if not isinstance(logged, Mapping) or not (logged or allow_empty):
        raise TypeError("a step function must return a dict of logged values, e.g. {'loss': loss} "
                        "(and optionally 'count': the examples or tokens they average over)")
    values = {k: v for k, v in logged.items() if k != "count"}
    return (logged["count"] if "count" in logged else count_examples(batch)), values


def _run_validation(ctx: StepContext, batches: Iterable, step: StepFn, log: EpochLog) -> dict[str, float]:
    """Run ``step`` over ``batches`` in eval mode without gradients; returns the means and metrics."""
    train_log, was_training = ctx.log, ctx.model.training
    ctx.log = log
    log.reset()
    ctx.model.eval()
    try:
        with torch.no_grad():
            seen = 0
            for seen, batch in enumerate(batches, start=1):
                batch = move_batch(batch, ctx.device)
                count, values = _count_and_values(step(batch, ctx), batch, allow_empty=True)
                log.log(values, count, seen)
        if seen == 0:
            raise ValueError("the evaluation data produced no batches; is it empty?")
        scores = log.result(check_finite=False)
    finally:
        ctx.log = train_log
        ctx.model.train(was_training)
    if not scores:
        raise ValueError("evaluation measured nothing: pass loss_fn or metrics (or a val_step_fn that "
                         "returns values)")
    return scores


@torch.no_grad()
def evaluate(model: nn.Module, data: Any, loss_fn: Callable | None = None,
             metrics: Mapping[str, Any] | None = None, *, step_fn: StepFn | None = None,
             precision: str | Precision = "auto", device: str | torch.device | None = None,
             batch_size: int = 256) -> dict[str, float]:
    """Mean loss and metrics of ``model`` over ``data``, in eval mode, without gradients.

    ``data`` is anything ``fit`` accepts: a tuple ``(X, y)`` of tensors, a DeviceLoader, a
    DataLoader or a list of batches. Means are weighted by batch size (or by the ``"count"`` a
    ``step_fn`` returns). ``precision`` follows the same rule as ``fit``: "auto" is the device's
    policy (bf16 autocast on recent GPUs, fp32 on the CPU), so evaluating on its own gives the
    numbers fit's validation gave; pass precision="fp32" for full precision everywhere.
    """
    dev = get_device(device) if device is not None else _model_device(model)
    check_positive_int(batch_size, "batch_size")
    if loss_fn is None and not metrics and step_fn is None:
        raise ValueError("evaluate needs loss_fn, metrics or step_fn to measure anything")
    log = EpochLog(metrics).to(dev)
    ctx = StepContext(model, {}, loss_fn=loss_fn, precision=_policy(precision, dev), device=dev, log=log)
    return _run_validation(ctx, as_batches(data, "data", batch_size, False, dev), step_fn or supervised_val_step, log)


def fit(model: nn.Module, train: Any, *, epochs: int, loss_fn: Callable | None = None,
        optimizer: torch.optim.Optimizer | Mapping[str, torch.optim.Optimizer] | None = None,
        lr: float = 1e-3, val: Any = None, metrics: Mapping[str, Any] | None = None, batch_size: int = 64,
        device: str | torch.device | None = None, precision: str = "auto",
        step_fn: StepFn | None = None, val_step_fn: StepFn | None = None,
        scheduler: Any = None, scheduler_interval: str = "epoch", accumulate: int = 1,
        grad_clip: float | None = None, patience: int | None = None, monitor: str | None = None,
        monitor_mode: str | None = None, restore_best: bool = True, callbacks: Iterable[Any] = (),
        checkpoint: str | os.PathLike | None = None, resume: bool = False, compile: bool | dict = False,
        plot: str | bool = "auto", progress: bool = True) -> History:
    """Train ``model`` for ``epochs`` epochs and return its :class:`History` (one row per epoch).

    **Data**

    ``train``, ``val``
        a tuple ``(X, y)`` of tensors (batched by ``batch_size``; train reshuffled
        each epoch), a DeviceLoader, a DataLoader or any iterable of batches. A batch
        may be a tensor, tuple, named tuple or dict of tensors (moved to the device).
    ``device``
        default: where the model's parameters are. CPU batches are copied there;
        data already on another device is an error (DeviceMismatchError).

    **Objective**

    ``loss_fn``
        e.g. ``nn.CrossEntropyLoss()``; shapes are checked on the first batch, so a
        (N, 1) vs (N,) slip is an error, not a silently wrong loss.
    ``step_fn``
        ``step_fn(batch, ctx) -> {"loss": ..., ...}`` replaces the supervised step;
        it calls ``ctx.optimize(loss, name)``. A ``"count"`` entry weights the epoch
        means (e.g. masked tokens); else the first tensor's batch size does.
    ``val_step_fn``
        the same for validation (runs without gradients, in eval mode).
    ``metrics``
        ``{"accuracy": fn(output, target)}`` (averaged over batches: exact for
        per-example means) or metric objects with update/compute/reset
        (``labkit.metrics.F1Score(10)``, torchmetrics): exact over the epoch. Logged
        on the training batches and on ``val`` ("val_accuracy").

    **Optimisation**

    ``optimizer``
        one optimiser, or a dict ``{"g": opt_g, "d": opt_d}``; default Adam(lr),
        fused on CUDA.
    ``scheduler``
        one scheduler, or a dict keyed by optimiser name. ``scheduler_interval``
        "epoch" steps it after validation (ReduceLROnPlateau gets the monitored
        value), "step" after every optimiser step (warm-up).
    ``accumulate``
        step every ``accumulate`` batches with their mean gradient: for a mean loss,
        the same update as one batch that many times larger.
    ``grad_clip``
        clip the gradient norm (after unscaling, with fp16).
    ``precision``
        "auto" (bf16 on CUDA GPUs of compute capability >= 8.0, fp16 + GradScaler on
        7.x, fp32 below and on CPU/MPS), or "fp32", "bf16", "fp16" (CPU included).
    ``compile``
        True (or a dict of torch.compile options) compiles the model for the steps;
        checkpoints keep the plain model's parameter names.

    **Best epoch and stopping**

    ``monitor``
        default "val_loss" with validation, else "loss"; only looked up when
        ``patience`` or ReduceLROnPlateau needs it.
    ``monitor_mode``
        "min" or "max"; default "max" for names containing accuracy, precision,
        recall, f1, auc or r2, else "min" (log an ELBO as a loss, -ELBO, to minimise).
    ``patience``
        stop after that many epochs without improvement. With ``restore_best``
        the best epoch's weights are put back at the end, stopped early or not
        (``history.restored_epoch`` says which).
    ``callbacks``
        objects with ``on_epoch_end(history, ctx)`` (or such functions), called after
        validation; they may add values to ``history.rows[-1]`` or set
        ``ctx.stop_training = True``.

    **Files and display**

    ``checkpoint``
        a path saved atomically after every epoch (model, optimisers, schedulers,
        scaler, history, best epoch, random-number states); ``resume=True``
        continues from it and repeats the uninterrupted run. Without ``resume`` an
        existing file is replaced after the first epoch (fit says so).
    ``plot``
        "auto" (live plot in JupyterLab, lines elsewhere), "widget", "text" or False.

    Examples::

        fit(model, (X, y), epochs=20, loss_fn=nn.MSELoss(), val=(X_val, y_val), patience=3)
        fit(model, loader, epochs=10, loss_fn=nn.CrossEntropyLoss(), metrics={"f1": F1Score(10)},
            monitor="val_f1")                                    # maximised, from its name
        fit(gan, loader, epochs=5, step_fn=gan_step, optimizer={"g": opt_g, "d": opt_d})
        fit(bert, loader, epochs=1, step_fn=mlm_step, scheduler=warmup, scheduler_interval="step",
            accumulate=4, precision="bf16", checkpoint=labkit.output_dir("07_bert") / "mlm.pt")

    Raises :class:`NonFiniteLossError` naming the value, epoch and step when a logged value
    becomes NaN or infinite, and :class:`ShapeMismatchError` if outputs and targets do not fit.
    """
    check_positive_int(epochs, "epochs")
    check_positive_int(batch_size, "batch_size")
    check_positive_int(accumulate, "accumulate")
    if patience is not None:
        check_positive_int(patience, "patience")
    if scheduler_interval not in SCHEDULER_INTERVALS:
        raise ValueError(f"scheduler_interval must be 'epoch' or 'step', got {scheduler_interval!r}")
    if grad_clip is not None and not grad_clip > 0:
        raise ValueError(f"grad_clip is a maximum gradient norm and must be positive, got {grad_clip!r}")
    if step_fn is None and loss_fn is None:
        raise ValueError("fit needs a loss: pass loss_fn=nn.MSELoss() for regression or "
                         "nn.CrossEntropyLoss() for classification (or a custom step_fn)")
    if val is not None and loss_fn is None and not metrics and val_step_fn is None:
        raise ValueError("validation needs loss_fn, metrics or val_step_fn to measure anything")
    if resume and checkpoint is None:
        raise ValueError("resume=True needs checkpoint=PATH to resume from")
    callback_fns = [_callback(c) for c in callbacks]

    dev = get_device(device) if device is not None else _model_device(model)
    model.to(dev)
    optimizers = _named_optimizers(optimizer, model, lr, dev)
    schedulers = _named_schedulers(scheduler, optimizers)
    train_batches = as_batches(train, "train", batch_size, True, dev)
    val_batches = as_batches(val, "val", batch_size, False, dev) if val is not None else None
    monitor = monitor or ("val_loss" if val_batches is not None else "loss")
    best = BestEpoch(monitor, monitor_mode, patience, keep_weights=patience is not None and restore_best)
    _check_plateau(schedulers, scheduler_interval, best)
    monitor_needed = patience is not None or any(isinstance(s, _Plateau) for s in schedulers.values())
    stepped = model if not compile else torch.compile(model, **(compile if isinstance(compile, dict) else {}))
    train_log, val_log = EpochLog(metrics).to(dev), EpochLog(metrics).to(dev)
    ctx = StepContext(stepped, optimizers, loss_fn=loss_fn, precision=_policy(precision, dev), device=dev,
                      log=train_log, grad_clip=grad_clip, accumulate=accumulate)
    step, val_step = step_fn or supervised_step, val_step_fn or supervised_val_step

    history, start_epoch = History(), 0
    if checkpoint is not None and Path(checkpoint).exists():
        if resume:
            state = load_checkpoint(checkpoint, map_location=dev)
            history, notes = restore_training_state(state, model=model, optimizers=optimizers,
                                                    schedulers=schedulers, scaler=ctx.scaler, best=best,
                                                    loader=train_batches)
            start_epoch = int(state["epoch"])
            print(f"resumed from {checkpoint} after epoch {start_epoch}"
                  + "".join(f"; note: {note}" for note in notes))
        else:
            print(f"{checkpoint} {_describe_checkpoint(checkpoint)}: this new run replaces it after its first "
                  "epoch (pass resume=True to continue that run instead)")
    elif resume:
        print(f"no checkpoint at {checkpoint} yet: starting from epoch 1")

    steps_per_epoch = len(train_batches) if hasattr(train_batches, "__len__") else None
    step_schedulers = {n: s for n, s in schedulers.items() if scheduler_interval == "step"}
    real_steps = dict.fromkeys(optimizers, 0)       # optimiser steps taken (skipped fp16 steps are not)
    hooks = [opt.register_step_post_hook(lambda *_, name=name: real_steps.__setitem__(name, real_steps[name] + 1))
             for name, opt in optimizers.items() if name in step_schedulers]

    def advance_step_schedulers() -> None:
        for name, sched in step_schedulers.items():
            for _ in range(real_steps[name]):
                sched.step()
            real_steps[name] = 0

    def stop_on_non_finite(err: NonFiniteValue, epoch: int) -> NonFiniteLossError:
        kept = f" The checkpoint {checkpoint} still holds epoch {epoch - 1}." if checkpoint and epoch > 1 else ""
        lr_now = float(next(iter(optimizers.values())).param_groups[0]["lr"])
        of = f" of {steps_per_epoch}" if steps_per_epoch else ""
        return NonFiniteLossError(
            f"{err.key} became {err.value} at epoch {epoch}, step {err.step}{of}; training stopped.{kept} "
            f"The usual cause is a learning rate that is too large (it is {lr_now:g}): try {lr_now / 10:g}. "
            "Unnormalised inputs and log(0) in a custom loss are the other common causes.")

    live = LiveLossPlot(epochs, plot)
    bar = progress_bar(total=steps_per_epoch * (epochs - start_epoch) if steps_per_epoch else None,
                       desc="training", unit="step", disable=not progress, leave=False)
    message = ""
    try:
        for epoch in range(start_epoch + 1, epochs + 1):
            model.train()
            ctx.epoch = epoch
            train_log.reset()
            seen = 0
            for seen, batch in enumerate(train_batches, start=1):
                ctx.step = seen
                batch = move_batch(batch, dev)
                count, values = _count_and_values(step(batch, ctx), batch)
                ctx.end_iteration()
                train_log.log(values, count, seen)
                advance_step_schedulers()
                if seen % NAN_CHECK_EVERY == 0:
                    try:
                        train_log.check_finite()
                    except NonFiniteValue as err:
                        raise stop_on_non_finite(err, epoch) from None
                bar.update(1)
            if seen == 0:
                raise ValueError("the training data produced no batches; is it empty?")
            ctx.flush_accumulated()
            advance_step_schedulers()
            try:
                row = {"epoch": epoch, **train_log.result()}
            except NonFiniteValue as err:
                raise stop_on_non_finite(err, epoch) from None
            if val_batches is not None:
                scores = _run_validation(ctx, val_batches, val_step, val_log)
                row.update({f"val_{k}": v for k, v in scores.items()})
            history.append(row)
            for callback in callback_fns:
                callback(history, ctx)
            row = history.rows[-1]
            if monitor in row:
                best.update(epoch, row[monitor], model)
            elif monitor_needed:
                raise KeyError(f"monitor={monitor!r} is not among the logged values {list(row)}: pass "
                               f"monitor= one of them")
            history.best_epoch = best.best_epoch
            for sched in schedulers.values():
                if isinstance(sched, _Plateau):
                    sched.step(row[monitor])
                elif scheduler_interval == "epoch":
                    sched.step()
            if checkpoint is not None:
                save_checkpoint(checkpoint, training_state(epoch, model, optimizers, schedulers, ctx.scaler,
                                                           history, best, train_batches))
            bar.set_postfix({k: f"{v:.4g}" for k, v in row.items() if k != "epoch"}, refresh=False)
            live.update(history)
            if best.should_stop or ctx.stop_training:
                history.stopped_early = True
                message = (f"early stopping after epoch {epoch}: {monitor} has not improved for {patience} "
                           f"epochs (best {best.best_value:.4g} at epoch {best.best_epoch})" if best.should_stop
                           else f"a callback stopped training after epoch {epoch}")
                break
    finally:
        bar.close()
        for hook in hooks:
            hook.remove()
    last_epoch = history.rows[-1]["epoch"] if len(history) else None
    if best.best_weights is not None and best.best_epoch != last_epoch:
        model.load_state_dict(best.best_weights)
        history.restored_epoch = best.best_epoch
        message += ("; " if message else "") + (f"restored the weights of epoch {best.best_epoch}, the best "
                                               f"{monitor} ({best.best_value:.4g})")
    live.close(history, message)
    return history
