"""Where output goes: a Jupyter kernel (with or without a widget front end) or a terminal.

The one place that answers "are we in a kernel?" and shows figures there. Figures are shown as
PNG images, never through an ``ipywidgets.Output`` context: headless executors (nbclient, so
papermill, nbval and nbgrader) emulate Output widgets by talking back to the kernel, which can
deadlock (jupyter/nbclient#312).
"""
from __future__ import annotations

import io
import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.figure import Figure

WIDGETS_ENV = "LABKIT_WIDGETS"


def in_kernel() -> bool:
    """True inside a Jupyter kernel (notebook, papermill, nbval), False in a terminal or script."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and hasattr(shell, "kernel")


def widget_frontend() -> bool:
    """True when output is shown by a Jupyter front end that renders ipywidgets.

    A kernel cannot see whether anyone renders its widgets, so headless executors say so:
    ``LABKIT_WIDGETS=0`` (set by ``labkit run``, the tests and the grader) selects printed lines.
    """
    if os.environ.get(WIDGETS_ENV, "").strip().lower() in ("0", "false", "no", "off"):
        return False
    try:
        import ipywidgets  # noqa: F401
    except ImportError:
        return False
    return in_kernel()


def display(obj: Any, **kwargs: Any) -> Any:
    """IPython's ``display`` (imported only when something is shown).

    An ipywidgets 7 widget (Colab's) shows itself through ``_ipython_display_``, which drops a
    ``display_id``; it is displayed here as its widget-view bundle instead, so the handle can
    later replace it (the live plot's final figure).
    """
    from IPython.display import display as ipython_display

    if kwargs.get("display_id") and hasattr(obj, "_ipython_display_") and not hasattr(obj, "_repr_mimebundle_"):
        view = {"version_major": 2, "version_minor": 0, "model_id": obj.model_id}
        bundle = {"text/plain": repr(obj), "application/vnd.jupyter.widget-view+json": view}
        return ipython_display(bundle, raw=True, **kwargs)
    return ipython_display(obj, **kwargs)


def figure_png(figure: "Figure") -> bytes:
    """The figure rendered as PNG bytes (what an ``ipywidgets.Image`` shows)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


def show_figure(figure: "Figure", handle: Any = None) -> None:
    """Display ``figure`` as a PNG image (whatever the matplotlib backend), or replace what
    ``handle`` (a display handle) shows with it."""
    from IPython.display import Image

    picture = Image(data=figure_png(figure))
    if handle is not None:
        handle.update(picture)
    else:
        display(picture)
