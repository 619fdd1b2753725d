"""Wall-clock latency done right: warm-up runs first, the GPU synchronised around every timed call,
and the median with its spread reported instead of a single (noisy) number."""
from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from labkit.arguments import check_positive_int


@dataclass(frozen=True)
class Timing:
    """The seconds each timed call took; ``median`` and ``spread`` (interquartile range) summarise them."""

    samples: tuple[float, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def spread(self) -> float:
        """Interquartile range in seconds (0 with fewer than two samples)."""
        if len(self.samples) < 2:
            return 0.0
        q1, _, q3 = statistics.quantiles(self.samples, n=4, method="inclusive")
        return q3 - q1

    def __str__(self) -> str:
        scale, unit = _unit(self.median)
        return (f"{self.median * scale:.3g} {unit} (IQR {self.spread * scale:.2g} {unit}, "
                f"{len(self.samples)} runs)")


def _unit(seconds: float) -> tuple[float, str]:
    for scale, unit in ((1.0, "s"), (1e3, "ms"), (1e6, "µs")):
        if seconds * scale >= 1:
            return scale, unit
    return 1e9, "ns"


def synchronizer(device: str | torch.device | None) -> Callable[[], None]:
    """The function that waits for ``device`` to finish its queued work (does nothing on a CPU).

    Call it before reading the clock: CUDA work is asynchronous, so an unsynchronised timer measures
    only how long it took to queue the kernels. ``None``: CUDA's when CUDA is in use."""
    if device is None:
        return torch.cuda.synchronize if torch.cuda.is_available() and torch.cuda.is_initialized() else _nothing
    device = torch.device(device)
    if device.type == "cuda":
        return lambda: torch.cuda.synchronize(device)
    if device.type == "mps":
        return torch.mps.synchronize
    return _nothing


def _nothing() -> None:
    return None


def latency(fn: Callable[[], object], warmup: int = 5, repeats: int = 30,
            device: str | torch.device | None = None) -> Timing:
    """Time ``fn()`` (no arguments: wrap yours in a lambda) ``repeats`` times after ``warmup`` untimed calls.

    The warm-up absorbs one-off costs (memory allocation, kernel selection, compilation, caches). On a
    GPU the device is synchronised before and after every call; ``device=None`` synchronises CUDA when
    it is in use. Returns a :class:`Timing`; compare medians, and look at the spread before believing
    a difference smaller than it.
    """
    if not callable(fn):
        raise TypeError(f"latency needs a function to call, got {type(fn).__name__}: pass lambda: model(x)")
    if isinstance(warmup, bool) or not isinstance(warmup, int) or warmup < 0:
        raise ValueError(f"warmup must be a non-negative integer, got {warmup!r}")
    repeats = check_positive_int(repeats, "repeats")
    sync = synchronizer(device)
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeats):
        sync()
        start = time.perf_counter()
        fn()
        sync()
        samples.append(time.perf_counter() - start)
    return Timing(tuple(samples))
