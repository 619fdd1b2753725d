"""Masked language modelling: BERT's masking rule, the training step for ``fit`` and its schedule."""
from __future__ import annotations

import math
from typing import Any, Mapping

import torch
import torch.nn.functional as F

from labkit.arguments import check_positive_int
from labkit.models.bert import NUM_SPECIAL_TOKENS

IGNORE = -100                   # the label of positions that are not predicted (F.cross_entropy's default)


def mask_tokens(ids: torch.Tensor, *, mask_id: int, vocab_size: int, special: torch.Tensor | None = None,
                prob: float = 0.15, generator: torch.Generator | None = None,
                max_per_sequence: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT's masking: ``(inputs, labels)`` for a batch of token ids.

    Each position that is not ``special`` (default: the special tokens, ids below 5 — padding,
    [CLS], [SEP]...) is chosen with probability ``prob``. Of the chosen, 80 % become ``mask_id``,
    10 % a random non-special token and 10 % stay unchanged; ``labels`` hold the original ids
    there and -100 (ignored by the loss) everywhere else. ``max_per_sequence`` caps the chosen
    positions of a sequence (the first ones are kept), as BERT's max_predictions_per_seq does.
    """
    if not 0 < prob < 1:
        raise ValueError(f"prob is the share of positions to predict, in (0, 1); got {prob!r}")
    if vocab_size <= NUM_SPECIAL_TOKENS:
        raise ValueError(f"vocab_size={vocab_size} leaves no ordinary token to draw after the "
                         f"{NUM_SPECIAL_TOKENS} special ones")
    if special is None:
        special = ids < NUM_SPECIAL_TOKENS
    elif special.shape != ids.shape:
        raise ValueError(f"special {tuple(special.shape)} must have the shape of ids {tuple(ids.shape)}")
    draw = lambda: torch.rand(ids.shape, generator=generator, device=ids.device)   # noqa: E731
    chosen = (draw() < prob) & ~special.bool()
    if max_per_sequence is not None:
        check_positive_int(max_per_sequence, "max_per_sequence")
        chosen &= chosen.cumsum(-1) <= max_per_sequence
    split = draw()                                                  # one draw decides mask / random / keep
    to_mask = chosen & (split < 0.8)
    to_random = chosen & (split >= 0.8) & (split < 0.9)
    random_ids = torch.randint(NUM_SPECIAL_TOKENS, vocab_size, ids.shape, generator=generator, device=ids.device)
    inputs = torch.where(to_mask, torch.full_like(ids, mask_id), ids)
    inputs = torch.where(to_random, random_ids, inputs)
    labels = torch.where(chosen, ids, torch.full_like(ids, IGNORE))
    return inputs, labels


def _ids_and_mask(batch: Any) -> tuple[torch.Tensor, torch.Tensor | None]:
    if isinstance(batch, Mapping):
        return batch["ids"], batch.get("mask")
    if isinstance(batch, (tuple, list)):
        return batch[0], batch[1] if len(batch) > 1 else None
    return batch, None


def max_predictions(length: int, prob: float = 0.15) -> int:
    """Predicted positions per sequence of ``length`` tokens: the mean chosen count plus 3 standard
    deviations, rounded up to a multiple of 8 (32 at length 128; rarely reached, so rarely binding)."""
    mean, sd = prob * length, math.sqrt(length * prob * (1 - prob))
    return min(length, 8 * math.ceil((mean + 3 * sd) / 8))


def gather_masked(hidden: torch.Tensor, labels: torch.Tensor, rows: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The states (N * rows, hidden) and labels (N * rows,) of each sequence's first ``rows`` masked
    positions, gathered by index (a stable sort puts the masked positions first, in order); rows
    beyond a sequence's masked positions carry label -100. Static shapes: no host sync."""
    order = (labels != IGNORE).to(torch.int8).argsort(dim=1, descending=True, stable=True)[:, :rows]
    picked = hidden.gather(1, order.unsqueeze(-1).expand(-1, -1, hidden.shape[-1]))
    return picked.flatten(0, 1), labels.gather(1, order).flatten()


def mlm_step(*, mask_id: int, vocab_size: int, prob: float = 0.15, train: bool = True):
    """A step function for :func:`labkit.fit` on batches ``(ids, mask)``, ``(ids,)`` (no padding)
    or dicts with "ids" and "mask".

    Masks each batch afresh (dynamic masking, as RoBERTa), at most :func:`max_predictions` positions
    per sequence, and applies the MLM head to those positions only, gathered by index: shapes never
    depend on the draw, so a GPU never waits for the host. Logs ``loss`` (cross-entropy per masked
    token, nats), ``accuracy`` and ``count`` (masked tokens: epoch means are per masked token)."""
    def step(batch: Any, ctx: Any) -> dict[str, torch.Tensor]:
        ids, mask = _ids_and_mask(batch)
        special = ids < NUM_SPECIAL_TOKENS if mask is None else (ids < NUM_SPECIAL_TOKENS) | ~mask.bool()
        rows = max_predictions(ids.shape[1], prob)
        inputs, labels = mask_tokens(ids, mask_id=mask_id, vocab_size=vocab_size, special=special, prob=prob,
                                     max_per_sequence=rows)
        with ctx.autocast():
            picked, targets = gather_masked(ctx.model(inputs, mask), labels, rows)
            valid = targets != IGNORE
            count = valid.sum()
            logits = _unwrap(ctx.model).mlm_logits(picked)
            loss = F.cross_entropy(logits, targets, ignore_index=IGNORE, reduction="sum") / count.clamp_min(1)
        if train:
            ctx.optimize(loss)
        correct = ((logits.argmax(-1) == targets) & valid).sum()
        return {"loss": loss.detach(), "accuracy": correct / count.clamp_min(1), "count": count}

    return step


def _unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The module behind torch.compile's wrapper (its methods other than forward)."""
    return getattr(model, "_orig_mod", model)


def warmup_linear(optimizer: torch.optim.Optimizer, warmup_steps: int, total_steps: int
                  ) -> torch.optim.lr_scheduler.LambdaLR:
    """Learning rate x step / warmup_steps for the first steps, then a linear decay to 0 at
    ``total_steps`` (BERT's schedule); step it after every optimiser step (``scheduler_interval="step"``)."""
    check_positive_int(total_steps, "total_steps")
    if isinstance(warmup_steps, bool) or not isinstance(warmup_steps, int) or not 0 <= warmup_steps < total_steps:
        raise ValueError(f"warmup_steps must be an integer in [0, total_steps={total_steps}), got {warmup_steps!r}")

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        return max(0.0, (total_steps - step) / (total_steps - warmup_steps))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
