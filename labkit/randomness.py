"""Seeding, and the random-number state a training run needs to continue exactly after a resume."""
from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch


def seed_everything(seed: int) -> int:
    """Seed Python, NumPy and torch (all devices) so a run can be repeated. Returns the seed."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**32:
        raise ValueError(f"seed must be an integer in [0, 2**32), got {seed!r}")
    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device
    return seed


def get_rng_state() -> dict[str, Any]:
    """Every global random-number state (Python, NumPy, torch CPU and each CUDA device).

    Only tensors, numbers and lists, so it loads with ``torch.load(weights_only=True)``.
    """
    version, mt_state, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    return {
        "python": {"version": version, "state": list(mt_state), "gauss": gauss},
        "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def set_rng_state(state: dict[str, Any]) -> list[str]:
    """Restore what :func:`get_rng_state` captured; returns the parts that could not be restored
    (CUDA states on a machine with no or fewer GPUs), so a caller can say so."""
    python = state["python"]
    random.setstate((python["version"], tuple(python["state"]), python["gauss"]))
    numpy = state["numpy"]
    np.random.set_state((numpy["kind"], numpy["keys"].numpy().astype(np.uint32), numpy["pos"],
                         numpy["has_gauss"], numpy["cached_gaussian"]))
    torch.set_rng_state(state["torch"].cpu())
    cuda = state.get("cuda") or []
    if not cuda:
        return []
    if not torch.cuda.is_available() or torch.cuda.device_count() < len(cuda):
        return ["the CUDA random-number states (this machine has fewer GPUs than the one that saved them)"]
    torch.cuda.set_rng_state_all([s.cpu() for s in cuda])
    return []
