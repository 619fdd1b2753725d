"""Putting a freshly built model where it will run."""
from __future__ import annotations

import torch
from torch import nn

from labkit.device import get_device


def place(model: nn.Module, device: str | torch.device | None, channels_last: bool = False) -> nn.Module:
    """Move ``model`` to ``device`` (default: the best available); CNNs use channels_last on CUDA,
    the memory layout tensor cores prefer."""
    dev = get_device(device)
    model = model.to(dev)
    if channels_last and dev.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    return model


def check_positive_int(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return value


def check_dropout(p: float) -> float:
    if not isinstance(p, (int, float)) or isinstance(p, bool) or not 0 <= p < 1:
        raise ValueError(f"dropout is a probability in [0, 1), got {p!r}")
    return float(p)
