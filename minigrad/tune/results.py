"""What each trial gave, and its exports: ``trials.csv`` and the leaderboard.

The study is the record of a search; these are views of it. ``trials.csv`` holds one row
per finished trial (ok, pruned, diverged or failed), ordered by trial number, and is
rewritten atomically (temp file + rename) each time a trial finishes, so a reader never
sees a torn file and a killed search leaves the rows of every trial it finished.
"""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from minigrad.files.atomic import write_text_atomic
from minigrad.tune.space import Trial, TuneError, architecture_label
from minigrad.validation import check_positive_int

__all__ = [
    "COLUMNS",
    "COUNTED_STATUSES",
    "STATUS_DIVERGED",
    "STATUS_FAILED",
    "STATUS_OK",
    "STATUS_PRUNED",
    "TrialResult",
    "best_result",
    "leaderboard",
    "ranked",
    "result_row",
    "results_csv",
    "write_results_csv",
]

STATUS_OK = "ok"
STATUS_PRUNED = "pruned"
STATUS_DIVERGED = "diverged"
STATUS_FAILED = "failed"
COUNTED_STATUSES = (STATUS_OK, STATUS_PRUNED, STATUS_DIVERGED, STATUS_FAILED)
"""The outcomes of a finished trial; each trial number of a search ends with one."""

TRIAL_COLUMNS = (
    "trial_id", "optimizer", "learning_rate", "reg", "lr_decay", "batch_size", "num_iters",
    "num_epochs", "seed", "hidden_dims", "schedule", "flip", "translate", "normalize",
)
OUTCOME_COLUMNS = (
    "status", "val_acc", "best_val_acc", "train_acc", "iterations", "seconds",
    "iters_to_target", "seconds_to_target", "study_number", "message",
)
COLUMNS = TRIAL_COLUMNS[:1] + OUTCOME_COLUMNS[:1] + TRIAL_COLUMNS[1:] + OUTCOME_COLUMNS[1:]
"""The CSV header: trial id and status first, then the settings, then the measurements;
``study_number`` is the trial's number in the Optuna study (a retried trial's differs
from its ``trial_id``)."""


@dataclass(frozen=True)
class TrialResult:
    """What one trial gave.

    Attributes
    ----------
    trial : the configuration.
    status : ``"ok"``, ``"pruned"`` (stopped early by the pruner), ``"diverged"`` (the
        loss became NaN or inf) or ``"failed"`` (any other exception, or its process
        died; see ``message``).
    val_acc : validation accuracy of the final weights (None if diverged or failed).
    best_val_acc : the best per-epoch validation accuracy during training.
    train_acc : accuracy of the final weights on the whole training split.
    iterations : iterations run (fewer than ``trial.num_iters`` after an early stop).
    seconds : wall time of the training iterations.
    iters_to_target, seconds_to_target : when validation accuracy first reached the
        search's target (None if it did not, or no target was set).
    message : the error of a diverged or failed trial.
    study_number : the trial's number in the Optuna study (None outside one).
    """

    trial: Trial
    status: str
    val_acc: float | None = None
    best_val_acc: float | None = None
    train_acc: float | None = None
    iterations: int = 0
    seconds: float = 0.0
    iters_to_target: int | None = None
    seconds_to_target: float | None = None
    message: str = ""
    study_number: int | None = None


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)  # shortest text that reads back to the same float
    return str(value)


def result_row(result: TrialResult) -> list[str]:
    """The CSV cells of ``result``, in :data:`COLUMNS` order."""
    values: dict[str, object] = {name: getattr(result.trial, name) for name in TRIAL_COLUMNS}
    values["hidden_dims"] = architecture_label(result.trial.hidden_dims)
    values.update({name: getattr(result, name) for name in OUTCOME_COLUMNS})
    values["message"] = " ".join(result.message.split())  # one line per trial
    return [_cell(values[name]) for name in COLUMNS]


def results_csv(results: Iterable[TrialResult]) -> str:
    """The CSV text of ``results`` (header + one row each, by trial id)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for result in sorted(results, key=lambda r: r.trial.trial_id):
        writer.writerow(result_row(result))
    return out.getvalue()


def write_results_csv(path: str | os.PathLike[str], results: Iterable[TrialResult]) -> Path:
    """Write :func:`results_csv` to ``path`` atomically."""
    return write_text_atomic(path, results_csv(results))


def ranked(results: Iterable[TrialResult]) -> list[TrialResult]:
    """The trials that trained to the end, best validation accuracy first (ties: lower
    trial id). Pruned trials are not ranked: they stopped before their last epoch."""
    finished = [r for r in results if r.status == STATUS_OK and r.val_acc is not None]
    return sorted(finished, key=lambda r: (-(r.val_acc or 0.0), r.trial.trial_id))


def best_result(results: Iterable[TrialResult]) -> TrialResult | None:
    """The trial with the best validation accuracy, or None if none succeeded."""
    order = ranked(results)
    return order[0] if order else None


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None or not math.isfinite(value) else format(value, spec)


def _decay_label(trial: Trial) -> str:
    return "cosine" if trial.schedule == "cosine" else f"{trial.lr_decay:.3f}"


def pipeline_label(trial: Trial) -> str:
    """The trial's data pipeline in a few letters: ``flip+t2+pc`` (flip, translate 2,
    per-channel normalisation); ``-`` for the workbook's data."""
    parts = (["flip"] if trial.flip else []) + ([f"t{trial.translate}"] if trial.translate
                                                else [])
    if trial.normalize == "per-channel":
        parts.append("pc")
    return "+".join(parts) or "-"


def leaderboard(results: Iterable[TrialResult], top: int = 10) -> str:
    """A plain-text table of the ``top`` (>= 1) trials by validation accuracy, plus counts."""
    try:
        top = check_positive_int(top, "top")
    except (TypeError, ValueError) as err:
        raise TuneError(str(err)) from None
    results = list(results)
    lines = [
        f"{'rank':>4} {'trial':>5} {'optimizer':<9} {'lr':>9} {'reg':>9} {'decay':>6} "
        f"{'batch':>5} {'hidden':>8} {'data':>13} {'iters':>6} {'val_acc':>7} {'best':>6} "
        f"{'seconds':>7}"
    ]
    for rank, r in enumerate(ranked(results)[:top], start=1):
        t = r.trial
        lines.append(
            f"{rank:>4} {t.trial_id:>5} {t.optimizer:<9} {t.learning_rate:>9.3e} "
            f"{t.reg:>9.3e} {_decay_label(t):>6} {t.batch_size:>5} "
            f"{architecture_label(t.hidden_dims):>8} {pipeline_label(t):>13} {r.iterations:>6} "
            f"{_fmt(r.val_acc, '.4f'):>7} {_fmt(r.best_val_acc, '.4f'):>6} "
            f"{r.seconds:>7.1f}"
        )
    counts = {status: sum(r.status == status for r in results) for status in COUNTED_STATUSES}
    lines.append(
        f"{len(results)} trials: {counts[STATUS_OK]} ok, {counts[STATUS_PRUNED]} pruned, "
        f"{counts[STATUS_DIVERGED]} diverged, {counts[STATUS_FAILED]} failed"
    )
    return "\n".join(lines)
