"""Random hyper-parameter search: run the trials of a search in parallel, resumably.

>>> from minigrad.data import load_cifar10_split
>>> from minigrad.tune.search import SearchSettings, run_search
>>> split = load_cifar10_split(dtype="float32")
>>> results = run_search(split, SearchSettings(num_trials=20, seed=0), "runs/tune", workers=2)

Workers are started with "spawn", so a script that uses ``workers > 1`` must call
``run_search`` under ``if __name__ == "__main__":``.

A search folder holds ``search.json`` (the settings), ``trials.csv`` (one row per finished
trial, streamed), and after the search ``search.png`` and ``leaderboard.txt``. Running
the same settings with ``resume=True`` re-derives the trial list from the seed and runs
only the trials that are not in ``trials.csv`` yet.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from minigrad.experiment.job import DataSplit
from minigrad.files.atomic import write_json_atomic, write_text_atomic
from minigrad.files.bounded_json import read_json_object
from minigrad.files.bounded_read import UnreadableFileError
from minigrad.files.folder_lock import FolderLock, lock_folder
from minigrad.files.output_paths import make_folder
from minigrad.tune.plot import plot_search
from minigrad.tune.results import TrialLog, TrialResult, best_result, leaderboard, read_results
from minigrad.tune.space import SearchSpace, Trial, TuneError, sample_trial, sample_trials
from minigrad.tune.workers import TrialJob, run_job, worker_pool
from minigrad.validation import check_int, check_positive_int, check_real

__all__ = [
    "LEADERBOARD_FILE",
    "PLOT_FILE",
    "RESULTS_FILE",
    "SEARCH_FILE",
    "SearchSettings",
    "check_new_search_folder",
    "check_same_search",
    "claim_search_folder",
    "finished_trials",
    "read_settings",
    "run_search",
    "split_sizes",
    "write_summary",
]

SEARCH_FILE = "search.json"
RESULTS_FILE = "trials.csv"
PLOT_FILE = "search.png"
LEADERBOARD_FILE = "leaderboard.txt"
MAX_TRIALS = 1_000_000  # each trial is a row and an object: keep a typo from eating memory
MAX_SEARCH_FILE_BYTES = 1 << 20


@dataclass(frozen=True)
class SearchSettings:
    """A whole search: the space, how many trials, the seed, and per-trial extras.

    Attributes
    ----------
    space : where to search.
    num_trials : trials to run (a resumed search may raise it).
    seed : the search's seed; trial ``i`` depends only on ``(space, seed, i)``.
    patience : early-stop a trial after this many epochs without a better validation
        accuracy (None: train every trial to the end).
    target_acc : record the iterations and seconds each trial needs to reach this
        validation accuracy (None: do not).
    """

    space: SearchSpace = field(default_factory=SearchSpace)
    num_trials: int = 20
    seed: int = 0
    patience: int | None = None
    target_acc: float | None = None

    def __post_init__(self) -> None:
        try:
            checked = self._checked_fields()
        except (TypeError, ValueError) as err:  # one error type for every bad setting
            raise TuneError(str(err)) from None
        for name, value in checked.items():
            object.__setattr__(self, name, value)  # frozen: normalise once (JSON-able)

    def _checked_fields(self) -> dict[str, Any]:
        """The scalar settings checked and normalised (``TypeError`` / ``ValueError``)."""
        checked: dict[str, Any] = {
            "num_trials": check_int(
                check_positive_int(self.num_trials, "num_trials"), "num_trials", high=MAX_TRIALS
            ),
            "seed": check_int(self.seed, "seed", low=0),
        }
        if self.patience is not None:
            checked["patience"] = check_positive_int(self.patience, "patience")
        if self.target_acc is not None:
            checked["target_acc"] = check_real(
                self.target_acc, "target_acc", low=0.0, low_open=True, high=1.0
            )
        return checked

    def to_dict(self) -> dict[str, Any]:
        """JSON-able settings; inverse of :meth:`from_dict`."""
        return {
            "space": self.space.to_dict(),
            "num_trials": self.num_trials,
            "seed": self.seed,
            "patience": self.patience,
            "target_acc": self.target_acc,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SearchSettings:
        """Inverse of :meth:`to_dict`; ``TuneError`` for anything but such a dict."""
        if not isinstance(data, Mapping):
            raise TuneError(f"search settings must be a mapping, got {type(data).__name__}")
        values = dict(data)
        space = values.get("space", {})
        if not isinstance(space, Mapping):
            raise TuneError(f"the search space must be a mapping, got {type(space).__name__}")
        values["space"] = SearchSpace.from_dict(dict(space))
        unknown = sorted(set(values) - set(cls.__dataclass_fields__))
        if unknown:
            raise TuneError(f"unknown search setting(s) {unknown}")
        return cls(**values)


def split_sizes(split: DataSplit) -> dict[str, int]:
    """``num_training``, ``num_validation``, ``num_test``: the rows of ``split``'s parts."""
    return {
        "num_training": int(split.X_train.shape[0]),
        "num_validation": int(split.X_val.shape[0]),
        "num_test": int(split.X_test.shape[0]),
    }


