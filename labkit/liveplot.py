"""The live loss plot that ``fit`` shows: a redrawn figure in a widget front end, lines elsewhere."""
from __future__ import annotations

import math
import time

from labkit.frontend import display, figure_png, in_kernel, show_figure, widget_frontend
from labkit.history import History

PLOT_MODES = ("auto", "widget", "text", True, False)


class LiveLossPlot:
    """Shows training progress: a live plot in a widget front end, printed lines elsewhere.

    In widget mode the plot never holds training back: it is redrawn at most every
    ``min_interval`` seconds, and less often when drawing is slow, so that drawing takes at most
    ``max_share`` of the wall-clock time (a 100 ms redraw after 0.4 s epochs happens every 2 s).
    When training ends it is replaced by a static figure, so saved notebooks keep the final
    curves. In text mode a line is printed for the first and last epoch and about ten in between.
    """

    def __init__(self, epochs: int, mode: str | bool = "auto", min_interval: float = 0.5,
                 max_share: float = 0.05, clock=time.monotonic) -> None:
        if mode not in PLOT_MODES:
            raise ValueError(f"plot must be 'auto', 'widget', 'text', True or False, got {mode!r}")
        self.enabled = mode is not False
        self.widget = self.enabled and (mode == "widget" or (mode in ("auto", True) and widget_frontend()))
        self.epochs = epochs
        self.every = max(1, math.ceil(epochs / 10))
        self.min_interval = min_interval
        self.max_share = max_share
        self.clock = clock
        self._next_draw = -math.inf
        self.draws = 0
        self.lines: list[str] = []
        if self.widget:
            import ipywidgets
            self.image = ipywidgets.Image(format="png")
            self.handle = display(self.image, display_id=True) if in_kernel() else None

    @staticmethod
    def format_row(row: dict[str, float], epochs: int) -> str:
        width = len(str(epochs))
        values = "  ".join(f"{k} {v:.4g}" for k, v in row.items() if k != "epoch")
        return f"epoch {int(row['epoch']):>{width}}/{epochs}  {values}"

    def update(self, history: History, *, force: bool = False) -> None:
        """Show the latest epoch of ``history``."""
        if not self.enabled or not len(history):
            return
        row = history.rows[-1]
        epoch = int(row["epoch"])
        if self.widget:
            start = self.clock()
            if force or start >= self._next_draw:
                from labkit.plots import plot_history

                self.image.value = figure_png(plot_history(history))
                self.draws += 1
                took = self.clock() - start
                self._next_draw = start + max(self.min_interval, took / self.max_share)
        elif force or epoch == 1 or epoch == self.epochs or epoch % self.every == 0:
            line = self.format_row(row, self.epochs)
            if not self.lines or self.lines[-1] != line:
                self.lines.append(line)
                from tqdm.auto import tqdm
                tqdm.write(line)

    def close(self, history: History, message: str = "") -> None:
        """Training ended: show the last epoch and ``message`` (printed even without a plot), then
        leave a static figure in a notebook."""
        shown = self.enabled and len(history) > 0
        if shown:
            self.update(history, force=True)
        if message:
            print(message)
        if shown and in_kernel():
            from labkit.plots import plot_history

            show_figure(plot_history(history), self.handle if self.widget else None)
