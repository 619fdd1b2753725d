"""Small models and data shared by the training-loop tests."""
from __future__ import annotations

import torch
from torch import nn


class Regressor(nn.Module):
    """A small MLP (with dropout, so random state matters) that returns (N,) for (N,) targets."""

    def __init__(self, d: int = 3, hidden: int = 8, dropout: float = 0.0) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(d, hidden), nn.ReLU(), nn.Dropout(dropout))
        self.head = nn.Linear(hidden, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x)).squeeze(-1)


def regression_data(n: int = 96, d: int = 3, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    X = torch.randn(n, d, generator=generator)
    y = X @ torch.arange(1.0, d + 1) + 0.1 * torch.randn(n, generator=generator)
    return X, y


def weights(model: nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().reshape(-1) for p in model.state_dict().values() if p.is_floating_point()])


class Recorder:
    """A callback that keeps a copy of the weights after every epoch and can inject logged values."""

    def __init__(self, inject: dict[str, list[float]] | None = None) -> None:
        self.inject = inject or {}
        self.weights: dict[int, torch.Tensor] = {}

    def on_epoch_end(self, history, ctx) -> None:
        epoch = history.rows[-1]["epoch"]
        for key, values in self.inject.items():
            history.rows[-1][key] = values[epoch - 1]
        self.weights[epoch] = weights(ctx.model)
