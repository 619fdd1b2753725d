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
