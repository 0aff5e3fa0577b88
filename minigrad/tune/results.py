"""A search's results: one CSV row per finished trial, streamed so an interrupted search
keeps every trial it finished, and the leaderboard.

The header is written atomically when the file is created; each row is appended, flushed
and fsync'd as its trial finishes. A process killed mid-append can leave a torn last line
(no newline): reopening the file for a resumed search drops it (that trial runs again).
"""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from minigrad.files.atomic import write_text_atomic
from minigrad.files.bounded_read import UnreadableFileError, read_text_bounded
from minigrad.optim import OPTIMIZERS
from minigrad.tune.space import Trial, TuneError
from minigrad.validation import (
    check_choice,
    check_int,
    check_positive_int,
    check_real,
    describe,
)

__all__ = [
    "COLUMNS",
    "STATUS_DIVERGED",
    "STATUS_FAILED",
    "STATUS_OK",
    "TrialLog",
    "TrialResult",
    "best_result",
    "leaderboard",
    "ranked",
    "read_results",
    "read_results_text",
    "result_row",
]

STATUS_OK = "ok"
STATUS_DIVERGED = "diverged"
STATUS_FAILED = "failed"
STATUSES = (STATUS_OK, STATUS_DIVERGED, STATUS_FAILED)
MAX_RESULTS_BYTES = 256 << 20  # a million trials of ~200 bytes

TRIAL_COLUMNS = (
    "trial_id", "optimizer", "learning_rate", "reg", "lr_decay", "batch_size", "num_iters",
    "num_epochs", "seed",
)
OUTCOME_COLUMNS = (
    "status", "val_acc", "best_val_acc", "train_acc", "iterations", "seconds",
    "iters_to_target", "seconds_to_target", "message",
)
COLUMNS = TRIAL_COLUMNS[:1] + OUTCOME_COLUMNS[:1] + TRIAL_COLUMNS[1:] + OUTCOME_COLUMNS[1:]
"""The CSV header: trial id and status first, then the settings, then the measurements."""


