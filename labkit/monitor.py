"""Which epoch was best: the monitored value, whether to minimise or maximise it, early stopping."""
from __future__ import annotations

import copy
import math
from typing import Any

from torch import nn

MONITOR_MODES = ("min", "max")
# Logged names that are better when larger. Everything else (losses, errors, perplexity, a
# negative ELBO logged as a loss) is better when smaller.
MAXIMISED = ("accuracy", "acc", "precision", "recall", "f1", "auc", "auroc", "r2")


def default_monitor_mode(monitor: str) -> str:
    """"max" when a word of ``monitor`` (split at "_") names a score in :data:`MAXIMISED`, else "min"."""
    words = monitor.lower().split("_")
    return "max" if any(word in MAXIMISED for word in words) else "min"


class BestEpoch:
    """Tracks the best value of ``monitor`` and, when asked, a copy of the best weights.

    ``patience`` epochs without improvement make :attr:`should_stop` true. A NaN never improves.
    """

    def __init__(self, monitor: str, mode: str | None = None, patience: int | None = None,
                 keep_weights: bool = False) -> None:
        if mode is not None and mode not in MONITOR_MODES:
            raise ValueError(f"monitor_mode must be 'min', 'max' or None (chosen from the name), got {mode!r}")
        self.monitor = monitor
        self.mode = mode or default_monitor_mode(monitor)
        self.patience = patience
        self.keep_weights = keep_weights
        self.best_value = math.inf if self.mode == "min" else -math.inf
        self.best_epoch: int | None = None
        self.waited = 0
        self.best_weights: dict[str, Any] | None = None

    def improved(self, value: float) -> bool:
        return value < self.best_value if self.mode == "min" else value > self.best_value

    def update(self, epoch: int, value: float, model: nn.Module) -> bool:
        """Record ``value`` for ``epoch``; returns True when it is the best so far."""
        if not self.improved(value):
            self.waited += 1
            return False
        self.best_value, self.best_epoch, self.waited = value, epoch, 0
        if self.keep_weights:
            self.best_weights = {k: v.detach().clone() for k, v in model.state_dict().items()}
        return True

    @property
    def should_stop(self) -> bool:
        return self.patience is not None and self.waited >= self.patience

    def state_dict(self) -> dict[str, Any]:
        return {"monitor": self.monitor, "mode": self.mode, "best_value": self.best_value,
                "best_epoch": self.best_epoch, "waited": self.waited, "best_weights": self.best_weights}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("monitor", self.monitor) != self.monitor or state.get("mode", self.mode) != self.mode:
            raise ValueError(f"the checkpoint monitored {state.get('monitor')!r} ({state.get('mode')}) but this "
                             f"run monitors {self.monitor!r} ({self.mode}); resume with the same monitor")
        self.best_value, self.best_epoch, self.waited = state["best_value"], state["best_epoch"], state["waited"]
        self.best_weights = copy.copy(state.get("best_weights"))
