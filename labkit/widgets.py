"""Interactive pieces of the labs: the gradient-descent, activation and filter explorers.

Every callback is an ordinary method, so tests (and curious students) can drive a widget from
Python: ``explorer.slider.value = 0.5`` redraws exactly as dragging the slider does.

Figures are shown as PNG bytes in an ``ipywidgets.Image`` (see :mod:`labkit.frontend` for why).
"""
from __future__ import annotations

import math

import numpy as np
from matplotlib.figure import Figure

from labkit.arrays import to_numpy
from labkit.frontend import display, figure_png, show_figure, widget_frontend
from labkit.plots import new_figure


class FigureWidget:
    """Base of the interactive figures: ``widget`` (controls and image) and ``figure``.

    Displayed in a widget front end it is live; in a headless run (papermill, nbval) it shows
    the current picture instead of a widget nobody can move.
    """

    widget: object
    figure: Figure

    def _ipython_display_(self) -> None:
        if widget_frontend():
            display(self.widget)
        else:
            show_figure(self.figure)

    def _show_with(self, *controls) -> None:
        """Lay out ``controls`` in a row above the picture; moving any of them redraws it. Draws once."""
        import ipywidgets

        self.image = ipywidgets.Image(format="png")
        self.widget = ipywidgets.VBox([ipywidgets.HBox(list(controls)), self.image])
        for control in controls:
            control.observe(lambda change: self.redraw(), names="value")
        self.figure = None
        self.redraw()


# --- the gradient-descent explorer (lab 01) ----------------------------------------------------

def mse_loss_1d(x: np.ndarray, y: np.ndarray, w: np.ndarray | float, b: np.ndarray | float) -> np.ndarray:
    """Mean squared error of y ≈ w x + b, straight from the definition; broadcasts over w and b."""
    w, b = np.asarray(w, dtype=float)[..., None], np.asarray(b, dtype=float)[..., None]
    return np.mean((w * x + b - y) ** 2, axis=-1)


def mse_loss_grid_1d(x: np.ndarray, y: np.ndarray, W: np.ndarray, B: np.ndarray) -> np.ndarray:
    """:func:`mse_loss_1d` on grids ``W``, ``B`` from five averages of the data.

    The loss is quadratic in (w, b): L = mean(y²) - 2w mean(xy) - 2b mean(y) + w² mean(x²)
    + 2wb mean(x) + b², so memory is O(grid) instead of O(grid × n).
    """
    x, y = np.asarray(x, dtype=float).ravel(), np.asarray(y, dtype=float).ravel()
    return (np.mean(y * y) - 2 * W * np.mean(x * y) - 2 * B * np.mean(y)
            + W ** 2 * np.mean(x * x) + 2 * W * B * np.mean(x) + B ** 2)


def gd_trajectory(x: np.ndarray, y: np.ndarray, lr: float, steps: int = 30,
                  start: tuple[float, float] = (0.0, 0.0), blowup: float = 1e6) -> np.ndarray:
    """Parameters (w, b) visited by batch gradient descent on the 1-D MSE, shape (k, 2), k <= steps+1.

    Uses dL/dw = -2/n Σ x_i (y_i - ŷ_i) and dL/db = -2/n Σ (y_i - ŷ_i). Stops early once the
    parameters exceed ``blowup`` in size, so a diverging run stays plottable.
    """
    if not lr > 0:
        raise ValueError(f"learning rate must be positive, got {lr}")
    x, y = np.asarray(x, dtype=float).ravel(), np.asarray(y, dtype=float).ravel()
    if x.shape != y.shape:
        raise ValueError(f"x and y need the same length, got {x.shape} and {y.shape}")
    w, b = map(float, start)
    path = [(w, b)]
    for _ in range(steps):
        residual = y - (w * x + b)
        w, b = w + lr * 2 * np.mean(x * residual), b + lr * 2 * np.mean(residual)
        if not (abs(w) < blowup and abs(b) < blowup):
            break
        path.append((w, b))
    return np.array(path)


