"""Static matplotlib figures used by the labs and by the live loss plot."""
from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from labkit.history import History


def new_figure(*, figsize: tuple[float, float] = (6.0, 3.5)) -> tuple[Figure, Axes]:
    """A figure that is displayed only when asked (closed in pyplot, so cells do not show it twice)."""
    fig, ax = plt.subplots(figsize=figsize)
    plt.close(fig)
    return fig, ax


def plot_history(history: History, keys: Sequence[str] | None = None, ax: Axes | None = None,
                 title: str = "training curves") -> Figure:
    """Plot per-epoch curves (default: every key ending in 'loss'); log scale for wide ranges."""
    if ax is None:
        fig, ax = new_figure()
    else:
        fig = ax.figure
    keys = list(keys) if keys is not None else [k for k in history.keys() if k.endswith("loss")]
    epochs = history["epoch"] if len(history) else []
    values_seen = []
    for key in keys:
        values = np.asarray(history[key], dtype=float)
        ax.plot(epochs, values, marker="o" if len(values) < 30 else None, ms=3, label=key)
        values_seen.append(values[np.isfinite(values)])
    finite = np.concatenate(values_seen) if values_seen else np.array([])
    if finite.size and finite.min() > 0 and finite.max() / finite.min() > 100:
        ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel(", ".join(keys) if len(keys) <= 2 else "value")
    ax.set_title(title)
    if keys:
        ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig
