"""How good generated samples are: the Fréchet distance in a classifier's feature space, and the
ring-of-Gaussians metrics (modes covered, high-quality share). Re-exported by :mod:`labkit.metrics`.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from labkit.arrays import to_numpy
from labkit.models.evaluating import evaluating


def _as_float64(x: Any, name: str) -> np.ndarray:
    array = to_numpy(x, np.float64)
    if array.ndim != 2:
        raise ValueError(f"{name} must be features of shape (N, d), got shape {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} holds NaN or infinite values")
    return array


def _sqrt_psd(matrix: np.ndarray) -> np.ndarray:
    """The symmetric square root of a positive semi-definite matrix (round-off negatives clipped to 0)."""
    values, vectors = np.linalg.eigh((matrix + matrix.T) / 2)
    return (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T


def gaussian_frechet_distance(mu1: Any, cov1: Any, mu2: Any, cov2: Any) -> float:
    """||mu1 - mu2||^2 + tr(cov1 + cov2 - 2 (cov1^1/2 cov2 cov1^1/2)^1/2): the squared Wasserstein-2
    distance between two Gaussians.

    The cross term is computed from the symmetric matrix cov1^1/2 cov2 cov1^1/2 with ``eigh`` in
    float64, whose eigenvalues are real and (up to round-off, clipped at 0) non-negative: unlike
    ``scipy.linalg.sqrtm(cov1 @ cov2)`` it stays real and stable when the covariances are singular
    or nearly so (fewer samples than feature dimensions).
    """
    mu1, mu2 = (np.asarray(m, dtype=np.float64).ravel() for m in (mu1, mu2))
    cov1, cov2 = (np.atleast_2d(np.asarray(c, dtype=np.float64)) for c in (cov1, cov2))
    d = len(mu1)
    if len(mu2) != d or cov1.shape != (d, d) or cov2.shape != (d, d):
        raise ValueError(f"means of length {len(mu1)} and {len(mu2)} and covariances {cov1.shape} and "
                         f"{cov2.shape} do not describe two Gaussians of the same dimension")
    root1 = _sqrt_psd(cov1)
    cross = np.sqrt(np.clip(np.linalg.eigvalsh(root1 @ cov2 @ root1), 0, None)).sum()
    return float(((mu1 - mu2) ** 2).sum() + np.trace(cov1) + np.trace(cov2) - 2 * cross)


def frechet_distance(a: Any, b: Any) -> float:
    """The Fréchet distance between two sets of features (N, d) and (M, d), each summarised by a
    Gaussian with its sample mean and covariance (FID uses Inception features; the labs use a
    digit classifier's). 0 for identical statistics; it grows with both bias and lost variety."""
    a, b = _as_float64(a, "a"), _as_float64(b, "b")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"the two sets have {a.shape[1]} and {b.shape[1]} features; embed both with the same model")
    if len(a) < 2 or len(b) < 2:
        raise ValueError(f"a covariance needs at least 2 samples per set, got {len(a)} and {len(b)}")
    return gaussian_frechet_distance(a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False))


def embed(model: nn.Module, images: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
    """The features a classifier's last ``nn.Linear`` layer receives (its penultimate representation)
    for every image, (N, d) float64 on the CPU, computed in eval mode."""
    last = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if not last:
        raise ValueError("embed needs a model with an nn.Linear layer: it returns that layer's inputs")
    captured: list[torch.Tensor] = []
    handle = last[-1].register_forward_pre_hook(lambda module, inputs: captured.append(inputs[0].detach()))
    device = next(model.parameters()).device
    try:
        with evaluating(model):
            for batch in images.split(batch_size):
                model(batch.to(device))
    finally:
        handle.remove()
    return torch.cat([c.flatten(1).double().cpu() for c in captured])


def ring_coverage(samples: Any, centers: Any, std: float, min_share: float = 0.02) -> dict[str, Any]:
    """The ring metrics: a sample is high quality when it lies within 3 std of a mode; a mode is
    covered when at least ``min_share`` of all samples are high-quality samples of it.

    Returns ``modes_covered`` (int), ``high_quality`` (share of samples, float) and ``counts`` (the
    high-quality samples of each mode, an int array)."""
    points, centres = _as_float64(samples, "samples"), _as_float64(centers, "centers")
    if points.shape[1] != centres.shape[1]:
        raise ValueError(f"samples have {points.shape[1]} coordinates but centers have {centres.shape[1]}")
    if not std > 0:
        raise ValueError(f"std must be positive, got {std!r}")
    distance = np.linalg.norm(points[:, None, :] - centres[None, :, :], axis=2)     # (N, modes)
    nearest, close = distance.argmin(1), distance.min(1) <= 3 * std
    counts = np.bincount(nearest[close], minlength=len(centres))
    return {"modes_covered": int((counts >= min_share * len(points)).sum()),
            "high_quality": float(close.mean()), "counts": counts}
