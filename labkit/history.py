"""History: the per-epoch record that fit() returns."""
from __future__ import annotations

import math
from typing import Any


class History:
    """One row per epoch (``{"epoch": 3, "loss": ..., "val_loss": ...}``); ``history["loss"]`` is a column."""

    def __init__(self, rows: list[dict[str, float]] | None = None) -> None:
        self.rows: list[dict[str, float]] = list(rows or [])
        self.stopped_early = False
        self.best_epoch: int | None = None        # the epoch with the best monitored value
        self.restored_epoch: int | None = None    # set when fit put that epoch's weights back

    def append(self, row: dict[str, float]) -> None:
        self.rows.append(dict(row))

    def keys(self) -> list[str]:
        seen: dict[str, None] = {}
        for row in self.rows:
            seen.update(dict.fromkeys(row))
        return list(seen)

    def __getitem__(self, key: str) -> list[float]:
        if key not in self.keys():
            raise KeyError(f"history has no {key!r}; it has {', '.join(self.keys()) or 'nothing yet'}")
        return [row.get(key, math.nan) for row in self.rows]

    def __len__(self) -> int:
        return len(self.rows)

    def last(self, key: str) -> float:
        """The value of ``key`` in the last epoch."""
        return self[key][-1]

    def to_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "stopped_early": self.stopped_early, "best_epoch": self.best_epoch,
                "restored_epoch": self.restored_epoch}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "History":
        history = cls(data.get("rows", []))
        history.stopped_early = bool(data.get("stopped_early", False))
        history.best_epoch = data.get("best_epoch")
        history.restored_epoch = data.get("restored_epoch")
        return history

    def __repr__(self) -> str:
        last = ", ".join(f"{k}={v:.4g}" for k, v in self.rows[-1].items() if k != "epoch") if self.rows else ""
        return f"History({len(self)} epochs{'; ' + last if last else ''})"
