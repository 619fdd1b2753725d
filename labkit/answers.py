"""Answers that hidden tests emit, and how the grader compares them with the instructor's.

A hidden test calls ``answer(key, value)`` on fixed inputs. The value travels as an output of the
test cell (its own MIME type, invisible in JupyterLab). The grader runs the instructor's notebook
once to get the reference answers, then compares each submission's answers with them in its own
process, with the tolerances the instructor's notebook gave: patching the checks, NumPy or the
output channel in the student's kernel changes nothing the grader relies on.
"""
from __future__ import annotations

import base64
import math
import numbers
from typing import Any

import numpy as np

from labkit.frontend import display, in_kernel

ANSWER_MIME = "application/vnd.labkit.answer+json"


def encode(value: Any) -> dict:
    """A JSON-able description of ``value``: number, bool, string, None, array or sequence."""
    if hasattr(value, "detach"):                                  # torch tensor
        value = value.detach().cpu().numpy()
    if isinstance(value, (bool, np.bool_)):
        return {"kind": "bool", "value": bool(value)}
    if isinstance(value, numbers.Integral):
        return {"kind": "number", "value": int(value)}
    if isinstance(value, numbers.Real):
        value = float(value)
        return {"kind": "number", "value": value if math.isfinite(value) else repr(value)}
    if isinstance(value, str) or value is None:
        return {"kind": "str" if value is not None else "none", "value": value}
    if isinstance(value, np.ndarray):
        kind = "bool-array" if value.dtype == bool else "array"
        data = np.ascontiguousarray(value, dtype=bool if kind == "bool-array" else np.float64)
        return {"kind": kind, "shape": list(data.shape), "data": base64.b64encode(data.tobytes()).decode()}
    if isinstance(value, (tuple, list)):
        return {"kind": "sequence", "items": [encode(item) for item in value]}
    raise TypeError(f"an answer must be a number, bool, string, array, tensor or a tuple/list of "
                    f"those, got {type(value).__name__}")


def decode(payload: dict) -> Any:
    """The value ``encode`` described: numbers, bools, strings, None, float64/bool arrays, lists."""
    kind = payload["kind"]
    if kind == "number":
        value = payload["value"]
        return float(value) if isinstance(value, str) else value
    if kind in ("bool", "str", "none"):
        return payload.get("value")
    if kind in ("array", "bool-array"):
        dtype = bool if kind == "bool-array" else np.float64
        return np.frombuffer(base64.b64decode(payload["data"]), dtype=dtype).reshape(payload["shape"])
    if kind == "sequence":
        return [decode(item) for item in payload["items"]]
    raise ValueError(f"unknown answer kind {kind!r}")


def answer(key: str, value: Any, *, rtol: float = 1e-7, atol: float = 1e-10) -> None:
    """Emit the result of a hidden test case for the grader (shows nothing in the notebook).

    ``key`` names the case (a student reads it in the feedback if it fails); ``rtol``/``atol``
    are the tolerances the grader uses, read from the instructor's notebook only.
    """
    try:
        encoded = encode(value)
    except TypeError as err:
        encoded = {"kind": "unreadable", "value": str(err)}
    payload = {"key": key, "answer": encoded, "rtol": rtol, "atol": atol}
    if in_kernel():
        display({ANSWER_MIME: payload, "text/plain": ""}, raw=True)


def answers_in(cell: Any) -> dict[str, dict]:
    """key -> payload of every answer a cell's outputs hold (a later answer with a key wins)."""
    found = {}
    for output in cell.get("outputs", []) if cell.get("cell_type") == "code" else []:
        payload = output.get("data", {}).get(ANSWER_MIME)
        if isinstance(payload, dict) and isinstance(payload.get("key"), str):
            found[payload["key"]] = payload
    return found


def _describe(payload: dict) -> str:
    kind = payload.get("kind")
    if kind in ("array", "bool-array"):
        return f"an array of shape {tuple(payload['shape'])}"
    if kind == "sequence":
        return f"a sequence of {len(payload['items'])}"
    return {"number": "a number", "bool": "True/False", "str": "a string", "none": "None"}.get(
        kind, str(payload.get("value", kind)))


def mismatch(got: dict, expected: dict, rtol: float, atol: float) -> str | None:
    """Why the answer ``got`` differs from ``expected`` (both encoded), or None when it matches."""
    kind, want = got.get("kind"), expected["kind"]
    numeric = {"number", "array", "bool-array"}
    if kind != want and not (kind in numeric and want in numeric):
        return f"expected {_describe(expected)}, got {_describe(got)}"
    if want == "sequence":
        if len(got["items"]) != len(expected["items"]):
            return f"expected {_describe(expected)}, got {_describe(got)}"
        for position, (g, e) in enumerate(zip(got["items"], expected["items"])):
            why = mismatch(g, e, rtol, atol)
            if why:
                return f"item {position}: {why}"
        return None
    if want in ("str", "none", "bool"):
        return None if got.get("value") == expected.get("value") else (
            f"expected {expected.get('value')!r}, got {got.get('value')!r}")
    a, e = np.asarray(decode(got), dtype=np.float64), np.asarray(decode(expected), dtype=np.float64)
    if a.shape != e.shape:
        return f"expected shape {e.shape}, got {a.shape}"
    if not np.all(np.isfinite(a) | ~np.isfinite(e)) or not np.array_equal(np.isnan(a), np.isnan(e)):
        return "contains NaN or infinity"
    finite = np.isfinite(e)
    if not np.array_equal(a[~finite], e[~finite], equal_nan=True) or not np.allclose(a[finite], e[finite], rtol=rtol, atol=atol):
        worst = float(np.max(np.abs(a[finite] - e[finite]), initial=0.0))
        return f"differs from the reference (largest difference {worst:.3g}, tolerance rtol={rtol:g}, atol={atol:g})"
    return None
