"""An epoch's logged values and metrics, accumulated on the device without stalling it.

Reading a value from a GPU waits for all the work queued before it, so nothing here reads one per
step: weighted sums stay on the device, and a device-side record of the first non-finite value is
read every few steps. Every device-to-host read goes through :func:`to_host`, so it can be counted.
"""
from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from typing import Any, Callable

import torch


def to_host(tensor: torch.Tensor) -> list[float]:
    """Copy a 1-D tensor's values to Python floats (the one place the loop reads from the device)."""
    return tensor.detach().float().cpu().tolist()


def is_stateful_metric(metric: Any) -> bool:
    """A metric object that accumulates exactly over an epoch: ``update(output, target)``,
    ``compute()`` and ``reset()`` (labkit.metrics' classes, torchmetrics' ``Metric``)."""
    return all(callable(getattr(metric, name, None)) for name in ("update", "compute", "reset"))


class NonFiniteValue(FloatingPointError):
    """A logged value became NaN or infinite; ``key``, ``step`` and ``value`` say which, when and what."""

    def __init__(self, key: str, step: int, value: float) -> None:
        super().__init__(f"{key} became {value} at step {step}")
        self.key, self.step, self.value = key, step, value


class EpochLog:
    """Weighted means of the values a step logs, and the epoch's metrics.

    ``log(values, count, step)`` adds a step's values, each weighted by ``count`` (the examples or
    tokens it averages over; a Python number or a tensor on the device). Plain metric functions
    ``fn(output, target)`` are averaged the same way, weighted by the batch size: exact for
    per-example means such as accuracy. Metric objects (see :func:`is_stateful_metric`) are updated
    with every batch and computed once at the end, which is exact for F1 or AUROC as well.
    """

    def __init__(self, metrics: Mapping[str, Any] | None = None) -> None:
        metrics = dict(metrics or {})
        self.functions: dict[str, Callable] = {k: m for k, m in metrics.items() if not is_stateful_metric(m)}
        self.objects = {k: copy.deepcopy(m) for k, m in metrics.items() if is_stateful_metric(m)}
        self.reset()

    def reset(self) -> None:
        self.sums: dict[str, Any] = {}
        self.counts: dict[str, Any] = {}
        self.bad_step: dict[str, Any] = {}        # key -> step of the first non-finite value (-1: none)
        self.bad_value: dict[str, Any] = {}
        for metric in self.objects.values():
            metric.reset()

    def to(self, device: torch.device) -> "EpochLog":
        """Move metric objects that have a device (torchmetrics) to ``device``."""
        for name, metric in self.objects.items():
            if callable(getattr(metric, "to", None)):
                self.objects[name] = metric.to(device) or metric
        return self

    def log(self, values: Mapping[str, Any], count: Any, step: int) -> None:
        for key, value in values.items():
            if isinstance(value, torch.Tensor):
                if value.numel() != 1:
                    raise ValueError(f"logged values must be single numbers, but {key!r} has shape "
                                     f"{tuple(value.shape)}: log its mean (or sum) instead")
                value = value.detach().reshape(()).float()
                bad = ~torch.isfinite(value)
                first = self.bad_step.get(key)
                if first is None:
                    first = torch.full((), -1.0, device=value.device)
                    self.bad_value[key] = torch.zeros((), device=value.device)
                new = bad & (first < 0)
                self.bad_step[key] = torch.where(new, float(step), first)
                self.bad_value[key] = torch.where(new, value, self.bad_value[key])
            else:
                value = float(value)
                if not math.isfinite(value) and key not in self.bad_step:
                    self.bad_step[key], self.bad_value[key] = float(step), value
            self.sums[key] = self.sums.get(key, 0.0) + value * count
            self.counts[key] = self.counts.get(key, 0) + count

    def update_metrics(self, output: torch.Tensor, target: torch.Tensor, step: int) -> None:
        """Feed one batch's model output and targets to every metric."""
        if self.functions:
            values = {name: fn(output, target) for name, fn in self.functions.items()}
            self.log(values, len(target) if target.ndim else 1, step)
        for metric in self.objects.values():
            metric.update(output, target)

    def check_finite(self) -> None:
        """Raise :class:`NonFiniteValue` for the earliest non-finite logged value (one device read)."""
        keys = list(self.bad_step)
        if not keys:
            return
        steps = _read([self.bad_step[k] for k in keys])
        bad = [(step, k) for step, k in zip(steps, keys) if step >= 0]
        if bad:
            step, key = min(bad)
            value = _read([self.bad_value[key]])[0]
            raise NonFiniteValue(key, int(step), value)

    def result(self, check_finite: bool = True) -> dict[str, float]:
        """The epoch's means and metrics as Python floats (after a non-finite check, unless
        ``check_finite`` is False: validation reports a NaN instead of stopping)."""
        if check_finite:
            self.check_finite()
        # the step's own values first, then the metrics in the order they were given
        keys = sorted(self.sums, key=lambda k: k in self.functions)
        values = _read([self.sums[k] for k in keys] + [self.counts[k] for k in keys])
        row = {k: total / count if count else math.nan
               for k, total, count in zip(keys, values[:len(keys)], values[len(keys):])}
        for name, metric in self.objects.items():
            value = metric.compute()
            row[name] = float(value.item() if isinstance(value, torch.Tensor) else value)
        return row


def _read(values: list[Any]) -> list[float]:
    """Python floats of ``values`` (tensors and numbers), with one read per device holding tensors."""
    out = [v if not isinstance(v, torch.Tensor) else None for v in values]
    devices = {v.device for v in values if isinstance(v, torch.Tensor)}
    for device in devices:
        where = [i for i, v in enumerate(values) if isinstance(v, torch.Tensor) and v.device == device]
        for i, value in zip(where, to_host(torch.stack([values[i].float().reshape(()) for i in where]))):
            out[i] = value
    return [float(v) for v in out]