def _read_search_file(folder: str | os.PathLike[str]) -> tuple[SearchSettings, dict[str, int]]:
    path = Path(folder) / SEARCH_FILE
    if not path.is_file():
        raise TuneError(f"{path} is missing: {folder} is not a search folder")
    try:
        saved = read_json_object(path, max_bytes=MAX_SEARCH_FILE_BYTES)
    except UnreadableFileError as err:
        raise TuneError(str(err)) from None
    settings, sizes = saved.get("settings"), saved.get("data")
    if not isinstance(sizes, dict) or not all(
        type(sizes.get(key)) is int for key in ("num_training", "num_validation", "num_test")
    ):
        raise TuneError(f"{path} is corrupt: 'data' must give the three split sizes")
    try:
        return SearchSettings.from_dict(settings), dict(sizes)  # type: ignore[arg-type]
    except TypeError as err:  # a value of the wrong kind that a check did not name
        raise TuneError(f"{path} is corrupt: {err}") from None
    except TuneError as err:
        raise TuneError(f"{path}: {err}") from None


def read_settings(folder: str | os.PathLike[str]) -> SearchSettings:
    """The settings saved in a search folder's ``search.json``."""
    return _read_search_file(folder)[0]


def claim_search_folder(folder: str | os.PathLike[str]) -> FolderLock:
    """Create search folder ``folder`` if needed and lock it for this process (re-entrant).

    Raises
    ------
    TuneError : the path cannot be used or created.
    minigrad.files.folder_lock.FolderInUseError : another process is writing into it.
    """
    try:
        target = make_folder(folder, "search folder")
    except ValueError as err:
        raise TuneError(str(err)) from None
    return lock_folder(target)


def check_new_search_folder(folder: str | os.PathLike[str]) -> None:
    """``TuneError`` if ``folder`` already holds a search's results (never overwrite them)."""
    path = Path(folder) / RESULTS_FILE
    if path.exists():
        raise TuneError(f"{path} exists; resume that search or choose a new folder")


def finished_trials(folder: str | os.PathLike[str]) -> list[TrialResult]:
    """The trials saved in ``folder``'s results file so far ([] before the first)."""
    path = Path(folder) / RESULTS_FILE
    return read_results(path) if path.exists() else []


def check_same_search(
    saved: SearchSettings, settings: SearchSettings, source: str = SEARCH_FILE
) -> None:
    """``TuneError`` naming each setting (other than ``num_trials``) that differs."""
    old, new = saved.to_dict(), settings.to_dict()
    changed = [f"space.{key}" for key in old["space"] if old["space"][key] != new["space"][key]]
    changed += [key for key in old if key not in ("space", "num_trials") and old[key] != new[key]]
    if changed:
        raise TuneError(
            f"cannot resume: {', '.join(changed)} differ from the search in {source} "
            "(only the number of trials may change)"
        )


def _check_previous(
    previous: Sequence[TrialResult], settings: SearchSettings, num_train: int, source: Path
) -> None:
    """Every trial already in the results must be the one the settings draw for its id."""
    for result in previous:
        expected = sample_trial(settings.space, settings.seed, result.trial.trial_id, num_train)
        if result.trial != expected:
            raise TuneError(
                f"trial {result.trial.trial_id} in {source} was drawn with other settings "
                f"({result.trial}) than this search draws ({expected}); resume with the "
                "settings of that search"
            )


def _execute(
    jobs: Sequence[TrialJob],
    split: DataSplit,
    workers: int,
    handle: Callable[[TrialResult], None],
) -> None:
    """Run ``jobs``, calling ``handle`` in this process as each one finishes."""
    if workers == 1 or len(jobs) <= 1:
        for job in jobs:
            handle(run_job(job, split))
        return
    with worker_pool(min(workers, len(jobs)), split) as pool:
        futures = [pool.submit(run_job, job) for job in jobs]
        for future in as_completed(futures):
            handle(future.result())


