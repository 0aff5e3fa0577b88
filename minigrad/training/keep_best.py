"""A callback that keeps a copy of the model's state at its best validation accuracy so far."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from minigrad.layer import Layer
from minigrad.training.best_validation import BestValidation
from minigrad.training.callbacks import Callback, TrainingRun

__all__ = ["KeepBest"]


class KeepBest(Callback):
    """Copy the model's state whenever an epoch sets a new best validation accuracy.

    The copy is taken at the epoch end, right after the accuracy was measured on exactly
    that state, so :attr:`best_val_acc` describes :attr:`best_state`. Ties keep the earlier
    state. The live model is never changed: call :meth:`restore` to put the best state into
    a model when you want it (after training, or into another model of the same shape).

    Parameters
    ----------
    on_improve : called as ``on_improve(keeper)`` after each new best is copied, e.g. to
        save it to disk.

    Attributes
    ----------
    best_state : ``model.state_dict()`` (parameters and buffers, copies) at the best epoch,
        or None before the first epoch end with validation data.
    tracker : the :class:`~minigrad.training.best_validation.BestValidation` bookkeeping.
    """

    def __init__(self, on_improve: Callable[[KeepBest], None] | None = None) -> None:
        self.on_improve = on_improve
        self.tracker = BestValidation()
        self.best_state: dict[str, np.ndarray] | None = None

    @property
    def has_best(self) -> bool:
        """Whether a validation accuracy has been recorded (and the state copied)."""
        return self.best_state is not None

    @property
    def best_val_acc(self) -> float | None:
        """The validation accuracy of :attr:`best_state` (None before the first)."""
        return self.tracker.best

    @property
    def best_epoch(self) -> int | None:
        """The epoch (0-based) of :attr:`best_state` (None before the first)."""
        return None if self.best_state is None else self.tracker.epoch

    @property
    def best_iteration(self) -> int | None:
        """The trainer's iteration count right after that epoch closed (None before)."""
        return None if self.best_state is None else self.tracker.iteration

    def on_epoch_end(
        self, trainer: TrainingRun, epoch: int, train_acc: float, val_acc: float | None
    ) -> None:
        if val_acc is None or not self.tracker.update(val_acc, epoch, trainer.iteration):
            return
        state = trainer.model.state_dict()
        if self.best_state is not None and self.best_state.keys() == state.keys():
            for name, array in state.items():
                np.copyto(self.best_state[name], array)  # keep the buffers others may hold
        else:
            self.best_state = state
        if self.on_improve is not None:
            self.on_improve(self)

    def state_dict(self) -> dict[str, Any]:
        """The best so far (copies), so a checkpointed run resumes with it."""
        best = None if self.best_state is None else {
            name: array.copy() for name, array in self.best_state.items()
        }
        return {"tracker": self.tracker.state_dict(), "best_state": best}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict`; ``ValueError`` naming a missing or malformed entry."""
        if not isinstance(state, Mapping) or {"tracker", "best_state"} - set(state):
            raise ValueError("KeepBest state must have 'tracker' and 'best_state' entries")
        best = state["best_state"]
        if best is not None and not (
            isinstance(best, Mapping) and all(isinstance(v, np.ndarray) for v in best.values())
        ):
            raise ValueError("KeepBest state 'best_state' must map names to arrays")
        tracker = BestValidation()
        tracker.load_state_dict(state["tracker"])
        if (best is None) != (tracker.best is None):
            raise ValueError("KeepBest state must hold both a best state and its accuracy")
        self.tracker = tracker
        self.best_state = None if best is None else {
            str(name): np.array(value, copy=True) for name, value in best.items()
        }

    def restore(self, model: Layer) -> None:
        """Write the best state into ``model`` in place (references to its arrays stay valid).

        Raises
        ------
        RuntimeError
            No validation accuracy was recorded yet.
        ValueError
            ``model`` does not have the kept state's names, shapes and dtypes.
        """
        if self.best_state is None:
            raise RuntimeError("no best state yet: no epoch with validation data has ended")
        model.load_state_dict(self.best_state)
