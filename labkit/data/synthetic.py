"""Small synthetic datasets whose ground truth is known, for the first labs."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from labkit.arguments import check_positive_int

HOUSE_FEATURES = ("area_m2", "bedrooms", "age_years")
# price in thousands = 3.0 * area + 12.0 * bedrooms - 1.5 * age + 40, plus Gaussian noise
HOUSE_WEIGHTS = (3.0, 12.0, -1.5)
HOUSE_BIAS = 40.0


@dataclass(frozen=True)
class RegressionData:
    """Inputs ``X`` (n, d), targets ``y`` (n,), and the true parameters that generated them."""

    X: torch.Tensor
    y: torch.Tensor
    weight: torch.Tensor
    bias: float
    noise: float
    feature_names: tuple[str, ...]


def _check_count(n: int, name: str = "n_samples", multiple: int = 1) -> None:
    check_positive_int(n, name)
    if n % multiple:
        raise ValueError(f"{name} must be a positive multiple of {multiple}, got {n!r}")


def house_prices(n_samples: int = 200, *, noise: float = 20.0, seed: int = 0) -> RegressionData:
    """Synthetic house prices (thousands) from area (m²), bedrooms and age, linear plus noise.

    The features have very different scales on purpose (area ~ 40-250, bedrooms 1-5,
    age 0-60): lab 01 uses that to show why feature normalisation matters.
    """
    _check_count(n_samples)
    if noise < 0:
        raise ValueError(f"noise is a standard deviation and must be >= 0, got {noise}")
    rng = np.random.default_rng(seed)
    area = rng.uniform(40, 250, n_samples)
    bedrooms = np.clip(np.round(area / 50 + rng.normal(0, 0.7, n_samples)), 1, 5)
    age = rng.uniform(0, 60, n_samples)
    X = np.stack([area, bedrooms, age], axis=1)
    weight = np.array(HOUSE_WEIGHTS)
    y = X @ weight + HOUSE_BIAS + rng.normal(0, noise, n_samples)
    return RegressionData(torch.tensor(X, dtype=torch.float32), torch.tensor(y, dtype=torch.float32),
                          torch.tensor(weight, dtype=torch.float32), HOUSE_BIAS, noise, HOUSE_FEATURES)


def xor(n_samples: int = 4, *, noise: float = 0.0, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """The XOR problem: inputs (n, 2) at the corners of the unit square, labels (n,) in {0., 1.}.

    ``n_samples`` is a multiple of 4; with ``noise`` > 0 each point gets Gaussian jitter.
    """
    _check_count(n_samples, multiple=4)
    corners = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float64)
    X = np.tile(corners, (n_samples // 4, 1))
    y = np.logical_xor(X[:, 0], X[:, 1]).astype(np.float32)
    if noise:
        X = X + np.random.default_rng(seed).normal(0, noise, X.shape)
    return torch.tensor(X, dtype=torch.float32), torch.tensor(y)


def two_class(n_samples: int = 1000, *, seed: int = 0, class_sep: float = 1.0,
              flip_y: float = 0.01) -> tuple[torch.Tensor, torch.Tensor]:
    """Two-class 2-D data from scikit-learn's ``make_classification``: X (n, 2), y (n,) in {0., 1.}."""
    _check_count(n_samples)
    from sklearn.datasets import make_classification

    X, y = make_classification(n_samples=n_samples, n_features=2, n_informative=2, n_redundant=0,
                               n_clusters_per_class=1, class_sep=class_sep, flip_y=flip_y,
                               random_state=seed)
    return torch.tensor(X, dtype=torch.float32), torch.tensor(y, dtype=torch.float32)


def ring_centers(modes: int = 8, radius: float = 2.0) -> torch.Tensor:
    """The ``modes`` centres, evenly spaced on a circle of ``radius``: (modes, 2) float32."""
    check_positive_int(modes, "modes")
    angles = torch.arange(modes, dtype=torch.float64) * (2 * np.pi / modes)
    return (radius * torch.stack([angles.cos(), angles.sin()], dim=1)).float()


def gaussian_ring(n_samples: int = 1000, *, modes: int = 8, radius: float = 2.0, std: float = 0.02,
                  seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """A mixture of ``modes`` equally likely isotropic Gaussians (standard deviation ``std``) on a
    circle: points (N, 2) float32 and the mode each came from (N,) int64. The classic test of
    mode collapse for GANs."""
    _check_count(n_samples)
    if not std > 0:
        raise ValueError(f"std must be positive, got {std!r}")
    gen = torch.Generator().manual_seed(seed)
    mode = torch.randint(modes, (n_samples,), generator=gen)
    points = ring_centers(modes, radius)[mode] + std * torch.randn(n_samples, 2, generator=gen)
    return points, mode
