"""Static matplotlib figures used by the labs and by the live loss plot."""
from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from labkit.arrays import to_numpy
from labkit.history import History


def new_figure(*, figsize: tuple[float, float] = (6.0, 3.5)) -> tuple[Figure, Axes]:
    """A figure that is displayed only when asked (closed in pyplot, so cells do not show it twice)."""
    fig, ax = plt.subplots(figsize=figsize)
    plt.close(fig)
    return fig, ax


def _figure_for(ax: Axes | None, *, figsize: tuple[float, float] = (6.0, 3.5)) -> tuple[Figure, Axes]:
    """The figure of ``ax``, or a new figure (of ``figsize``) and its axes when ``ax`` is None."""
    return new_figure(figsize=figsize) if ax is None else (ax.figure, ax)


def plot_history(history: History, keys: Sequence[str] | None = None, ax: Axes | None = None,
                 title: str = "training curves") -> Figure:
    """Plot per-epoch curves (default: every key ending in 'loss'); log scale for wide ranges."""
    fig, ax = _figure_for(ax)
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


def plot_confusion_matrix(confusion: np.ndarray, class_names: Sequence[str] | None = None,
                          title: str = "confusion matrix") -> Figure:
    """Counts per (true class, predicted class); the diagonal holds the correct predictions."""
    confusion = np.asarray(confusion)
    n = len(confusion)
    names = list(class_names) if class_names is not None else [str(i) for i in range(n)]
    fig, ax = new_figure(figsize=(0.5 * n + 2.5, 0.5 * n + 2))
    image = ax.imshow(confusion, cmap="Blues")
    fig.colorbar(image, ax=ax, fraction=0.046)
    for i in range(n):
        for j in range(n):
            if confusion[i, j]:
                ax.text(j, i, int(confusion[i, j]), ha="center", va="center", fontsize=8,
                        color="white" if confusion[i, j] > confusion.max() / 2 else "black")
    ax.set_xticks(range(n), names, rotation=45 if max(map(len, names)) > 2 else 0)
    ax.set_yticks(range(n), names)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(title)
    fig.tight_layout()
    return fig


def plot_decision_boundary(predict_proba, X, y, title: str = "decision boundary", resolution: int = 200) -> Figure:
    """Shade P(class 1) over the plane of 2-D inputs ``X`` (points coloured by label ``y``).

    ``predict_proba(points)`` takes an (m, 2) array and returns m probabilities.
    """
    X, y = np.asarray(X, dtype=float), np.asarray(y).ravel()
    if X.ndim != 2 or X.shape[1] != 2:
        raise ValueError(f"plot_decision_boundary needs 2-D inputs of shape (n, 2), got {X.shape}")
    pad = 0.5
    xs = np.linspace(X[:, 0].min() - pad, X[:, 0].max() + pad, resolution)
    ys = np.linspace(X[:, 1].min() - pad, X[:, 1].max() + pad, resolution)
    grid_x, grid_y = np.meshgrid(xs, ys)
    probabilities = np.asarray(predict_proba(np.column_stack([grid_x.ravel(), grid_y.ravel()])), dtype=float)
    fig, ax = new_figure(figsize=(5.5, 4.5))
    shading = ax.contourf(grid_x, grid_y, probabilities.reshape(grid_x.shape), levels=20, cmap="RdBu_r",
                          vmin=0, vmax=1, alpha=0.6)
    ax.contour(grid_x, grid_y, probabilities.reshape(grid_x.shape), levels=[0.5], colors="black", linewidths=1)
    ax.scatter(X[:, 0], X[:, 1], c=y, cmap="RdBu_r", edgecolors="k", linewidths=0.3, s=12)
    fig.colorbar(shading, ax=ax, label="P(class 1)")
    ax.set_title(title)
    fig.tight_layout()
    return fig


