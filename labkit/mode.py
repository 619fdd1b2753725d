"""Run mode: "smoke" (seconds, on any CPU) or "full" (the real lab, sized for a GPU).

Notebooks size all their work from one ``MODE`` variable::

    MODE = labkit.mode.default()
    EPOCHS = labkit.mode.pick(MODE, smoke=5, full=200)
"""
from __future__ import annotations

import os
from typing import TypeVar

import torch

MODE_ENV = "LABKIT_MODE"
MODES = ("smoke", "full")
# Per-cell time limits: a cell that runs longer fails its notebook instead of hanging the run.
# Smoke mode (the tests, nbval, grading and the release checks): the slowest smoke cell takes
# about 20 s on a 2-core CPU; 300 s leaves room for a machine busy with other work.
SMOKE_CELL_TIMEOUT = 300
# Full mode (`labkit run --mode full`): a whole lab is budgeted at 15 minutes on a 2-core CPU,
# so no single cell of a healthy run comes near 30 minutes.
FULL_CELL_TIMEOUT = 1800
T = TypeVar("T")


def resolve(mode: str | None) -> str:
    """Turn "auto" (or None) into "full" when a CUDA GPU is present, else "smoke"; validate others."""
    name = "auto" if mode is None else str(mode).strip().lower()
    if name == "auto":
        return "full" if torch.cuda.is_available() else "smoke"
    if name not in MODES:
        raise ValueError(f"unknown mode {mode!r}; use 'smoke', 'full' or 'auto'")
    return name


def requested() -> str:
    """The mode ``$LABKIT_MODE`` asks for, not resolved ("auto" when it is not set); an unknown
    value raises ValueError naming the variable and the choices."""
    value = os.environ.get(MODE_ENV, "").strip()
    name = value.lower() or "auto"
    if name != "auto" and name not in MODES:
        raise ValueError(f"${MODE_ENV}={value!r} is not a mode; set it to smoke, full or auto")
    return name


def default() -> str:
    """The mode from ``$LABKIT_MODE`` (smoke | full | auto), or auto when it is not set."""
    return resolve(requested())


def pick(mode: str, *, smoke: T, full: T) -> T:
    """Return ``smoke`` or ``full`` according to ``mode`` ("auto" is resolved first)."""
    return smoke if resolve(mode) == "smoke" else full
