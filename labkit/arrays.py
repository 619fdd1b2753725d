"""Tensors or array-likes as NumPy arrays, for figures and NumPy arithmetic."""
from __future__ import annotations

from typing import Any

import numpy as np


def to_numpy(x: Any, dtype: Any = float) -> np.ndarray:
    """``x`` (a tensor on any device, in any precision, or an array-like) as a NumPy array of ``dtype``.

    Tensors are detached and copied to the CPU; bfloat16, which NumPy lacks, goes through float32."""
    if hasattr(x, "detach"):
        x = x.detach().cpu()
        if x.is_floating_point() and x.element_size() < 4:
            x = x.float()
    return np.asarray(x, dtype=dtype)
