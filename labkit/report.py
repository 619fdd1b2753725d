"""Metrics a notebook publishes: ``record(name, value)``, and reading them back from a run.

A recorded metric is displayed as an output with its own MIME type, so it travels inside the
executed notebook itself: the curriculum runner and the tests read it from there. No files, no
global state.
"""
from __future__ import annotations

import math
import numbers
import re
from typing import Any

from labkit.frontend import display, in_kernel

METRIC_MIME = "application/vnd.labkit.metric+json"
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")


def _plain(value: Any) -> float | int | str | bool:
    if hasattr(value, "item") and getattr(value, "ndim", 0) == 0:   # torch / numpy scalars
        value = value.item()
    if isinstance(value, (bool, str)):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        value = float(value)
        if not math.isfinite(value):
            raise ValueError(f"metric value is {value}: a lab must not publish a non-finite result")
        return value
    raise TypeError(f"a metric must be a number, bool or string (or a one-element tensor/array), "
                    f"got {type(value).__name__}")


def record(name: str, value: Any) -> None:
    """Publish a metric of this notebook, e.g. ``record("test_accuracy", 0.981)``.

    Tensors and NumPy scalars become plain numbers; non-finite values are refused.
    """
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(f"metric name {name!r} must start with a letter or _ and contain only "
                         "letters, digits, '_', '.' or '-'")
    try:
        value = _plain(value)
    except (TypeError, ValueError) as err:
        raise type(err)(f"record({name!r}, ...): {err}") from None
    if in_kernel():        # travels with the notebook, shows nothing: labs print what students read
        display({METRIC_MIME: {"name": name, "value": value}, "text/plain": ""}, raw=True)
    else:
        shown = f"{value:.6g}" if isinstance(value, float) else repr(value)
        print(f"[labkit] recorded {name} = {shown}")


def metrics_from_notebook(nb: Any) -> dict[str, Any]:
    """All metrics recorded in an executed notebook (an nbformat node or its dict); later wins."""
    metrics: dict[str, Any] = {}
    for cell in nb["cells"]:
        for output in cell.get("outputs", []) if cell.get("cell_type") == "code" else []:
            payload = output.get("data", {}).get(METRIC_MIME)
            if payload:
                metrics[payload["name"]] = payload["value"]
    return metrics
