"""One trial as a function of its settings and the data that never raises.

:func:`run_job` trains a trial and returns what it gave as a
:class:`~minigrad.tune.results.TrialResult`: ``ok``, ``pruned``, ``diverged`` (the loss
became NaN or inf) or ``failed`` (any other exception, its type and message kept). Only
an interrupt (Ctrl-C, or a stop signal turned into one) passes through: that is not the
trial's outcome, and the search retries the trial later.

Each epoch's validation accuracy goes to ``report(step, val_acc)``, where the search
reports it to the study and asks the pruner; ``True`` stops the trial there (pruned).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from minigrad.experiment.config import TrainConfig
from minigrad.experiment.job import DataSplit, run_training
from minigrad.training.callbacks import Callback, TimeToAccuracy, TrainingRun
from minigrad.training.early_stopping import EarlyStopping
from minigrad.training.trainer import DivergenceError
from minigrad.tune.results import (
    STATUS_DIVERGED,
    STATUS_FAILED,
    STATUS_OK,
    STATUS_PRUNED,
    TrialResult,
)
from minigrad.tune.search_data import SearchData
from minigrad.tune.space import Trial

__all__ = ["EpochReport", "TrialJob", "run_job"]

EpochReport = Callable[[int, float], bool]
"""``report(step, val_acc) -> stop``: ``step`` is the number of epochs trained (1, 2, ...)."""


@dataclass(frozen=True)
class TrialJob:
    """What it takes to run one trial (picklable).

    Attributes
    ----------
    trial : the configuration chosen for the trial.
    config : its full training settings.
    patience : stop after this many epochs without a better validation accuracy.
    target_acc : record when validation accuracy first reaches this.
    """

    trial: Trial
    config: TrainConfig
    patience: int | None = None
    target_acc: float | None = None


class _Reporter(Callback):
    """Hands each epoch's validation accuracy to ``report``; stops training when told to."""

    def __init__(self, report: EpochReport) -> None:
        self.report = report
        self.stopped = False

    def on_epoch_end(
        self, trainer: TrainingRun, epoch: int, train_acc: float, val_acc: float | None
    ) -> None:
        if val_acc is not None and self.report(epoch + 1, val_acc):
            self.stopped = True
            trainer.stop_training = True


def run_job(
    job: TrialJob, split: DataSplit | SearchData, report: EpochReport | None = None
) -> TrialResult:
    """Train one trial on ``split`` and measure it; never raises for a failing trial.

    Parameters
    ----------
    job : the trial.
    split : the data: a :class:`SearchData`, or rows in ``job.config.dtype``.
    report : called at each epoch end with the epochs so far and the validation accuracy;
        returning True prunes the trial.

    Returns
    -------
    TrialResult with status ``"ok"``, ``"pruned"``, ``"diverged"`` or ``"failed"``.
    KeyboardInterrupt (and ``TrainingInterrupted``) is not caught.
    """
    callbacks: list[Callback] = []
    reporter = _Reporter(report) if report is not None else None
    if reporter is not None:
        callbacks.append(reporter)
    if job.patience is not None:
        callbacks.append(EarlyStopping(job.patience))
    timer = TimeToAccuracy(job.target_acc) if job.target_acc is not None else None
    if timer is not None:
        callbacks.append(timer)
    try:
        # A diverging trial overflows before the trainer notices: keep stderr quiet.
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            result = run_training(job.config, SearchData.of(split).for_config(job.config),
                                  callbacks)
    except DivergenceError as err:
        return TrialResult(job.trial, STATUS_DIVERGED, message=str(err))
    except Exception as err:  # any failure is recorded: it must not end the search
        return TrialResult(job.trial, STATUS_FAILED, message=f"{type(err).__name__}: {err}")
    val_curve = result.history.val_acc
    return TrialResult(
        trial=job.trial,
        status=STATUS_PRUNED if reporter is not None and reporter.stopped else STATUS_OK,
        val_acc=result.val_acc,
        best_val_acc=max(val_curve) if val_curve else None,
        train_acc=result.train_acc,
        iterations=result.iterations,
        seconds=result.seconds,
        iters_to_target=None if timer is None else timer.iterations,
        seconds_to_target=None if timer is None else timer.seconds,
    )
