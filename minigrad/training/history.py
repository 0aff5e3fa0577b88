"""What a training run records: loss per iteration, accuracies per epoch."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

__all__ = ["History"]


@dataclass
class History:
    """Training curves.

    Attributes
    ----------
    loss : loss (data + L2) of every iteration, in order.
    train_acc : minibatch accuracy after each epoch's closing iteration.
    val_acc : validation accuracy at the same points (empty without validation data).
    epoch_iterations : the iteration that closed each epoch.
    """

    loss: list[float] = field(default_factory=list)
    train_acc: list[float] = field(default_factory=list)
    val_acc: list[float] = field(default_factory=list)
    epoch_iterations: list[int] = field(default_factory=list)

    def as_workbook_dict(self) -> dict[str, list[float]]:
        """The workbook's ``stats``: loss_history, train_acc_history, val_acc_history."""
        return {
            "loss_history": self.loss,
            "train_acc_history": self.train_acc,
            "val_acc_history": self.val_acc,
        }

    def state_dict(self) -> dict[str, np.ndarray]:
        """Each curve as a 1-D array (float64, or int64 for ``epoch_iterations``).

        float64 holds every Python float exactly, so :meth:`from_state_dict` gives the
        same lists back bit for bit.
        """
        return {
            f.name: np.array(getattr(self, f.name), dtype=_dtype_of(f.name))
            for f in fields(self)
        }

    @classmethod
    def from_state_dict(cls, state: Mapping[str, Any]) -> History:
        """Inverse of :meth:`state_dict`; ``ValueError`` naming a missing or malformed curve."""
        curves: dict[str, list[Any]] = {}
        for f in fields(cls):
            if f.name not in state:
                raise ValueError(f"history state has no {f.name!r} entry")
            array = np.asarray(state[f.name])
            if array.ndim != 1 or array.dtype.kind not in "fiu":
                raise ValueError(
                    f"history {f.name!r} must be a 1-D numeric array, got {array.dtype} "
                    f"{array.shape}"
                )
            curves[f.name] = array.astype(_dtype_of(f.name), copy=False).tolist()
        if len(curves["epoch_iterations"]) != len(curves["train_acc"]):
            raise ValueError("history has epoch_iterations of a different length than train_acc")
        return cls(**curves)


def _dtype_of(curve: str) -> type[np.generic]:
    return np.int64 if curve == "epoch_iterations" else np.float64
