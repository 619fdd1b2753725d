"""Losses: any loss applied with a shape check (the (N, 1) vs (N,) broadcast slip becomes an error),
and the knowledge-distillation loss."""
from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn
from torch.nn import functional as F

_ELEMENTWISE_LOSSES = (nn.MSELoss, nn.L1Loss, nn.SmoothL1Loss, nn.HuberLoss, nn.BCELoss, nn.BCEWithLogitsLoss)
_ELEMENTWISE_FUNCTIONS = (F.mse_loss, F.l1_loss, F.smooth_l1_loss, F.huber_loss, F.binary_cross_entropy,
                          F.binary_cross_entropy_with_logits)
_CLASS_INDEX_LOSSES = (nn.CrossEntropyLoss, nn.NLLLoss)


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


def distillation_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, targets: torch.Tensor,
                      temperature: float = 4.0, alpha: float = 0.9) -> torch.Tensor:
    """Hinton et al.'s knowledge-distillation loss, averaged over the batch:

    ``alpha * T**2 * KL(softmax(teacher / T) || softmax(student / T)) + (1 - alpha) * CE(student, targets)``

    The soft term's gradient shrinks like 1/T**2; the T**2 factor keeps its weight independent of T.
    The teacher's logits are treated as constants (no gradient flows into the teacher).
    """
    if student_logits.ndim != 2 or student_logits.shape != teacher_logits.shape:
        raise ShapeMismatchError(f"student and teacher logits must both have shape (N, C), got "
                                 f"{tuple(student_logits.shape)} and {tuple(teacher_logits.shape)}")
    if targets.shape != student_logits.shape[:1] or targets.is_floating_point():
        raise ShapeMismatchError(f"targets must be integer class labels of shape ({student_logits.shape[0]},), "
                                 f"got {tuple(targets.shape)} {targets.dtype}")
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not temperature > 0:
        raise ValueError(f"temperature must be a positive number (1 = the plain softmax), got {temperature!r}")
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 <= alpha <= 1:
        raise ValueError(f"alpha weighs the soft targets against the labels and lies in [0, 1], got {alpha!r}")
    t = float(temperature)
    soft_teacher = F.log_softmax(teacher_logits.detach() / t, dim=-1)
    soft_student = F.log_softmax(student_logits / t, dim=-1)
    kl = F.kl_div(soft_student, soft_teacher, reduction="batchmean", log_target=True)
    return alpha * t * t * kl + (1 - alpha) * F.cross_entropy(student_logits, targets)