class GDExplorer(FigureWidget):
    """A learning-rate slider that redraws the gradient-descent path on the loss contour.

    ``x`` and ``y`` are one feature and its targets (normalise x first for a readable contour).
    """

    def __init__(self, x, y, lr: float = 0.1, steps: int = 30, start: tuple[float, float] | None = None,
                 lr_range: tuple[float, float] = (1e-3, 1.5)) -> None:
        import ipywidgets

        self.x = np.asarray(x, dtype=float).ravel()
        self.y = np.asarray(y, dtype=float).ravel()
        if self.x.shape != self.y.shape or self.x.size < 2:
            raise ValueError(f"x and y need the same length (>= 2), got {self.x.shape} and {self.y.shape}")
        if not 0 < lr_range[0] < lr_range[1]:
            raise ValueError(f"lr_range must be (low, high) with 0 < low < high, got {lr_range}")
        self.steps = steps
        w_opt, b_opt = np.polyfit(self.x, self.y, 1)            # least-squares optimum
        self.optimum = (float(w_opt), float(b_opt))
        span = max(abs(w_opt), abs(b_opt), 1.0) * 1.6
        self.start = start if start is not None else (w_opt - span * 0.8, b_opt - span * 0.8)
        self.slider = ipywidgets.FloatLogSlider(
            value=lr, base=10, min=math.log10(lr_range[0]), max=math.log10(lr_range[1]), step=0.05,
            description="learning rate", continuous_update=False, readout_format=".3g",
            style={"description_width": "initial"})
        self.status = ipywidgets.HTML()
        self.image = ipywidgets.Image(format="png")
        self.widget = ipywidgets.VBox([self.slider, self.status, self.image])

        self.figure, self.ax = new_figure(figsize=(6.0, 4.5))
        ws = np.linspace(w_opt - span, w_opt + span, 120)
        bs = np.linspace(b_opt - span, b_opt + span, 120)
        W, B = np.meshgrid(ws, bs)
        Z = mse_loss_grid_1d(self.x, self.y, W, B)
        levels = np.geomspace(max(Z.min(), 1e-12), Z.max(), 20)
        self.ax.contour(W, B, Z, levels=levels, cmap="viridis", linewidths=0.8)
        self.ax.plot(*self.optimum, marker="*", ms=14, color="crimson", label="least-squares optimum")
        (self.line,) = self.ax.plot([], [], "o-", ms=3, color="black", label="gradient descent")
        self.ax.set_xlim(ws[0], ws[-1])
        self.ax.set_ylim(bs[0], bs[-1])
        self.ax.set_aspect("equal")          # one unit of w as long as one of b: true geometry
        self.ax.set_xlabel("weight w")
        self.ax.set_ylabel("bias b")
        self.ax.legend(loc="upper right", fontsize=8)
        self.trajectory = np.empty((0, 2))
        self.slider.observe(self._on_slider, names="value")
        self.redraw()

    def _on_slider(self, change: dict) -> None:
        self.redraw()

    def redraw(self) -> None:
        """Recompute the path for the slider's learning rate and redraw it."""
        lr = float(self.slider.value)
        self.trajectory = gd_trajectory(self.x, self.y, lr, self.steps, self.start)
        self.line.set_data(self.trajectory[:, 0], self.trajectory[:, 1])
        final = float(mse_loss_1d(self.x, self.y, *self.trajectory[-1]))
        diverged = len(self.trajectory) <= self.steps
        self.ax.set_title(f"lr = {lr:.3g}: {'diverged' if diverged else f'loss after {self.steps} steps = {final:.4g}'}")
        self.status.value = (f"<b>diverged</b> after {len(self.trajectory) - 1} steps: the learning rate is too large"
                             if diverged else f"loss after {self.steps} steps: {final:.4g}")
        self.image.value = figure_png(self.figure)



# --- the activation explorer (lab 02) ----------------------------------------------------------

