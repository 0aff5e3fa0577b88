"""Hooks the training loop calls; progress and logging live here, not in the loop."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from minigrad.training import Trainer

__all__ = ["Callback", "PrintLoss"]


class Callback:
    """Base class: override the hooks you need. Set ``trainer.stop_training`` to stop."""

    def on_train_begin(self, trainer: Trainer) -> None:
        """Before the first iteration of :meth:`Trainer.fit`."""

    def on_iteration_end(self, trainer: Trainer, iteration: int, loss: float) -> None:
        """After the parameter update of ``iteration`` (0-based)."""

    def on_epoch_end(
        self, trainer: Trainer, epoch: int, train_acc: float, val_acc: float | None
    ) -> None:
        """After accuracies are recorded for ``epoch`` (0-based), before the rate decays."""

    def on_train_end(self, trainer: Trainer) -> None:
        """After the last iteration (also after an early stop)."""


class PrintLoss(Callback):
    """The workbook's ``verbose``: ``iteration {it} / {num_iters}: loss {loss}`` every 100."""

    def __init__(self, num_iters: int, every: int = 100, write: Callable[[str], None] = print):
        self.num_iters = num_iters
        self.every = every
        self.write = write

    def on_iteration_end(self, trainer: Trainer, iteration: int, loss: float) -> None:
        if iteration % self.every == 0:
            self.write(f"iteration {iteration} / {self.num_iters}: loss {loss}")
