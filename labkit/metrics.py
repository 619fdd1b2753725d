"""Classification metrics: accuracy on tensors, precision/recall/F1/confusion via scikit-learn, and
metric objects that ``fit`` accumulates exactly over an epoch.

A plain function ``fn(output, target)`` is averaged over the batches of an epoch (weighted by
batch size), which is exact for per-example means such as accuracy but not for F1 or AUROC: the
F1 of a whole epoch is not the mean of the batches' F1. For those, pass a metric object
(``update(output, target)``, ``compute()``, ``reset()``): :class:`F1Score`, :class:`Precision`,
:class:`Recall` count a confusion matrix on the device, :class:`AUROC` keeps the scores. A
torchmetrics ``Metric`` has the same three methods and works too.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from labkit.models.evaluating import evaluating
from labkit.sample_quality import embed, frechet_distance, gaussian_frechet_distance, ring_coverage  # noqa: F401


def accuracy(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Fraction of correct predictions, as a 0-d tensor (stays on the device).

    ``output`` is (N, C) scores with integer labels (N,), or (N,) logits with {0, 1} labels
    (a logit above 0 means class 1).
    """
    if output.shape[:1] != target.shape[:1]:
        raise ValueError(f"accuracy got output {tuple(output.shape)} and target {tuple(target.shape)}: "
                         "the batch sizes differ")
    if output.ndim == target.ndim + 1:
        predicted = output.argmax(dim=-1)
    elif output.shape == target.shape:
        predicted = (output > 0).to(target.dtype)
    else:
        raise ValueError(f"accuracy needs scores (N, C) with labels (N,), or logits (N,) with labels (N,); "
                         f"got output {tuple(output.shape)} and target {tuple(target.shape)}")
    return (predicted == target).float().mean()


def predict_classes(model: nn.Module, images: torch.Tensor, batch_size: int = 1024) -> torch.Tensor:
    """The model's predicted class for every input (argmax of its scores), on the CPU."""
    device = next(iter(model.parameters())).device
    with evaluating(model):
        return torch.cat([model(batch.to(device)).argmax(dim=-1).cpu() for batch in images.split(batch_size)])


def classification_summary(y_true: Any, y_pred: Any, class_names: Sequence[str] | None = None) -> dict[str, Any]:
    """Accuracy, macro precision/recall/F1, the confusion matrix (rows: true class) and sklearn's report."""
    from sklearn.metrics import (accuracy_score, classification_report, confusion_matrix,
                                 precision_recall_fscore_support)

    y_true, y_pred = (np.asarray(v.cpu() if hasattr(v, "cpu") else v).ravel() for v in (y_true, y_pred))
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true and y_pred need the same length, got {y_true.shape} and {y_pred.shape}")
    labels = np.arange(len(class_names)) if class_names is not None else np.union1d(y_true, y_pred)
    precision, recall, f1, _ = precision_recall_fscore_support(y_true, y_pred, labels=labels, average="macro",
                                                               zero_division=0)
    names = list(class_names) if class_names is not None else [str(label) for label in labels]
    return {"accuracy": float(accuracy_score(y_true, y_pred)), "precision": float(precision),
            "recall": float(recall), "f1": float(f1),
            "confusion": confusion_matrix(y_true, y_pred, labels=labels),
            "report": classification_report(y_true, y_pred, labels=labels, target_names=names, zero_division=0)}


