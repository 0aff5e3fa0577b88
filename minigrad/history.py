"""What a training run records: loss per iteration, accuracies per epoch."""

from __future__ import annotations

from dataclasses import dataclass, field

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
