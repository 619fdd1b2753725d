"""The progress bar that data downloads, training and grading share."""
from __future__ import annotations

from typing import Any

from labkit.frontend import in_kernel, widget_frontend


def progress_bar(**kwargs: Any):
    """A tqdm bar suited to where output goes: a widget in a Jupyter front end, text in a
    terminal, and none in a headless kernel (papermill, nbval), whose logs get printed lines."""
    kwargs["disable"] = kwargs.get("disable", False) or (in_kernel() and not widget_frontend())
    if widget_frontend():
        from tqdm.auto import tqdm
    else:
        from tqdm.std import tqdm
    return tqdm(**kwargs)
