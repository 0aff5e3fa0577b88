"""The best validation accuracy so far: the one mechanism behind best weights and early stopping."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from minigrad.validation import check_real

__all__ = ["BestValidation", "is_improvement"]


def is_improvement(best: float | None, val_acc: float, min_delta: float = 0.0) -> bool:
    """Whether ``val_acc`` beats ``best`` by more than ``min_delta`` (any value beats None).

    A tie is not an improvement, so the earlier epoch is kept.
    """
    return best is None or val_acc > best + min_delta


class BestValidation:
    """Tracks the best validation accuracy seen at epoch ends, and how long ago it was.

    Parameters
    ----------
    min_delta : how much better than the best an accuracy must be to count (>= 0).

    Attributes
    ----------
    best : the best validation accuracy so far (None before the first epoch).
    epoch : the epoch (0-based) that reached it (-1 before).
    iteration : the trainer's iteration count right after that epoch closed (-1 before).
    epochs_since : epochs ended since then without an improvement.
    """

    def __init__(self, min_delta: float = 0.0) -> None:
        self.min_delta = check_real(min_delta, "min_delta", low=0.0)
        self.best: float | None = None
        self.epoch = -1
        self.iteration = -1
        self.epochs_since = 0

    def update(self, val_acc: float, epoch: int, iteration: int) -> bool:
        """Record one epoch's accuracy; return True when it is a new best."""
        if is_improvement(self.best, val_acc, self.min_delta):
            self.best, self.epoch, self.iteration, self.epochs_since = val_acc, epoch, iteration, 0
            return True
        self.epochs_since += 1
        return False

    def state_dict(self) -> dict[str, Any]:
        """The counters, as JSON-able scalars."""
        return {
            "best": self.best,
            "epoch": self.epoch,
            "iteration": self.iteration,
            "epochs_since": self.epochs_since,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict`; ``ValueError`` naming a missing or malformed entry."""
        if not isinstance(state, Mapping):
            raise ValueError(f"best-validation state must be a mapping, got {type(state).__name__}")
        missing = sorted({"best", "epoch", "iteration", "epochs_since"} - set(state))
        if missing:
            raise ValueError(f"best-validation state has no {missing} entries")
        try:
            best = None if state["best"] is None else check_real(state["best"], "best")
            epoch = int(state["epoch"])
            iteration = int(state["iteration"])
            epochs_since = int(state["epochs_since"])
        except (TypeError, ValueError) as err:
            raise ValueError(f"malformed best-validation state: {err}") from None
        self.best, self.epoch, self.iteration = best, epoch, iteration
        self.epochs_since = epochs_since
