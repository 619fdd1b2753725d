"""Classification metrics: accuracy on tensors, and precision/recall/F1/confusion via scikit-learn."""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch
from torch import nn


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


@torch.no_grad()
def predict_classes(model: nn.Module, images: torch.Tensor, batch_size: int = 1024) -> torch.Tensor:
    """The model's predicted class for every input (argmax of its scores), on the CPU."""
    device = next(iter(model.parameters())).device
    was_training = model.training
    model.eval()
    try:
        return torch.cat([model(batch.to(device)).argmax(dim=-1).cpu() for batch in images.split(batch_size)])
    finally:
        model.train(was_training)


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