def _predictions(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Predicted classes: argmax of (N, C) scores, or logit > 0 for (N,) outputs with {0, 1} labels."""
    if output.ndim == target.ndim + 1:
        return output.argmax(dim=-1)
    if output.shape == target.shape:
        return (output > 0).long()
    raise ValueError(f"expected scores (N, C) with labels (N,), or logits (N,) with labels (N,); "
                     f"got output {tuple(output.shape)} and target {tuple(target.shape)}")


class ConfusionMatrix:
    """Counts of (true class, predicted class) over every batch given to :meth:`update`, on the
    batches' device; :meth:`compute` returns the (C, C) matrix (rows: true class)."""

    AVERAGES = ("macro", "micro", "weighted", "binary", None)

    def __init__(self, num_classes: int) -> None:
        from labkit.arguments import check_positive_int

        self.num_classes = check_positive_int(num_classes, "num_classes")
        self.counts: torch.Tensor | None = None

    def reset(self) -> None:
        self.counts = None

    @torch.no_grad()
    def update(self, output: torch.Tensor, target: torch.Tensor) -> None:
        predicted, target = _predictions(output, target).reshape(-1), target.reshape(-1).long()
        pairs = torch.bincount(target * self.num_classes + predicted, minlength=self.num_classes ** 2)
        if len(pairs) > self.num_classes ** 2:          # only a label >= num_classes makes it longer
            raise ValueError(f"a label or prediction is outside 0..{self.num_classes - 1}: "
                             f"set num_classes to the number of classes")
        pairs = pairs.reshape(self.num_classes, self.num_classes)
        self.counts = pairs if self.counts is None else self.counts + pairs

    def compute(self) -> torch.Tensor:
        if self.counts is None:
            raise ValueError(f"{type(self).__name__}.compute() before any update(): no batches were seen")
        return self.counts


class _ConfusionScore(ConfusionMatrix):
    """A score computed from the confusion matrix, per class then averaged like scikit-learn."""

    def __init__(self, num_classes: int, average: str | None = "macro") -> None:
        super().__init__(num_classes)
        if average not in self.AVERAGES:
            raise ValueError(f"average must be one of {self.AVERAGES}, got {average!r}")
        if average == "binary" and num_classes != 2:
            raise ValueError(f"average='binary' scores class 1 of two classes; num_classes is {num_classes}")
        self.average = average

    def _per_class(self, true_positive: torch.Tensor, predicted: torch.Tensor, actual: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def compute(self) -> torch.Tensor:
        counts = super().compute().cpu().double()          # once an epoch: a (C, C) read
        tp, predicted, actual = counts.diagonal(), counts.sum(0), counts.sum(1)
        if self.average == "micro":
            tp, predicted, actual = tp.sum(), predicted.sum(), actual.sum()
        scores = self._per_class(tp, predicted, actual)
        if self.average in ("micro", None):
            return scores
        if self.average == "binary":
            return scores[1]
        if self.average == "weighted":
            return (scores * actual).sum() / actual.sum().clamp(min=1)
        return scores.mean()


def _ratio(numerator: torch.Tensor, denominator: torch.Tensor) -> torch.Tensor:
    """numerator / denominator, 0 where the denominator is 0 (scikit-learn's zero_division=0)."""
    return torch.where(denominator > 0, numerator / denominator.clamp(min=1e-300), torch.zeros_like(numerator))


class Precision(_ConfusionScore):
    """Precision TP / (TP + FP), exact over an epoch (``average`` as in scikit-learn)."""

    def _per_class(self, tp, predicted, actual):
        return _ratio(tp, predicted)


class Recall(_ConfusionScore):
    """Recall TP / (TP + FN), exact over an epoch (``average`` as in scikit-learn)."""

    def _per_class(self, tp, predicted, actual):
        return _ratio(tp, actual)


class F1Score(_ConfusionScore):
    """F1 = 2 TP / (2 TP + FP + FN), exact over an epoch (``average`` as in scikit-learn)."""

    def _per_class(self, tp, predicted, actual):
        return _ratio(2 * tp, predicted + actual)


class AUROC:
    """Area under the ROC curve of a binary classifier, exact over an epoch.

    ``update`` takes (N,) scores or logits and {0, 1} labels and keeps them on their device;
    ``compute`` hands them to scikit-learn's ``roc_auc_score`` once.
    """

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.scores: list[torch.Tensor] = []
        self.labels: list[torch.Tensor] = []

    @torch.no_grad()
    def update(self, output: torch.Tensor, target: torch.Tensor) -> None:
        if output.shape != target.shape:
            raise ValueError(f"AUROC takes one score per example, shaped like the labels; got output "
                             f"{tuple(output.shape)} and labels {tuple(target.shape)}")
        self.scores.append(output.detach().reshape(-1).float())
        self.labels.append(target.detach().reshape(-1))

    def compute(self) -> float:
        from sklearn.metrics import roc_auc_score

        if not self.scores:
            raise ValueError("AUROC.compute() before any update(): no batches were seen")
        labels = torch.cat(self.labels).cpu().numpy()
        if len(np.unique(labels)) < 2:
            raise ValueError("AUROC needs both classes among the labels; this epoch saw only one")
        return float(roc_auc_score(labels, torch.cat(self.scores).cpu().numpy()))