class ActivationExplorer(FigureWidget):
    """A dropdown of activation functions; shows f(x) and its derivative f'(x) (from autograd)."""

    def __init__(self, name: str = "sigmoid", x_range: tuple[float, float] = (-5.0, 5.0)) -> None:
        import ipywidgets

        from labkit.models.mlp import ACTIVATIONS, activation_layer

        activation_layer(name)                                   # validates the name
        self.x_range = x_range
        self.dropdown = ipywidgets.Dropdown(options=list(ACTIVATIONS), value=name, description="activation")
        self.image = ipywidgets.Image(format="png")
        self.widget = ipywidgets.VBox([self.dropdown, self.image])
        self.figure, self.ax = new_figure(figsize=(6.0, 3.5))
        self.dropdown.observe(lambda change: self.redraw(), names="value")
        self.redraw()

    def redraw(self) -> None:
        """Evaluate the selected activation and its derivative, and redraw them."""
        import torch

        from labkit.models.mlp import activation_layer

        name = self.dropdown.value
        x = torch.linspace(*self.x_range, 401, dtype=torch.float64, requires_grad=True)
        f = activation_layer(name).double()(x)
        (df,) = torch.autograd.grad(f.sum(), x)              # each f(x_i) depends on x_i only
        self.x, self.f, self.df = x.detach().numpy(), f.detach().numpy(), df.numpy()
        self.ax.clear()
        self.ax.plot(self.x, self.f, label=f"{name}(x)")
        self.ax.plot(self.x, self.df, "--", label=f"{name}'(x)")
        self.ax.axhline(0, color="gray", lw=0.5)
        self.ax.axvline(0, color="gray", lw=0.5)
        self.ax.set_xlabel("x")
        self.ax.set_title(f"{name}: largest slope {self.df.max():.3g}")
        self.ax.legend()
        self.ax.grid(alpha=0.3)
        self.image.value = figure_png(self.figure)



# --- the filter and feature-map viewer (lab 03) -------------------------------------------------