def run_search(
    split: DataSplit,
    settings: SearchSettings,
    folder: str | os.PathLike[str],
    *,
    workers: int = 1,
    resume: bool = False,
    progress: bool | None = None,
    on_result: Callable[[TrialResult], None] | None = None,
) -> list[TrialResult]:
    """Run (or continue) a random search and stream its results to ``folder/trials.csv``.

    Parameters
    ----------
    split : ``X_train`` (N, D), ``y_train`` (N,), and the same for ``val`` and ``test``,
        rows in ``settings.space.dtype`` (e.g. ``minigrad.data.load_cifar10_split(dtype=...)``).
    settings : the search.
    folder : the search folder (created if needed).
    workers : processes running trials at once; 1 runs them in this process.
    resume : continue the search in ``folder`` (same settings; more trials allowed),
        skipping the trials already in its results.
    progress : show a progress bar over trials on stderr (None: only on a terminal).
    on_result : called in this process with each trial's result once it is saved.

    Returns
    -------
    Every finished trial of the search, earlier ones (when resuming) first.

    Raises
    ------
    TuneError : bad settings, a results file that exists without ``resume`` (or is
        missing with it), or a resume with different settings.
    minigrad.files.folder_lock.FolderInUseError : another process is writing ``folder``.
    KeyboardInterrupt : on Ctrl-C; the finished trials are in the results file.
    """
    try:
        workers = check_positive_int(workers, "workers")
    except (TypeError, ValueError) as err:
        raise TuneError(str(err)) from None
    target = Path(folder)
    sizes = split_sizes(split)
    for name in ("X_train", "X_val", "X_test"):
        dtype = getattr(split, name).dtype
        if dtype != settings.space.dtype:
            raise TuneError(
                f"{name} is {dtype} but the search uses {settings.space.dtype}; "
                f"load the data with dtype={settings.space.dtype!r}"
            )
    if resume:
        saved, saved_sizes = _read_search_file(target)
        check_same_search(saved, settings, os.fspath(target / SEARCH_FILE))
        if saved_sizes != sizes:
            raise TuneError(
                f"cannot resume: the search in {target} ran on a split of sizes {saved_sizes}, "
                f"this data has {sizes}"
            )
    else:
        check_new_search_folder(target)
    num_train = sizes["num_training"]
    trials = sample_trials(settings.space, settings.seed, settings.num_trials, num_train)
    with claim_search_folder(target):
        return _search(split, settings, target, trials, sizes, workers, resume, progress,
                       on_result)


def _search(
    split: DataSplit,
    settings: SearchSettings,
    target: Path,
    trials: Sequence[Trial],
    sizes: dict[str, int],
    workers: int,
    resume: bool,
    progress: bool | None,
    on_result: Callable[[TrialResult], None] | None,
) -> list[TrialResult]:
    """The body of :func:`run_search`, with the folder held."""
    num_train = sizes["num_training"]
    log, previous = TrialLog.open(target / RESULTS_FILE, resume)
    with log:
        _check_previous(previous, settings, num_train, log.path)
        write_json_atomic(target / SEARCH_FILE, {"settings": settings.to_dict(), "data": sizes})
        done = {result.trial.trial_id for result in previous}
        jobs = [
            TrialJob(trial, trial.train_config(settings.space, **sizes), settings.patience,
                     settings.target_acc)
            for trial in trials if trial.trial_id not in done
        ]
        results = list(previous)
        enabled = sys.stderr.isatty() if progress is None else progress
        with tqdm(
            total=len(trials), initial=len(trials) - len(jobs), unit="trial", desc="trials",
            disable=not enabled, dynamic_ncols=True, file=sys.stderr,
        ) as bar:

            def handle(result: TrialResult) -> None:
                log.append(result)
                results.append(result)
                best = best_result(results)
                if best is not None:
                    bar.set_postfix(best_val_acc=f"{best.val_acc:.4f}", refresh=False)
                bar.update(1)
                if on_result is not None:
                    on_result(result)

            _execute(jobs, split, workers, handle)
    return results


def write_summary(
    folder: str | os.PathLike[str], results: Sequence[TrialResult], top: int = 10
) -> str:
    """Write ``search.png`` and ``leaderboard.txt`` into ``folder``; return the leaderboard."""
    target = Path(folder)
    board = leaderboard(results, top)
    with claim_search_folder(target):
        write_text_atomic(target / LEADERBOARD_FILE, board + "\n")
        plot_search(results, target / PLOT_FILE)
    return board