@dataclass(frozen=True)
class TrialResult:
    """What one trial gave.

    Attributes
    ----------
    trial : the configuration.
    status : ``"ok"``, ``"diverged"`` (the loss became NaN or inf) or ``"failed"`` (any
        other exception; see ``message``).
    val_acc : validation accuracy of the final weights (None unless ok).
    best_val_acc : the best per-epoch validation accuracy during training.
    train_acc : accuracy of the final weights on the whole training split.
    iterations : iterations run (fewer than ``trial.num_iters`` after an early stop).
    seconds : wall time of the training iterations.
    iters_to_target, seconds_to_target : when validation accuracy first reached the
        search's target (None if it did not, or no target was set).
    message : the error of a diverged or failed trial.
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


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)  # shortest text that reads back to the same float
    return str(value)


def result_row(result: TrialResult) -> list[str]:
    """The CSV cells of ``result``, in :data:`COLUMNS` order."""
    values = {name: getattr(result.trial, name) for name in TRIAL_COLUMNS}
    values.update({name: getattr(result, name) for name in OUTCOME_COLUMNS})
    values["message"] = " ".join(result.message.split())  # one line per trial
    return [_cell(values[name]) for name in COLUMNS]


def _int(row: Mapping[str, str], name: str, low: int = 0) -> int:
    return check_int(int(row[name]), name, low=low)


def _real(row: Mapping[str, str], name: str, **bounds: float | bool) -> float:
    return check_real(float(row[name]), name, **bounds)  # type: ignore[arg-type]


def _accuracy(row: Mapping[str, str], name: str) -> float | None:
    """An accuracy cell: empty, or a fraction in [0, 1] (NaN would break the ranking)."""
    return None if row[name] == "" else _real(row, name, low=0.0, high=1.0)


def _result_from_row(row: Mapping[str, str]) -> TrialResult:
    """One row as a TrialResult; ValueError / TypeError naming the first bad cell."""
    trial = Trial(
        trial_id=_int(row, "trial_id"),
        optimizer=check_choice(row["optimizer"], "optimizer", OPTIMIZERS),
        learning_rate=_real(row, "learning_rate", low=0.0, low_open=True),
        reg=_real(row, "reg", low=0.0),
        lr_decay=_real(row, "lr_decay", low=0.0, low_open=True, high=1.0),
        batch_size=_int(row, "batch_size", low=1),
        num_iters=_int(row, "num_iters", low=1),
        num_epochs=None if row["num_epochs"] == "" else _int(row, "num_epochs", low=1),
        seed=_int(row, "seed"),
    )
    return TrialResult(
        trial=trial,
        status=check_choice(row["status"], "status", STATUSES),
        val_acc=_accuracy(row, "val_acc"),
        best_val_acc=_accuracy(row, "best_val_acc"),
        train_acc=_accuracy(row, "train_acc"),
        iterations=_int(row, "iterations"),
        seconds=_real(row, "seconds", low=0.0),
        iters_to_target=(
            None if row["iters_to_target"] == "" else _int(row, "iters_to_target")
        ),
        seconds_to_target=(
            None if row["seconds_to_target"] == "" else _real(row, "seconds_to_target", low=0.0)
        ),
        message=row["message"],
    )


def parse_results(text: str, source: str) -> list[TrialResult]:
    """The results in CSV ``text`` (complete lines only); ``TuneError`` naming a bad line."""
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader, None)
    except csv.Error as err:
        raise TuneError(f"{source} is not a CSV file: {err}") from None
    if header is None or tuple(header) != COLUMNS:
        shown = describe(header)
        raise TuneError(f"{source} is not a results file of this minigrad: its header is {shown}")
    results: list[TrialResult] = []
    seen: set[int] = set()
    line = 1
    while True:
        line += 1
        try:
            cells = next(reader, None)
            if cells is None:
                break
            if len(cells) != len(COLUMNS):
                raise ValueError(f"{len(cells)} cells, expected {len(COLUMNS)}")
            result = _result_from_row(dict(zip(COLUMNS, cells, strict=True)))
        except (ValueError, TypeError, csv.Error) as err:
            raise TuneError(f"{source}, line {line}: {err}") from None
        if result.trial.trial_id in seen:
            raise TuneError(f"{source}, line {line}: trial {result.trial.trial_id} appears twice")
        seen.add(result.trial.trial_id)
        results.append(result)
    return results


def read_results_text(path: str | os.PathLike[str]) -> str:
    """The text of results file ``path``; ``TuneError`` if too large or not UTF-8."""
    try:
        return read_text_bounded(path, MAX_RESULTS_BYTES)
    except UnreadableFileError as err:
        raise TuneError(str(err)) from None


def read_results(path: str | os.PathLike[str]) -> list[TrialResult]:
    """The finished trials in results file ``path`` (a torn last line is ignored)."""
    text = read_results_text(path)
    return parse_results(text[: text.rfind("\n") + 1], os.fspath(path))


class TrialLog:
    """The open results file of a running search; :meth:`append` one finished trial.

    Use :meth:`open`; close with :meth:`close` (or as a context manager).
    """

    def __init__(self, path: Path, file: IO[str]) -> None:
        self.path = path
        self._file = file
        self._writer = csv.writer(file, lineterminator="\n")

    @classmethod
    def open(cls, path: str | os.PathLike[str], resume: bool) -> tuple[TrialLog, list[TrialResult]]:
        """Open ``path`` for appending; return the log and the trials already in it.

        Parameters
        ----------
        path : the CSV file.
        resume : continue an existing file; without it the file must not exist yet.

        Raises
        ------
        TuneError
            ``resume`` and no file, or not ``resume`` and a file exists, or the file is
            not a results file (the message names the line).
        """
        target = Path(path)
        if not resume:
            if target.exists():
                raise TuneError(f"{target} exists; pass --resume to continue that search")
            write_text_atomic(target, ",".join(COLUMNS) + "\n")
            previous: list[TrialResult] = []
        else:
            if not target.is_file():
                raise TuneError(f"nothing to resume: {target} does not exist")
            text = read_results_text(target)
            complete = text[: text.rfind("\n") + 1]
            previous = parse_results(complete, os.fspath(target))
            if complete != text:  # a torn last row from a kill mid-append: drop it
                write_text_atomic(target, complete)
        return cls(target, open(target, "a", encoding="utf-8", newline="")), previous

    def append(self, result: TrialResult) -> None:
        """Write one row and make it durable before returning."""
        self._writer.writerow(result_row(result))
        self._file.flush()
        os.fsync(self._file.fileno())

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> TrialLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def ranked(results: Iterable[TrialResult]) -> list[TrialResult]:
    """The successful trials, best validation accuracy first (ties: lower trial id)."""
    finished = [r for r in results if r.status == STATUS_OK and r.val_acc is not None]
    return sorted(finished, key=lambda r: (-(r.val_acc or 0.0), r.trial.trial_id))


def best_result(results: Iterable[TrialResult]) -> TrialResult | None:
    """The trial with the best validation accuracy, or None if none succeeded."""
    order = ranked(results)
    return order[0] if order else None


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None or not math.isfinite(value) else format(value, spec)


def leaderboard(results: Iterable[TrialResult], top: int = 10) -> str:
    """A plain-text table of the ``top`` (>= 1) trials by validation accuracy, plus counts."""
    try:
        top = check_positive_int(top, "top")
    except (TypeError, ValueError) as err:
        raise TuneError(str(err)) from None
    results = list(results)
    lines = [
        f"{'rank':>4} {'trial':>5} {'optimizer':<9} {'lr':>9} {'reg':>9} {'decay':>6} "
        f"{'batch':>5} {'iters':>6} {'val_acc':>7} {'best':>6} {'seconds':>7}"
    ]
    for rank, r in enumerate(ranked(results)[:top], start=1):
        t = r.trial
        lines.append(
            f"{rank:>4} {t.trial_id:>5} {t.optimizer:<9} {t.learning_rate:>9.3e} "
            f"{t.reg:>9.3e} {t.lr_decay:>6.3f} {t.batch_size:>5} {r.iterations:>6} "
            f"{_fmt(r.val_acc, '.4f'):>7} {_fmt(r.best_val_acc, '.4f'):>6} "
            f"{r.seconds:>7.1f}"
        )
    counts = {status: sum(r.status == status for r in results) for status in STATUSES}
    lines.append(
        f"{len(results)} trials: {counts[STATUS_OK]} ok, {counts[STATUS_DIVERGED]} diverged, "
        f"{counts[STATUS_FAILED]} failed"
    )
    return "\n".join(lines)
