"""Argument checks shared by every public function, with messages that say what was wrong."""
from __future__ import annotations

import difflib
import numbers
from typing import Sequence


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


def check_choice(value: str, choices: Sequence[str], what: str, plural: str) -> str:
    """Return ``value`` if it is one of ``choices``, else raise ValueError naming the closest ones and
    all of them, e.g. "unknown corpus 'wikitext2'. Did you mean 'wikitext-2'? Known corpora: ..."."""
    if value in choices:
        return value
    close = difflib.get_close_matches(str(value), choices, n=2, cutoff=0.5)
    hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
    raise ValueError(f"unknown {what} {value!r}.{hint} Known {plural}: {', '.join(choices)}")
