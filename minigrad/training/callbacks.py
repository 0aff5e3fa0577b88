"""Hooks the training loop calls; progress and logging live here, not in the loop."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Protocol

from minigrad.layer import Layer
from minigrad.training.history import History

__all__ = ["Callback", "PrintLoss", "TimeToAccuracy", "TrainingRun"]


class TrainingRun(Protocol):
    """What a callback sees of the training loop (:class:`~minigrad.training.Trainer` is one).

    Callbacks depend on this, not on the trainer's module, so the trainer can import them
    without a cycle.
    """

    stop_training: bool  # a callback sets it to end ``fit`` after this iteration

    @property
    def model(self) -> Layer: ...
    @property
    def optimizer(self) -> Any: ...
    @property
    def history(self) -> History: ...
    @property
    def iteration(self) -> int: ...
    def state_dict(self) -> dict[str, Any]: ...


class Callback:
    """Base class: override the hooks you need. Set ``trainer.stop_training`` to stop.

    Every hook receives the trainer (a :class:`TrainingRun`). Order within one iteration
    ``it``: the update, then (if ``it`` closes an epoch)
    :meth:`on_epoch_end` and the learning-rate decay, then ``trainer.iteration`` becomes
    ``it + 1``, then :meth:`on_iteration_end`. So at :meth:`on_iteration_end` the trainer is
    in a consistent between-iterations state (a checkpoint taken there resumes exactly).

    A callback whose progress must survive a checkpoint (a patience counter, the best
    parameters so far) defines ``state_dict() -> dict`` and ``load_state_dict(state)``,
    with JSON-able scalars and ndarrays as values; :meth:`Trainer.state_dict` saves them.
    """

    def on_train_begin(self, trainer: TrainingRun) -> None:
        """Before the first iteration of :meth:`Trainer.fit`."""

    def on_iteration_end(self, trainer: TrainingRun, iteration: int, loss: float) -> None:
        """After ``iteration`` (0-based) is complete; ``loss`` is its training loss."""

    def on_epoch_end(
        self, trainer: TrainingRun, epoch: int, train_acc: float, val_acc: float | None
    ) -> None:
        """After accuracies are recorded for ``epoch`` (0-based), before the rate decays."""

    def on_train_end(self, trainer: TrainingRun) -> None:
        """After the last iteration (also after an early stop)."""


class PrintLoss(Callback):
    """The workbook's ``verbose``: ``iteration {it} / {num_iters}: loss {loss}`` every 100."""

    def __init__(self, num_iters: int, every: int = 100, write: Callable[[str], None] = print):
        self.num_iters = num_iters
        self.every = every
        self.write = write

    def on_iteration_end(self, trainer: TrainingRun, iteration: int, loss: float) -> None:
        if iteration % self.every == 0:
            self.write(f"iteration {iteration} / {self.num_iters}: loss {loss}")


class TimeToAccuracy(Callback):
    """Record when validation accuracy first reaches ``target`` (measured at epoch ends).

    Parameters
    ----------
    target : the validation accuracy to reach, in (0, 1].
    clock : seconds as a float (``time.perf_counter``); injectable for tests.

    Attributes
    ----------
    iterations : iterations run when the target was first reached (None until then).
    seconds : wall time from the start of :meth:`Trainer.fit` until then, including the
        per-epoch evaluations (None until then).
    """

    def __init__(self, target: float, clock: Callable[[], float] = time.perf_counter) -> None:
        if not (isinstance(target, (int, float)) and 0.0 < target <= 1.0):
            raise ValueError(f"target accuracy must be in (0, 1], got {target!r}")
        self.target = float(target)
        self.clock = clock
        self.iterations: int | None = None
        self.seconds: float | None = None
        self._start: float | None = None

    def on_train_begin(self, trainer: TrainingRun) -> None:
        if self._start is None:
            self._start = self.clock()

    def on_epoch_end(
        self, trainer: TrainingRun, epoch: int, train_acc: float, val_acc: float | None
    ) -> None:
        if self.iterations is None and val_acc is not None and val_acc >= self.target:
            assert self._start is not None
            self.iterations = trainer.iteration + 1  # the closing iteration is complete
            self.seconds = self.clock() - self._start