class FilterViewer(FigureWidget):
    """Sliders pick a convolution layer and an input image; shows the layer's filters and the
    feature maps it produces for that image (the first ``max_maps`` channels)."""

    def __init__(self, model, images, max_maps: int = 16) -> None:
        import ipywidgets
        from torch import nn

        self.model = model
        self.convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
        if not self.convs:
            raise ValueError("the model has no nn.Conv2d layer to show")
        if getattr(images, "ndim", 0) != 4 or len(images) == 0:
            raise ValueError(f"images must be a non-empty batch (N, C, H, W), got shape {tuple(getattr(images, 'shape', ()))}")
        self.images = images
        self.max_maps = max_maps
        self.layer = ipywidgets.IntSlider(value=0, min=0, max=len(self.convs) - 1, description="conv layer")
        self.sample = ipywidgets.IntSlider(value=0, min=0, max=len(images) - 1, description="image")
        self._show_with(self.layer, self.sample)

    def _feature_maps(self, conv, x):
        from labkit.models.evaluating import evaluating

        captured = []
        handle = conv.register_forward_hook(lambda module, inputs, output: captured.append(output.detach()))
        try:
            with evaluating(self.model):      # no dropout, and BatchNorm statistics stay untouched
                self.model(x)
        finally:
            handle.remove()
        return captured[0][0].float().cpu()

    def redraw(self) -> None:
        """Recompute the feature maps for the selected layer and image, and redraw."""
        import matplotlib.pyplot as plt

        conv = self.convs[self.layer.value]
        device = next(self.model.parameters()).device
        x = self.images[self.sample.value: self.sample.value + 1].to(device)
        self.feature_maps = self._feature_maps(conv, x)                  # (C_out, H, W)
        self.filters = conv.weight.detach().float().cpu()              # (C_out, C_in, k, k)
        n = min(self.max_maps, len(self.feature_maps))
        cols = 8
        rows = 1 + 2 * -(-n // cols)
        figure, axes = plt.subplots(rows, cols, figsize=(1.2 * cols, 1.25 * rows), squeeze=False)
        plt.close(figure)
        for ax in axes.ravel():
            ax.axis("off")
        axes[0, 0].imshow(x[0].float().mean(0).cpu().numpy(), cmap="gray")
        axes[0, 0].set_title("input", fontsize=8)
        figure.suptitle(f"conv layer {self.layer.value}: {conv.in_channels}→{conv.out_channels} channels, "
                        f"{conv.kernel_size[0]}x{conv.kernel_size[1]} kernels (filters averaged over input "
                        "channels; feature maps for this image)", fontsize=9)
        filter_rows = -(-n // cols)
        for k in range(n):
            ax_filter = axes[1 + k // cols, k % cols]
            ax_filter.imshow(self.filters[k].mean(0).numpy(), cmap="RdBu_r")
            ax_filter.set_title(f"filter {k}", fontsize=7)
            ax_map = axes[1 + filter_rows + k // cols, k % cols]
            ax_map.imshow(self.feature_maps[k].numpy(), cmap="viridis")
            ax_map.set_title(f"map {k}", fontsize=7)
        figure.tight_layout()
        self.figure = figure
        self.image.value = figure_png(figure)



# --- the latent explorer (lab 04) -------------------------------------------------------------

class LatentExplorer(FigureWidget):
    """Two sliders pick a point (z1, z2) of a 2-D latent space; shows the digit the VAE decodes
    there beside the map of the codes ``z`` (coloured by ``labels``) with the point marked."""

    def __init__(self, model, z, labels, extent: float | None = None) -> None:
        import ipywidgets

        if getattr(model, "latent_dim", None) != 2:
            raise ValueError(f"the latent explorer needs a VAE with latent_dim=2, got latent_dim="
                             f"{getattr(model, 'latent_dim', None)!r}")
        z = to_numpy(z)
        if z.ndim != 2 or z.shape[1] != 2:
            raise ValueError(f"z must be 2-D codes of shape (N, 2), got {z.shape}")
        self.model, self.z, self.labels = model, z, labels
        self.extent = float(extent) if extent is not None else float(max(3.0, np.abs(z).max()))
        step = self.extent / 50
        self.z1 = ipywidgets.FloatSlider(value=0.0, min=-self.extent, max=self.extent, step=step, description="z₁")
        self.z2 = ipywidgets.FloatSlider(value=0.0, min=-self.extent, max=self.extent, step=step, description="z₂")
        self._show_with(self.z1, self.z2)

    @property
    def point(self) -> tuple[float, float]:
        return float(self.z1.value), float(self.z2.value)

    def decode(self, point: tuple[float, float]) -> np.ndarray:
        """The pixel means the decoder gives at ``point``, (H, W)."""
        import torch

        from labkit.models.evaluating import evaluating

        device = next(self.model.parameters()).device
        with evaluating(self.model):
            logits = self.model.decode(torch.tensor([point], dtype=torch.float32, device=device))
        return torch.sigmoid(logits)[0, 0].float().cpu().numpy()

    def redraw(self) -> None:
        """Decode the sliders' point and redraw the map and the digit."""
        import matplotlib.pyplot as plt

        from labkit.plots import latent_map

        self.decoded = self.decode(self.point)
        figure, (ax_map, ax_digit) = plt.subplots(1, 2, figsize=(9.5, 4.2), gridspec_kw={"width_ratios": [1.6, 1]})
        plt.close(figure)
        latent_map(self.z, self.labels, ax=ax_map)
        ax_map.plot(*self.point, marker="*", markersize=18, color="black", markeredgecolor="white")
        ax_map.set_xlim(-self.extent, self.extent)
        ax_map.set_ylim(-self.extent, self.extent)
        ax_digit.imshow(self.decoded, cmap="gray", vmin=0, vmax=1)
        ax_digit.set_title(f"decoded at z = ({self.point[0]:.2f}, {self.point[1]:.2f})")
        ax_digit.axis("off")
        figure.tight_layout()
        self.figure = figure
        self.image.value = figure_png(figure)


# --- the attention viewer (labs 06 and 07) ------------------------------------------------------

class AttentionViewer(FigureWidget):
    """Pick a layer and a head; shows that head's attention weights over ``tokens`` as a heatmap.

    ``maps`` are attention probabilities (layers, heads, L, L), or (layers, 1, heads, L, L) as
    ``Encoder.attention_maps`` returns them for one sequence; only the first len(tokens) positions
    are drawn (the real tokens, before any padding).
    """

    def __init__(self, maps, tokens) -> None:
        import ipywidgets

        maps = to_numpy(maps)
        if maps.ndim == 5:
            if maps.shape[1] != 1:
                raise ValueError(f"maps hold {maps.shape[1]} sequences; pass one, e.g. maps[:, i:i + 1]")
            maps = maps[:, 0]
        if maps.ndim != 4 or maps.shape[-1] != maps.shape[-2]:
            raise ValueError(f"maps must be attention weights (layers, heads, L, L), got shape {maps.shape}")
        self.tokens = [str(t) for t in tokens]
        if not 0 < len(self.tokens) <= maps.shape[-1]:
            raise ValueError(f"{len(self.tokens)} tokens for sequences of {maps.shape[-1]} positions")
        n = len(self.tokens)
        self.maps = maps[:, :, :n, :n]
        layers, heads = self.maps.shape[:2]
        self.layer = ipywidgets.IntSlider(value=0, min=0, max=layers - 1, description="layer")
        self.head = ipywidgets.IntSlider(value=0, min=0, max=heads - 1, description="head")
        self._show_with(self.layer, self.head)

    @property
    def weights(self) -> np.ndarray:
        """The weights on show, (L, L)."""
        return self.maps[self.layer.value, self.head.value]

    def redraw(self) -> None:
        """Draw the chosen layer and head."""
        import matplotlib.pyplot as plt

        from labkit.plots import attention_map

        figure = attention_map(self.weights, self.tokens,
                               title=f"layer {self.layer.value}, head {self.head.value}: attention weights")
        plt.close(figure)
        self.figure = figure
        self.image.value = figure_png(figure)


# --- the temperature explorer (lab 08) ---------------------------------------------------------

class TemperatureExplorer(FigureWidget):
    """A temperature slider (log scale) over one example's logits: the bars show softmax(logits / T).

    T = 1 is the model's own prediction; a higher T spreads probability onto the other classes and
    shows which ones the model finds similar (the "dark knowledge" distillation passes on).
    """

    def __init__(self, logits, class_names=None, temperature: float = 1.0) -> None:
        import ipywidgets

        self.logits = to_numpy(logits).ravel()
        if self.logits.size < 2:
            raise ValueError(f"logits must hold one example's scores for at least 2 classes, got shape "
                             f"{to_numpy(logits).shape}")
        self.class_names = [str(c) for c in class_names] if class_names is not None else None
        if self.class_names is not None and len(self.class_names) != self.logits.size:
            raise ValueError(f"{len(self.class_names)} class names for {self.logits.size} logits")
        if not 0.1 <= temperature <= 100:
            raise ValueError(f"temperature must lie in [0.1, 100], got {temperature!r}")
        self.temperature = ipywidgets.FloatLogSlider(value=temperature, base=10, min=-1, max=2, step=0.05,
                                                     description="T", readout_format=".2f")
        self._show_with(self.temperature)

    @property
    def probabilities(self) -> np.ndarray:
        """softmax(logits / T) at the slider's temperature."""
        scaled = self.logits / self.temperature.value
        exp = np.exp(scaled - scaled.max())
        return exp / exp.sum()

    def redraw(self) -> None:
        """Draw the soft targets at the current temperature."""
        import matplotlib.pyplot as plt

        from labkit.plots import soft_targets

        p = self.probabilities
        entropy = float(-(p * np.log(np.clip(p, 1e-300, None))).sum())
        figure = soft_targets(p, self.class_names,
                              title=f"softmax(logits / T), T = {self.temperature.value:.2f}: entropy {entropy:.2f} nats")
        plt.close(figure)
        self.figure = figure
        self.image.value = figure_png(figure)
