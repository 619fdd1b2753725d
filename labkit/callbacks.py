"""Callbacks for :func:`labkit.fit`: a fixed-noise sample grid that shows a generator learning."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from labkit.arguments import check_positive_int
from labkit.files import atomic_write
from labkit.frontend import display, figure_png, widget_frontend
from labkit.models.evaluating import evaluating


def tanh_to_pixels(x: torch.Tensor) -> torch.Tensor:
    """Generator outputs in [-1, 1] (tanh) to pixels in [0, 1]."""
    return ((x + 1) / 2).clamp(0, 1)


class SampleGrid:
    """After every ``every`` epochs, draw G(noise) for a fixed ``noise`` batch.

    In JupyterLab the picture updates in place (an ipywidgets Image); elsewhere each picture is
    saved as ``folder/samples_epoch_<k>.png`` when ``folder`` is given. ``frames`` keeps
    ``(epoch, mosaic)`` pairs for :meth:`figure`, the samples over training.
    """

    def __init__(self, generator: torch.nn.Module, noise: torch.Tensor, every: int = 1, ncols: int = 8,
                 folder: str | Path | None = None, to_pixels: Callable[[torch.Tensor], torch.Tensor] | None = None
                 ) -> None:
        check_positive_int(every, "every")
        check_positive_int(ncols, "ncols")
        if noise.ndim != 2:
            raise ValueError(f"noise is a batch of latent vectors (N, latent_dim), got shape {tuple(noise.shape)}")
        self.generator, self.noise, self.every, self.ncols = generator, noise, every, ncols
        self.folder = Path(folder) if folder is not None else None
        self.to_pixels = to_pixels or tanh_to_pixels
        self.frames: list[tuple[int, np.ndarray]] = []
        self.saved: list[Path] = []
        self._image: Any = None

    def samples(self) -> torch.Tensor:
        """G(noise) as pixels in [0, 1], generated in eval mode (on the CPU)."""
        device = next(self.generator.parameters()).device
        with evaluating(self.generator):
            return self.to_pixels(self.generator(self.noise.to(device)).float()).cpu()

    def on_epoch_end(self, history: Any, ctx: Any) -> None:
        epoch = len(history.rows)
        if epoch % self.every:
            return
        from labkit.plots import image_mosaic, mosaic

        tiled = mosaic(self.samples(), self.ncols)
        self.frames.append((epoch, tiled))
        if widget_frontend():
            import ipywidgets

            picture = figure_png(image_mosaic(tiled[None], ncols=1, title=f"fixed noise, epoch {epoch}"))
            if self._image is None:
                self._image = ipywidgets.Image(format="png")
                display(self._image)
            self._image.value = picture
        elif self.folder is not None:
            self.folder.mkdir(parents=True, exist_ok=True)
            path = self.folder / f"samples_epoch_{epoch:03d}.png"
            with atomic_write(path) as handle:
                handle.write(figure_png(image_mosaic(tiled[None], ncols=1, title=f"epoch {epoch}")))
            self.saved.append(path)

    def figure(self, max_frames: int = 6):
        """The saved frames side by side (at most ``max_frames``, evenly spaced, the last included)."""
        import matplotlib.pyplot as plt

        if not self.frames:
            raise ValueError("no frames yet: pass the SampleGrid to fit(callbacks=[...]) and train first")
        picks = sorted({round(i) for i in np.linspace(0, len(self.frames) - 1, min(max_frames, len(self.frames)))})
        rows, cols = self.frames[0][1].shape
        fig, axes = plt.subplots(1, len(picks), figsize=(2.6 * len(picks), 2.6 * rows / cols + 0.7), squeeze=False)
        plt.close(fig)
        for ax, k in zip(axes[0], picks):
            epoch, tiled = self.frames[k]
            ax.imshow(tiled, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            ax.set_title(f"epoch {epoch}", fontsize=9)
            ax.axis("off")
        fig.suptitle("the same noise vectors over training")
        fig.tight_layout()
        return fig
