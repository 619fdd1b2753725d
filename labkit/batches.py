"""Batches as fit() and evaluate() see them: where they live, how big they are, how to iterate them.

A batch is a tensor, or a tuple, list, named tuple or dict (the usual masked-LM layout) of
tensors, nested as deep as you like. Batches on the CPU are copied to the model's device;
batches already on another accelerator are refused, never silently copied back.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import torch

from labkit.data.loader import DeviceLoader


class DeviceMismatchError(RuntimeError):
    """The data lives on a different device than the model that should consume it."""


def _mismatch(what: str, data_device: torch.device, device: torch.device) -> DeviceMismatchError:
    return DeviceMismatchError(
        f"{what} is on {data_device} but the model is on {device}. Put both on one device: build the "
        f"data with device='{device}' (DeviceLoader(..., device='{device}'), data.loaders(device='{device}')), "
        f"or move the model with model.to('{data_device}') or fit(..., device='{data_device}').")


def move_batch(batch: Any, device: torch.device) -> Any:
    """``batch`` with every tensor on ``device``, keeping its structure (dict, named tuple, ...).

    Only CPU tensors are copied (asynchronously when the destination is a CUDA GPU, which is safe
    for host-to-device copies); a tensor on another accelerator raises :class:`DeviceMismatchError`.
    """
    if isinstance(batch, torch.Tensor):
        if batch.device == device:
            return batch
        if batch.device.type != "cpu":
            raise _mismatch("a batch of data", batch.device, device)
        return batch.to(device, non_blocking=device.type == "cuda")
    if isinstance(batch, Mapping):
        return {key: move_batch(value, device) for key, value in batch.items()}
    if isinstance(batch, tuple) and hasattr(batch, "_fields"):               # a named tuple
        return type(batch)(*(move_batch(value, device) for value in batch))
    if isinstance(batch, (tuple, list)):
        return type(batch)(move_batch(value, device) for value in batch)
    return batch


def first_tensor(batch: Any) -> torch.Tensor | None:
    """The first tensor in ``batch`` (depth first, dicts in insertion order), or None."""
    if isinstance(batch, torch.Tensor):
        return batch
    values = batch.values() if isinstance(batch, Mapping) else batch if isinstance(batch, (tuple, list)) else ()
    for value in values:
        found = first_tensor(value)
        if found is not None:
            return found
    return None


def batch_size(batch: Any) -> int:
    """The number of examples in ``batch``: the length of its first tensor (1 for a scalar)."""
    first = first_tensor(batch)
    return len(first) if first is not None and first.ndim else 1


def split_pair(batch: Any) -> tuple[Any, torch.Tensor]:
    """``(inputs, targets)`` of a batch laid out for the default supervised step."""
    if isinstance(batch, (tuple, list)) and len(batch) == 2:
        return batch[0], batch[1]
    shape = f"a dict with keys {list(batch)}" if isinstance(batch, Mapping) else \
        f"{type(batch).__name__} of length {len(batch) if hasattr(batch, '__len__') else '?'}"
    raise ValueError(f"the default step expects batches (inputs, targets), got {shape}. Pass step_fn=... "
                     "(and val_step_fn=... for validation) for other batch layouts.")


def batch_inputs(batch: Any) -> torch.Tensor:
    """The inputs of an unsupervised batch: the tensor itself, or the first tensor of ``(x,)``,
    ``(x, y)`` or a dict."""
    found = first_tensor(batch)
    if found is None:
        raise ValueError(f"expected a batch of inputs: a tensor or a tuple (inputs, ...), got {type(batch).__name__}")
    return found


def as_batches(data: Any, name: str, batch_size: int, shuffle: bool, device: torch.device) -> Iterable:
    """What fit/evaluate iterate: ``(X, y, ...)`` tensors become a DeviceLoader on ``device``;
    loaders and other iterables are used as they are, a DeviceLoader only if it is on ``device``."""
    if isinstance(data, (tuple, list)) and data and all(isinstance(t, torch.Tensor) for t in data):
        return DeviceLoader(*data, batch_size=batch_size, shuffle=shuffle, device=device)
    if isinstance(data, DeviceLoader):
        if data.device != device:
            raise _mismatch(f"the {name} DeviceLoader", data.device, device)
        return data
    if isinstance(data, Iterable) and not isinstance(data, (str, bytes, torch.Tensor, Mapping)):
        return data
    raise TypeError(f"{name} must be a DeviceLoader, a DataLoader, a list of batches or a tuple (X, y) of "
                    f"tensors, got {type(data).__name__}")
