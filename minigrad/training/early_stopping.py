"""Early stopping: end training when validation accuracy has stopped improving."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from minigrad.training.best_validation import BestValidation
from minigrad.training.callbacks import Callback, TrainingRun
from minigrad.validation import check_int

__all__ = ["EarlyStopping"]


class EarlyStopping(Callback):
    """Stop when validation accuracy has not improved for ``patience`` epochs.

    Sets ``trainer.stop_training``; the trainer finishes the current iteration and returns.
    The counters carry over between ``fit`` calls and are saved in checkpoints, so a
    resumed run stops exactly where the uninterrupted one would. Combine with
    :class:`~minigrad.training.keep_best.KeepBest` to end on the best epoch's weights.

    Parameters
    ----------
    patience : epochs without improvement to tolerate (>= 1).
    min_delta : improvement in accuracy below this does not count (>= 0).

    Attributes
    ----------
    tracker : the best accuracy so far and the epochs since
        (:class:`~minigrad.training.best_validation.BestValidation`).
    stopped_epoch : the epoch at which training was stopped (-1 if it was not).
    """

    def __init__(self, patience: int = 5, min_delta: float = 0.0) -> None:
        self.patience = check_int(patience, "patience", low=1)
        self.tracker = BestValidation(min_delta)
        self.stopped_epoch = -1

    @property
    def min_delta(self) -> float:
        return self.tracker.min_delta

    @property
    def best(self) -> float | None:
        """Best validation accuracy seen (None before the first epoch)."""
        return self.tracker.best

    @property
    def wait(self) -> int:
        """Epochs ended since the best one."""
        return self.tracker.epochs_since

    def on_epoch_end(
        self, trainer: TrainingRun, epoch: int, train_acc: float, val_acc: float | None
    ) -> None:
        if val_acc is None:
            raise ValueError(
                "EarlyStopping watches validation accuracy: pass X_val and y_val to fit"
            )
        self.tracker.update(val_acc, epoch, trainer.iteration)
        if self.tracker.epochs_since >= self.patience:
            self.stopped_epoch = epoch
            trainer.stop_training = True

    def state_dict(self) -> dict[str, Any]:
        """The counters, as JSON-able scalars."""
        return {"tracker": self.tracker.state_dict(), "stopped_epoch": self.stopped_epoch}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict`'s counters; ``ValueError`` naming a missing entry."""
        if not isinstance(state, Mapping) or {"tracker", "stopped_epoch"} - set(state):
            raise ValueError("EarlyStopping state must have 'tracker' and 'stopped_epoch' entries")
        tracker = BestValidation(self.tracker.min_delta)
        tracker.load_state_dict(state["tracker"])
        try:
            stopped = check_int(state["stopped_epoch"], "stopped_epoch", low=-1)
        except TypeError as err:
            raise ValueError(str(err)) from None
        self.tracker, self.stopped_epoch = tracker, stopped

    def __repr__(self) -> str:
        return f"EarlyStopping(patience={self.patience}, min_delta={self.min_delta})"
