"""Friendly self-checks for exercise test cells.

Each check raises :class:`CheckFailed` (an AssertionError, so nbgrader scores it as a failed
test) with a message that says what was expected, what was found and what to look at. Outside an
exercise a passing check prints a short confirmation; inside ``with exercise(...)`` the checks are
silent and the block prints one ✓ at the end, when every requirement has passed.
"""
from __future__ import annotations

import contextvars
import numbers
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from labkit.answers import answer  # noqa: F401  (hidden tests call labkit.checks.answer)
from labkit.solution_source import forbidden_uses

_QUIET = contextvars.ContextVar("labkit_checks_quiet", default=False)


class CheckFailed(AssertionError):
    """A self-check did not pass; the message says why."""


def _passed(message: str) -> None:
    if not _QUIET.get():
        print(f"✓ {message}")


@contextmanager
def exercise(name: str, func: Callable, *, deny: Sequence[str] = ()) -> Iterator[None]:
    """The self-check of an exercise: ``func`` must not use ``deny``, then the block's checks run.

    On entry, the source of ``func`` (and of the notebook's own functions it calls) is read and
    any use of a denied name fails at once: the exercise asks you to write that yourself. Checks
    inside the block print nothing; one line ``✓ name: every self-check passes`` ends it.
    """
    if isinstance(deny, str):
        raise TypeError(f"deny must be a tuple of names, got the string {deny!r}: write deny=({deny!r},)")
    found = forbidden_uses(func, deny)
    if found:
        listed = "; ".join(str(f) for f in found[:5])
        raise CheckFailed(f"{name} must not use what this exercise asks you to write yourself "
                          f"(everything else is allowed). Found: {listed}")
    token = _QUIET.set(True)
    try:
        yield
    finally:
        _QUIET.reset(token)
    print(f"✓ {name}: every self-check passes")


def number(value: Any, name: str = "value") -> None:
    """Check that ``value`` is a plain Python number (int or float), not a tensor or an array."""
    if (isinstance(value, (bool, np.bool_, np.ndarray)) or not isinstance(value, numbers.Real)
            or hasattr(value, "detach")):
        raise CheckFailed(f"{name} should be a plain number (a Python float or int), got "
                          f"{type(value).__name__}: convert with float(...) or .item()")
    _passed(f"{name} is a number")


def _array(x: Any, name: str) -> np.ndarray:
    if hasattr(x, "detach"):                     # torch tensor
        x = x.detach().cpu().numpy()
    try:
        return np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError):
        raise CheckFailed(f"{name}: expected numbers, got {type(x).__name__}") from None


def _shape_of(x: Any) -> tuple[int, ...]:
    return tuple(x.shape) if hasattr(x, "shape") else np.shape(x)


def shape(x: Any, expected: Sequence[int], name: str = "value") -> None:
    """Check that ``x`` has exactly the shape ``expected``."""
    if x is None:
        raise CheckFailed(f"{name} is None: did the function forget to return its result?")
    got = _shape_of(x)
    if tuple(got) != tuple(expected):
        raise CheckFailed(f"{name} has shape {tuple(got)}, expected {tuple(expected)}")
    _passed(f"{name} has shape {tuple(expected)}")


def close(actual: Any, expected: Any, name: str = "value", *, rtol: float = 1e-5,
          atol: float = 1e-8) -> None:
    """Check that ``actual`` matches ``expected`` elementwise within a tolerance."""
    if actual is None:
        raise CheckFailed(f"{name} is None: did the function forget to return its result?")
    a, e = _array(actual, name), _array(expected, "expected")
    if a.shape != e.shape:
        raise CheckFailed(f"{name} has shape {a.shape}, expected {e.shape}")
    if not np.all(np.isfinite(a)):
        raise CheckFailed(f"{name} contains NaN or infinity: {a}")
    if not np.allclose(a, e, rtol=rtol, atol=atol):
        worst = float(np.max(np.abs(a - e)))
        shown = (f"got {a}, expected {e}" if a.size <= 6
                 else f"largest difference {worst:.3g} (tolerance rtol={rtol:g}, atol={atol:g})")
        raise CheckFailed(f"{name} is not right: {shown}")
    _passed(f"{name} is correct")


def relative_error(a: Any, b: Any) -> float:
    """``max|a - b| / max(|a| + |b|)``, the usual scale-free measure for gradient checks."""
    a, b = _array(a, "a"), _array(b, "b")
    denominator = max(float(np.max(np.abs(a) + np.abs(b), initial=0.0)), 1e-12)
    return float(np.max(np.abs(a - b), initial=0.0)) / denominator


def numerical_gradient(f: Callable[[np.ndarray], float], x: Any, eps: float = 1e-6) -> np.ndarray:
    """Central finite differences (f(x + eps e_i) - f(x - eps e_i)) / (2 eps), one coordinate at a time.

    ``x`` is copied to float64; ``f`` must return a scalar.
    """
    x = _array(x, "x").copy()
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        saved = x[i]
        x[i] = saved + eps
        f_plus = float(f(x))
        x[i] = saved - eps
        f_minus = float(f(x))
        x[i] = saved
        grad[i] = (f_plus - f_minus) / (2 * eps)
    return grad


def gradient(analytic: Any, reference: Any, name: str = "gradient", *, tol: float = 1e-6) -> None:
    """Check an analytic gradient against a reference (finite differences or autograd).

    Passes when the relative error is below ``tol``. Like every check it returns None: nbgrader
    reads a number left as a test cell's value as partial credit. Use ``relative_error`` for
    the number itself.
    """
    a, r = _array(analytic, name), _array(reference, "reference")
    if a.shape != r.shape:
        raise CheckFailed(f"{name} has shape {a.shape}, but the reference gradient has shape {r.shape}")
    err = relative_error(a, r)
    if not err < tol:
        raise CheckFailed(f"{name} disagrees with the reference: relative error {err:.2e} "
                          f"(should be below {tol:.0e}). Check signs, the 1/n factor and the chain rule.")
    _passed(f"{name} matches the reference (relative error {err:.1e})")
