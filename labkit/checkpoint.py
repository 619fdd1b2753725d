"""Checkpoints that survive crashes: atomic saves, and loads that explain what went wrong."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from labkit.files import atomic_write

FORMAT = "labkit-checkpoint"
VERSION = 2
READABLE_VERSIONS = (1, 2)     # version 1: one optimiser, no random-number state


class CheckpointError(RuntimeError):
    """A checkpoint could not be read or does not fit the model it is loaded into."""


def save_checkpoint(path: str | os.PathLike, state: dict[str, Any]) -> Path:
    """Save ``state`` (model/optimizer state dicts, epoch, history...) to ``path`` atomically."""
    path = Path(path)
    payload = {"format": FORMAT, "version": VERSION, **state}
    with atomic_write(path) as handle:
        torch.save(payload, handle)
    return path


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint written by :func:`save_checkpoint`; the file is never modified."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:   # torch raises several types for truncated or foreign files
        raise CheckpointError(
            f"checkpoint {path} is corrupt or truncated ({type(err).__name__}: {str(err)[:200]}). "
            "It was left untouched: delete it (or move it away) to start afresh, or pass "
            "another checkpoint path."
        ) from err
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a labkit checkpoint (no '{FORMAT}' marker); "
                              "it was left untouched")
    if state.get("version") not in READABLE_VERSIONS:
        raise CheckpointError(f"{path} has checkpoint version {state.get('version')}; this labkit reads "
                              f"versions {', '.join(map(str, READABLE_VERSIONS))}. It was left untouched.")
    return state
