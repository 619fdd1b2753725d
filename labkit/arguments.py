"""Argument checks shared by every public function, with messages that say what was wrong."""
from __future__ import annotations

import numbers


def check_positive_int(value: object, name: str) -> int:
    """Return ``value`` as an int if it is a whole number >= 1 (bools refused), else raise ValueError."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def check_probability(p: object, name: str = "dropout") -> float:
    """Return ``p`` as a float if it lies in [0, 1), else raise ValueError."""
    if isinstance(p, bool) or not isinstance(p, numbers.Real) or not 0 <= p < 1:
        raise ValueError(f"{name} is a probability in [0, 1), got {p!r}")
    return float(p)