def image_grid(images, labels: Sequence | None = None, ncols: int = 8, title: str = "") -> Figure:
    """Show images (N, 1, H, W) or (N, H, W) in a grid, each titled with its label if given."""
    images = to_numpy(images)
    if images.ndim == 4:
        if images.shape[1] != 1:
            raise ValueError(f"image_grid shows one-channel images; got shape {images.shape}")
        images = images[:, 0]
    if images.ndim != 3:
        raise ValueError(f"image_grid needs images of shape (N, H, W) or (N, 1, H, W), got {images.shape}")
    n = len(images)
    ncols = max(1, min(ncols, n))
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(1.3 * ncols, 1.4 * nrows + (0.3 if title else 0)), squeeze=False)
    plt.close(fig)
    for k, ax in enumerate(axes.ravel()):
        ax.axis("off")
        if k < n:
            ax.imshow(images[k], cmap="gray")
            if labels is not None:
                ax.set_title(str(labels[k]), fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def _image_stack(images) -> np.ndarray:
    images = to_numpy(images)
    if images.ndim == 4:
        if images.shape[1] != 1:
            raise ValueError(f"one-channel images expected, got shape {images.shape}")
        images = images[:, 0]
    if images.ndim != 3 or len(images) == 0:
        raise ValueError(f"images of shape (N, H, W) or (N, 1, H, W) expected, got {images.shape}")
    return images


def mosaic(images, ncols: int = 8, gap: int = 1) -> np.ndarray:
    """The images tiled row by row into one array, ``gap`` pixels of white between them."""
    images = _image_stack(images)
    n, h, w = images.shape
    ncols = max(1, min(ncols, n))
    nrows = -(-n // ncols)
    tiled = np.ones((nrows * (h + gap) - gap, ncols * (w + gap) - gap))
    for k, image in enumerate(images):
        r, c = divmod(k, ncols)
        tiled[r * (h + gap): r * (h + gap) + h, c * (w + gap): c * (w + gap) + w] = image
    return tiled


def image_mosaic(images, ncols: int = 8, title: str = "", ax: Axes | None = None) -> Figure:
    """Many images (values in [0, 1]) as one tiled picture: fast to draw, e.g. 64 generated digits."""
    tiled = mosaic(images, ncols)
    rows, cols = tiled.shape
    inches_per_pixel = min(0.04, 9.0 / max(rows, cols))                  # at most 9 inches on the long side
    fig, ax = _figure_for(ax, figsize=(cols * inches_per_pixel + 0.3, rows * inches_per_pixel + (0.6 if title else 0.3)))
    ax.imshow(tiled, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def latent_map(z, labels, ax: Axes | None = None, title: str = "") -> Figure:
    """2-D latent codes (N, 2) as a scatter plot coloured by class, with a legend."""
    z = to_numpy(z)
    labels = np.asarray(labels.cpu() if hasattr(labels, "cpu") else labels).ravel()
    if z.ndim != 2 or z.shape[1] != 2:
        raise ValueError(f"latent_map draws 2-D codes of shape (N, 2), got {z.shape}; for more dimensions "
                         "project them first (e.g. with PCA)")
    if len(labels) != len(z):
        raise ValueError(f"{len(z)} codes but {len(labels)} labels")
    fig, ax = _figure_for(ax, figsize=(5.5, 4.8))
    colours = plt.get_cmap("tab10")
    for k, label in enumerate(np.unique(labels)):
        chosen = labels == label
        ax.scatter(z[chosen, 0], z[chosen, 1], s=6, alpha=0.7, color=colours(k % 10), label=str(label))
    ax.set_xlabel("$z_1$")
    ax.set_ylabel("$z_2$")
    ax.legend(markerscale=2.5, fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5), title="class")
    ax.set_title(title or "latent codes (posterior means) by class")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def attention_map(weights, tokens: Sequence[str], ax: Axes | None = None, title: str = "") -> Figure:
    """Attention probabilities (L, L) as a heatmap: queries on the rows, keys on the columns."""
    weights = to_numpy(weights)
    tokens = [str(t) for t in tokens]
    if weights.ndim != 2 or weights.shape[0] != weights.shape[1]:
        raise ValueError(f"attention_map draws one head's (L, L) weights, got shape {weights.shape}; pick a layer "
                         "and a head first, e.g. maps[layer, 0, head]")
    if len(tokens) != len(weights):
        raise ValueError(f"{len(tokens)} tokens for {len(weights)} positions: pass the tokens of the real positions "
                         "and the weights cut to them")
    side = min(9.0, 2.0 + 0.22 * len(tokens))
    fig, ax = _figure_for(ax, figsize=(side + 1.0, side))
    image = ax.imshow(weights, cmap="viridis", vmin=0, vmax=max(1e-9, weights.max()))
    ticks = range(len(tokens))
    fontsize = 8 if len(tokens) <= 40 else 6
    ax.set_xticks(ticks, tokens, rotation=90, fontsize=fontsize)
    ax.set_yticks(ticks, tokens, fontsize=fontsize)
    ax.set_xlabel("key (attended to)")
    ax.set_ylabel("query (attending)")
    ax.set_title(title or "attention weights")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    fig.tight_layout()
    return fig


def soft_targets(probabilities, class_names: Sequence[str] | None = None, ax: Axes | None = None,
                 title: str = "") -> Figure:
    """One example's class probabilities as bars (the soft targets a teacher hands to a student)."""
    probabilities = to_numpy(probabilities).ravel()
    names = [str(c) for c in class_names] if class_names is not None else [str(i) for i in range(len(probabilities))]
    if len(names) != len(probabilities):
        raise ValueError(f"{len(names)} class names for {len(probabilities)} probabilities")
    fig, ax = _figure_for(ax, figsize=(6.0, 3.0))
    ax.bar(range(len(probabilities)), probabilities, color="tab:blue")
    ax.set_xticks(range(len(probabilities)), names)
    ax.set_ylim(0, 1)
    ax.set_xlabel("class")
    ax.set_ylabel("probability")
    ax.set_title(title or "soft targets")
    fig.tight_layout()
    return fig


def roofline(points: dict[str, tuple[float, float]], peak_flops: float, bandwidth: float,
             ax: Axes | None = None, title: str = "") -> Figure:
    """The roofline model on log-log axes: attainable FLOP/s = min(peak, bandwidth × intensity).

    ``points`` maps a name to (arithmetic intensity in FLOPs per byte, achieved FLOP/s); ``peak_flops``
    (FLOP/s) and ``bandwidth`` (bytes/s) are the machine's, measured or from its data sheet. Points
    left of the ridge (peak / bandwidth) are memory-bound, right of it compute-bound.
    """
    if not peak_flops > 0 or not bandwidth > 0:
        raise ValueError(f"peak_flops and bandwidth must be positive, got {peak_flops!r} and {bandwidth!r}")
    if not points:
        raise ValueError("points is empty: pass {name: (flops_per_byte, achieved_flops_per_s)}")
    for name, (intensity, achieved) in points.items():
        if not intensity > 0 or not achieved > 0:
            raise ValueError(f"{name!r}: intensity and achieved FLOP/s must be positive, got ({intensity}, {achieved})")
    fig, ax = _figure_for(ax, figsize=(6.5, 4.0))
    ridge = peak_flops / bandwidth
    intensities = [i for i, _ in points.values()]
    x = np.geomspace(min(min(intensities), ridge) / 4, max(max(intensities), ridge) * 4, 200)
    ax.loglog(x, np.minimum(peak_flops, bandwidth * x), color="black", lw=2, label="roofline")
    ax.axvline(ridge, color="grey", ls=":", lw=1)
    ax.annotate(f"ridge {ridge:.3g} FLOP/B", (ridge, peak_flops), textcoords="offset points", xytext=(4, -12),
                fontsize=8, color="grey")
    for name, (intensity, achieved) in points.items():
        ax.scatter([intensity], [achieved], zorder=3)
        ax.annotate(name, (intensity, achieved), textcoords="offset points", xytext=(5, 3), fontsize=8)
    ax.set_xlabel("arithmetic intensity (FLOPs per byte moved)")
    ax.set_ylabel("FLOP/s")
    ax.set_title(title or "roofline")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    return fig


def profile_breakdown(profile, ax: Axes | None = None, title: str = "") -> Figure:
    """A profiled step's time by kind of work (``labkit.profiling.Profile.categories()``), as bars."""
    categories = profile.categories()
    if not categories:
        raise ValueError("the profile recorded no operator time")
    fig, ax = _figure_for(ax, figsize=(6.5, 0.8 + 0.35 * len(categories)))
    names, seconds = list(categories)[::-1], [v * 1e3 for v in categories.values()][::-1]
    ax.barh(names, seconds, color="tab:orange")
    where = "GPU kernel" if profile.on_gpu else "CPU"
    ax.set_xlabel(f"{where} milliseconds per step")
    ax.set_title(title or f"where a step's time goes ({profile.step_seconds * 1e3:.1f} ms per step)")
    fig.tight_layout()
    return fig
