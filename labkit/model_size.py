"""How big a model is: its parameters (all, or only the non-zero ones) and its bytes on disk."""
from __future__ import annotations

import gzip
import io

import torch
from torch import nn


def _check_module(model: object) -> nn.Module:
    if not isinstance(model, nn.Module):
        raise TypeError(f"expected a torch.nn.Module, got {type(model).__name__}")
    return model


def count_parameters(model: nn.Module, nonzero: bool = False) -> int:
    """Number of parameter entries; ``nonzero=True`` counts only those that are not exactly zero.

    A model pruned with ``torch.nn.utils.prune`` keeps its dense ``weight_orig``; the zeros live in the
    computed ``weight``, so counting non-zeros reads the weights the model really uses.
    """
    _check_module(model)
    if not nonzero:
        return sum(p.numel() for p in model.parameters())
    total = 0
    for module in model.modules():
        for name, param in module.named_parameters(recurse=False):
            used = getattr(module, name.removesuffix("_orig")) if name.endswith("_orig") else param
            total += int(torch.count_nonzero(used.detach()))
    return total


def size_on_disk(model: nn.Module, compress: bool = False) -> int:
    """Bytes of ``torch.save(model.state_dict())``, what a checkpoint of the weights takes.

    ``compress=True`` returns the gzip-compressed size: zeros of a pruned model compress, while the
    dense file stays as large as before. Quantised models are measured the same way (their packed
    int8 weights are in the state dict).
    """
    buffer = io.BytesIO()
    torch.save(_check_module(model).state_dict(), buffer)
    data = buffer.getvalue()
    return len(gzip.compress(data, compresslevel=6, mtime=0)) if compress else len(data)
