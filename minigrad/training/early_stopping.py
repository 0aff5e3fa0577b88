"""Early stopping: end training when validation accuracy has stopped improving."""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from minigrad.training.callbacks import Callback

if TYPE_CHECKING:
    from minigrad.training.trainer import Trainer

__all__ = ["EarlyStopping", "epochs_without_improvement"]


def epochs_without_improvement(
    best: float | None, wait: int, val_acc: float, min_delta: float
) -> tuple[float, int]:
    """One epoch of patience bookkeeping.

    Parameters
    ----------
    best : best validation accuracy so far, or None before the first epoch.
    wait : epochs since ``best`` was reached.
    val_acc : this epoch's validation accuracy.
    min_delta : how much better than ``best`` counts as an improvement.

    Returns
    -------
    (best, wait) after this epoch: ``(val_acc, 0)`` on an improvement, else ``(best, wait + 1)``.
    """
    if best is None or val_acc > best + min_delta:
        return val_acc, 0
    return best, wait + 1


class EarlyStopping(Callback):
    """Stop when validation accuracy has not improved for ``patience`` epochs.

    Sets ``trainer.stop_training``; the trainer finishes the current iteration and returns.
    The counters carry over between ``fit`` calls and are saved in checkpoints, so a
    resumed run stops exactly where the uninterrupted one would. Combine with a
    best-parameters callback to end on the best epoch's weights.

    Parameters
    ----------
    patience : epochs without improvement to tolerate (>= 1).
    min_delta : improvement in accuracy below this does not count (>= 0).

    Attributes
    ----------
    best : best validation accuracy seen (None before the first epoch).
    best_epoch : the epoch that reached it (-1 before the first epoch).
    wait : epochs since then.
    stopped_epoch : the epoch at which training was stopped (-1 if it was not).
    """

    def __init__(self, patience: int = 5, min_delta: float = 0.0) -> None:
        if isinstance(patience, bool) or not isinstance(patience, numbers.Integral):
            raise TypeError(f"patience must be an integer, got {patience!r}")
        if patience < 1:
            raise ValueError(f"patience must be >= 1, got {patience}")
        if not (isinstance(min_delta, numbers.Real) and math.isfinite(min_delta)):
            raise TypeError(f"min_delta must be a finite number, got {min_delta!r}")
        if min_delta < 0:
            raise ValueError(f"min_delta must be >= 0, got {min_delta}")
        self.patience: int = int(patience)
        self.min_delta: float = float(min_delta)
        self.best: float | None = None
        self.best_epoch: int = -1
        self.wait: int = 0
        self.stopped_epoch: int = -1

    def on_epoch_end(
        self, trainer: Trainer, epoch: int, train_acc: float, val_acc: float | None
    ) -> None:
        if val_acc is None:
            raise ValueError(
                "EarlyStopping watches validation accuracy: pass X_val and y_val to fit"
            )
        self.best, self.wait = epochs_without_improvement(
            self.best, self.wait, val_acc, self.min_delta
        )
        if self.wait == 0:
            self.best_epoch = epoch
        elif self.wait >= self.patience:
            self.stopped_epoch = epoch
            trainer.stop_training = True

    def state_dict(self) -> dict[str, Any]:
        """The counters, as JSON-able scalars."""
        return {
            "best": self.best,
            "best_epoch": self.best_epoch,
            "wait": self.wait,
            "stopped_epoch": self.stopped_epoch,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict`'s counters; ``ValueError`` naming a missing entry."""
        missing = sorted({"best", "best_epoch", "wait", "stopped_epoch"} - set(state))
        if missing:
            raise ValueError(f"EarlyStopping state has no {missing} entries")
        self.best = None if state["best"] is None else float(state["best"])
        self.best_epoch = int(state["best_epoch"])
        self.wait = int(state["wait"])
        self.stopped_epoch = int(state["stopped_epoch"])

    def __repr__(self) -> str:
        return f"EarlyStopping(patience={self.patience}, min_delta={self.min_delta})"
