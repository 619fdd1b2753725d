"""Counting FLOPs and model-FLOPs utilisation (MFU): how much of the GPU's peak a training step uses.

    flops = count_flops(train_step, batch)             # one call, forward and backward if it does both
    mfu(flops, seconds_per_step)                       # achieved FLOP/s over labkit.device.peak_flops()
    transformer_flops_per_token(n, layers, hidden, seq_len)   # the 6N + 12·L·H·T estimate

MFU counts the FLOPs the model needs (matrix multiplications, convolutions and attention: what
``torch.utils.flop_counter`` counts; element-wise work is left out, by convention), divided by the
time a step takes and the GPU's dense peak. It is None where there is no peak: on a CPU or MPS MFU is
not meaningful (their matmul peak depends on the chip, the threads and the library).
"""
from __future__ import annotations

import math
from collections.abc import Callable
from numbers import Integral, Real
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode, flop_registry, sdpa_backward_flop_count, sdpa_flop_count

from labkit.device import peak_flops

__all__ = ["count_flops", "mfu", "transformer_flops_per_token"]


def count_flops(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> int:
    """The FLOPs of one call ``fn(*args, **kwargs)`` (run once, its result discarded).

    Counted with ``torch.utils.flop_counter.FlopCounterMode``: matmuls, convolutions and
    scaled-dot-product attention, forward and, if ``fn`` calls ``.backward()``, backward (about twice
    the forward). A multiply-add is 2 FLOPs: ``nn.Linear(i, o)`` on N rows is 2·N·i·o forward.
    Count an eager model: the counter does not see inside ``torch.compile``'d code, which does the
    same arithmetic.
    """
    if not callable(fn):
        raise TypeError(f"count_flops needs a callable to run, got {type(fn).__name__}")
    with FlopCounterMode(display=False, custom_mapping=_missing_attention_formulas()) as counter:
        fn(*args, **kwargs)
    return int(counter.get_total_flops())


def _cpu_attention_forward(query, key, value, *args, out_shape=None, **kwargs) -> int:
    return sdpa_flop_count(query, key, value)


def _cpu_attention_backward(grad_out, query, key, value, *args, out_shape=None, **kwargs) -> int:
    return sdpa_backward_flop_count(grad_out, query, key, value)


def _missing_attention_formulas() -> dict:
    """Formulas for the CPU kernels of scaled-dot-product attention where this torch has none.

    Some torch releases (2.14, for one) count the CUDA attention kernels but not the CPU ones
    (``_scaled_dot_product_flash_attention_for_cpu`` and its backward), so attention would silently
    count as 0 FLOPs on a CPU. The formulas are torch's own, as for the other kernels; a torch that
    has them keeps its own.
    """
    aten = torch.ops.aten
    formulas = {"_scaled_dot_product_flash_attention_for_cpu": _cpu_attention_forward,
                "_scaled_dot_product_flash_attention_for_cpu_backward": _cpu_attention_backward}
    return {getattr(aten, name): formula for name, formula in formulas.items()
            if hasattr(aten, name) and getattr(aten, name) not in flop_registry}


def _check_number(value: Any, name: str, *, positive: bool) -> float:
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            raise ValueError(f"{name} must be a single number, got a tensor of shape {tuple(value.shape)}")
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    if positive and value <= 0:
        raise ValueError(f"{name} must be positive, got {value}")
    if not positive and value < 0:
        raise ValueError(f"{name} cannot be negative, got {value}")
    return value


def mfu(flops_per_step: float, seconds_per_step: float, device: str | torch.device | None = None,
        dtype: torch.dtype | str = torch.bfloat16) -> float | None:
    """Model-FLOPs utilisation: ``flops_per_step / seconds_per_step / peak_flops(device, dtype)``.

    A fraction (0.35 = 35 %). None where :func:`labkit.device.peak_flops` has no peak (CPU, MPS, an
    unlisted GPU): MFU is not meaningful there. ``dtype`` is the precision the matmuls run in
    (torch.bfloat16 under bf16 autocast; "tf32" or torch.float32 for fp32 training).
    """
    flops = _check_number(flops_per_step, "flops_per_step", positive=False)
    seconds = _check_number(seconds_per_step, "seconds_per_step", positive=True)
    peak = peak_flops(device, dtype)
    return None if peak is None else flops / seconds / peak


def transformer_flops_per_token(params_non_embedding: int, layers: int, hidden: int, seq_len: int) -> float:
    """Training FLOPs per token of a transformer: ``6·N + 12·L·H·T``.

    N = non-embedding parameters (the weights every token is multiplied by: 2·N FLOPs forward, 4·N
    backward), L layers, H = hidden size (heads × head size), T = sequence length: the attention
    scores and the weighted sum cost 4·L·H·T forward per token, 12·L·H·T with backward (Kaplan et
    al. 2020, "Scaling laws", section 2.1; PaLM, Chowdhery et al. 2022, appendix B). Non-causal
    (encoder) attention computes all T×T scores, as counted here. An MLM head applied to the masked
    positions only adds 6·(its parameters) per masked token, not per token.
    """
    values = {"params_non_embedding": params_non_embedding, "layers": layers, "hidden": hidden, "seq_len": seq_len}
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, Integral):
            raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if params_non_embedding < 0:
        raise ValueError(f"params_non_embedding cannot be negative, got {params_non_embedding}")
    for name in ("layers", "hidden", "seq_len"):
        if values[name] <= 0:
            raise ValueError(f"{name} must be positive, got {values[name]}")
    return float(6 * int(params_non_embedding) + 12 * int(layers) * int(hidden) * int(seq_len))
