"""A callback that keeps a copy of the weights with the best validation accuracy so far."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from minigrad.training.callbacks import Callback

if TYPE_CHECKING:
    from minigrad.sequential import Sequential
    from minigrad.training.trainer import Trainer

__all__ = ["KeepBest"]


class KeepBest(Callback):
    """Copy the model's parameters whenever an epoch sets a new best validation accuracy.

    The copy is taken at the epoch end, right after the accuracy was measured on exactly
    those parameters, so :attr:`best_val_acc` describes :attr:`best_params`. Ties keep the
    earlier weights.

    Parameters
    ----------
    on_improve : called as ``on_improve(keeper)`` after each new best is copied, e.g. to
        save it to disk.

    Attributes
    ----------
    best_params : dict of name to ndarray (copies), or None before the first epoch end.
    best_val_acc : the validation accuracy of ``best_params``, or None.
    best_epoch, best_iteration : the epoch (0-based) and the iteration that closed it.
    """

    def __init__(self, on_improve: Callable[[KeepBest], None] | None = None) -> None:
        self.on_improve = on_improve
        self.best_params: dict[str, np.ndarray] | None = None
        self.best_val_acc: float | None = None
        self.best_epoch: int | None = None
        self.best_iteration: int | None = None
        self._model: Sequential | None = None

    @property
    def has_best(self) -> bool:
        """Whether a validation accuracy has been recorded (and weights copied)."""
        return self.best_params is not None

    def on_train_begin(self, trainer: Trainer) -> None:
        self._model = trainer.model

    def on_epoch_end(
        self, trainer: Trainer, epoch: int, train_acc: float, val_acc: float | None
    ) -> None:
        if val_acc is None or (self.best_val_acc is not None and val_acc <= self.best_val_acc):
            return
        params = trainer.model.params
        if self.best_params is None:
            self.best_params = {name: array.copy() for name, array in params.items()}
        else:
            for name, array in params.items():
                np.copyto(self.best_params[name], array)  # reuse the buffers
        self.best_val_acc = val_acc
        self.best_epoch = epoch
        self.best_iteration = trainer.iteration
        if self.on_improve is not None:
            self.on_improve(self)

    def state_dict(self) -> dict[str, Any]:
        """The best so far (copies), so a checkpointed run resumes with it.

        Returns
        -------
        dict with ``best_val_acc``, ``best_epoch``, ``best_iteration`` (scalars or None)
        and ``best_params`` (name -> ndarray copy, or None).
        """
        params = None if self.best_params is None else {
            name: array.copy() for name, array in self.best_params.items()
        }
        return {
            "best_val_acc": self.best_val_acc,
            "best_epoch": self.best_epoch,
            "best_iteration": self.best_iteration,
            "best_params": params,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict`; ``ValueError`` naming a missing or malformed entry."""
        keys = ("best_val_acc", "best_epoch", "best_iteration", "best_params")
        missing = [key for key in keys if key not in state]
        if missing:
            raise ValueError(f"KeepBest state has no {missing} entries")
        params = state["best_params"]
        if (params is None) != (state["best_val_acc"] is None):
            raise ValueError(
                "KeepBest state must hold both best_params and best_val_acc, or neither"
            )
        if params is not None and not (
            isinstance(params, Mapping)
            and all(isinstance(value, np.ndarray) for value in params.values())
        ):
            raise ValueError("KeepBest state 'best_params' must map names to arrays")
        self.best_params = None if params is None else {
            str(name): np.array(value, copy=True) for name, value in params.items()
        }
        self.best_val_acc = None if params is None else float(state["best_val_acc"])
        self.best_epoch = None if state["best_epoch"] is None else int(state["best_epoch"])
        self.best_iteration = (
            None if state["best_iteration"] is None else int(state["best_iteration"])
        )

    def restore(self, model: Sequential | None = None) -> None:
        """Write the best weights into ``model`` (default: the model being trained).

        The model's arrays are overwritten in place, so references to them stay valid.

        Raises
        ------
        RuntimeError : no validation accuracy was recorded yet, or no model is known.
        """
        if self.best_params is None:
            raise RuntimeError("no best weights yet: no epoch with validation data has ended")
        target = self._model if model is None else model
        if target is None:
            raise RuntimeError("restore() needs a model: training has not started")
        params = target.params
        if set(params) != set(self.best_params):
            raise ValueError(
                f"the model's parameters {sorted(params)} are not the kept ones "
                f"{sorted(self.best_params)}"
            )
        for name, array in params.items():
            np.copyto(array, self.best_params[name])
