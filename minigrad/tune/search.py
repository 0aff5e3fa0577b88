"""Hyper-parameter search on Optuna: run a search's trials, in parallel, resumably.

>>> from minigrad.data import load_cifar10_split
>>> from minigrad.tune.search import SearchSettings, run_search
>>> split = load_cifar10_split(dtype="float32")
>>> results = run_search(split, SearchSettings(num_trials=20, seed=0), "runs/tune", workers=2)

A search folder holds the study (``study.journal``, the record of the search: its
settings, the data's sizes and every trial), and, as exports of it, ``trials.csv`` (one
row per finished trial, rewritten as trials finish), ``leaderboard.txt``, ``search.png``,
``history.png`` and ``importance.png``. With ``resume=True`` the search in the folder goes
on with its own settings: trials that were running when it stopped run again, finished
ones never do. With a database ``location`` (:class:`~minigrad.tune.study.StudyLocation`)
any number of processes on any number of machines share one study; the folder then holds
this process's exports.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from tqdm import tqdm

from minigrad.experiment.job import DataSplit
from minigrad.files.atomic import write_text_atomic
from minigrad.files.folder_lock import FolderLock, lock_folder
from minigrad.files.output_paths import make_folder
from minigrad.tune.location import STUDY_FILE, StudyLocation
from minigrad.tune.plot import plot_search, write_study_plots
from minigrad.tune.results import TrialResult, best_result, leaderboard, write_results_csv
from minigrad.tune.search_data import SearchData
from minigrad.tune.settings import SearchSettings, check_same_search
from minigrad.tune.shared_data import SharedSplit, remove_stale_copies
from minigrad.tune.space import TuneError
from minigrad.tune.study import SearchStudy, data_record, read_search
from minigrad.tune.workers import WorkerGroup, describe_exit
from minigrad.validation import check_positive_int

__all__ = [
    "HISTORY_PLOT_FILE",
    "IMPORTANCE_PLOT_FILE",
    "LEADERBOARD_FILE",
    "PLOT_FILE",
    "RESULTS_FILE",
    "STUDY_FILE",
    "SearchSettings",
    "check_new_search_folder",
    "check_same_search",
    "claim_search_folder",
    "read_settings",
    "run_search",
    "write_summary",
]

RESULTS_FILE = "trials.csv"
PLOT_FILE = "search.png"
HISTORY_PLOT_FILE = "history.png"
IMPORTANCE_PLOT_FILE = "importance.png"
LEADERBOARD_FILE = "leaderboard.txt"
PARTIAL_SUFFIX = ".partial"  # a best-trial retrain in progress: .best-trial-0003.partial
_SUPERVISE_SECONDS = 0.2
# A worker ended by one of these was stopped, not broken: its trial runs again.
_STOP_SIGNALS = tuple(-int(getattr(signal, name)) for name in ("SIGTERM", "SIGHUP", "SIGINT")
                      if hasattr(signal, name))


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
    """``TuneError`` if ``folder`` already holds a search (never overwrite one)."""
    for name in (STUDY_FILE, RESULTS_FILE):
        path = Path(folder) / name
        if path.exists():
            raise TuneError(f"{path} exists; resume that search (--resume) or choose a new "
                            "folder")


def read_settings(location: StudyLocation | str | os.PathLike[str]) -> SearchSettings:
    """The settings of the search in a search folder (or at a study location)."""
    where = location if isinstance(location, StudyLocation) else StudyLocation.embedded(location)
    saved = read_search(where)
    if saved is None:
        raise TuneError(
            f"{where.journal} is missing: {where.folder} is not a search folder"
            if where.is_embedded else f"there is no {where.shown()}"
        )
    return saved[0]


def remove_partial_retrains(folder: Path) -> None:
    """Remove best-trial retrains a killed search left half-written (folder held)."""
    for partial in folder.glob(f".best-trial-*{PARTIAL_SUFFIX}"):
        shutil.rmtree(partial, ignore_errors=True)


class _Exports:
    """Keeps the folder's ``trials.csv`` (and the progress bar) up to date with the study."""

    def __init__(self, search: SearchStudy, folder: Path, progress: bool | None,
                 on_result: Callable[[TrialResult], None] | None) -> None:
        self.search, self.folder, self.on_result = search, folder, on_result
        results = search.results()
        self.seen = {r.trial.trial_id for r in results}
        self.results = results
        enabled = sys.stderr.isatty() if progress is None else progress
        self.bar = tqdm(
            total=search.settings.num_trials, initial=len(self.seen), unit="trial",
            desc="trials", disable=not enabled, dynamic_ncols=True, file=sys.stderr,
        )
        if not (folder / RESULTS_FILE).exists() or results:
            write_results_csv(folder / RESULTS_FILE, results)

    def update(self, notify: bool = True) -> None:
        """Rewrite trials.csv if trials finished since the last call; tell ``on_result``."""
        trials = self.search.trials()
        if self.search.finished_ids(trials) <= self.seen:
            return  # (cheap: nothing is rebuilt until a trial finishes)
        results = self.search.results(trials)
        new = [r for r in results if r.trial.trial_id not in self.seen]
        write_results_csv(self.folder / RESULTS_FILE, results)
        self.results = results
        self.seen.update(r.trial.trial_id for r in new)
        best = best_result(results)
        if best is not None:
            self.bar.set_postfix(best_val_acc=f"{best.val_acc:.4f}", refresh=False)
        self.bar.update(len(new))
        if notify and self.on_result is not None:
            for result in new:
                self.on_result(result)

    def close(self) -> None:
        self.bar.close()


def _check_split(data: SearchData, settings: SearchSettings) -> None:
    space = settings.space
    if space.uses_image_pipeline and data.images is None:
        raise TuneError("the search space augments or normalises per channel, so the search "
                        "needs the images (minigrad.tune.search_data.load_search_data)")
    if data.rows is None:
        if space.uses_rows:
            raise TuneError("the search space includes the workbook's data (no augmentation, "
                            "mean-image normalisation), so the search needs its float rows")
        return
    for name in ("X_train", "X_val", "X_test"):
        dtype = getattr(data.rows, name).dtype
        if dtype != settings.space.dtype:
            raise TuneError(
                f"{name} is {dtype} but the search uses {settings.space.dtype}; "
                f"load the data with dtype={settings.space.dtype!r}"
            )


def run_search(
    split: DataSplit | SearchData,
    settings: SearchSettings,
    folder: str | os.PathLike[str],
    *,
    workers: int = 1,
    resume: bool = False,
    progress: bool | None = None,
    on_result: Callable[[TrialResult], None] | None = None,
    location: StudyLocation | None = None,
    shared: SharedSplit | None = None,
) -> list[TrialResult]:
    """Run (or continue) a search; export its trials to ``folder/trials.csv`` as they finish.

    Parameters
    ----------
    split : a :class:`~minigrad.tune.search_data.SearchData` (rows and/or images, as the
        space needs; :func:`~minigrad.tune.search_data.load_search_data`), or rows:
        ``X_train`` (N, D), ``y_train`` (N,), and the same for ``val`` and ``test``, in
        ``settings.space.dtype`` (e.g. ``minigrad.data.load_cifar10_split(dtype=...)``).
    settings : the search.
    folder : the search folder (created if needed, and locked while the search runs).
    workers : processes running trials at once; 1 runs them in this process. Above 1
        they are worker processes with one BLAS thread each and one shared copy of the
        data (a script doing this needs no ``if __name__ == "__main__":`` guard: workers
        are ``python -m minigrad.tune.workers``).
    resume : continue the search in ``folder`` (same settings; more trials allowed).
    progress : show a progress bar over trials on stderr (None: only on a terminal).
    on_result : called in this process with each trial's result once it is in the study.
    location : where the study lives (default: ``folder``'s ``study.journal``); a
        database study is created or joined.
    shared : the data already shared with worker processes (else shared here).

    Returns
    -------
    Every finished trial of the search, by trial id.

    Raises
    ------
    TuneError : bad settings, a study that exists without ``resume`` (or is missing with
        it), or a resume with different settings or data.
    minigrad.files.folder_lock.FolderInUseError : another process is writing ``folder``.
    KeyboardInterrupt : on Ctrl-C (or a stop signal); every finished trial is in the
        study, and the running ones run again on resume.
    """
    try:
        workers = check_positive_int(workers, "workers")
    except (TypeError, ValueError) as err:
        raise TuneError(str(err)) from None
    split = SearchData.of(split)
    _check_split(split, settings)
    target = Path(folder)
    where = location or StudyLocation.embedded(target)
    with claim_search_folder(target):
        if where.is_embedded and not resume:
            check_new_search_folder(target)
        remove_stale_copies()
        remove_partial_retrains(target)
        search = SearchStudy.open(where, settings, data_record(split), resume=resume,
                                  parallel=workers > 1)
        exports = _Exports(search, target, progress, on_result)
        try:
            if workers == 1:
                search.run_trials(split, wait_for_others=not where.is_embedded,
                                  tick=exports.update)
            else:
                _run_in_workers(search, split, workers, exports, shared)
        except BaseException:
            # Stopped or failed: still export every trial that finished.
            with contextlib.suppress(Exception, KeyboardInterrupt):
                exports.update(notify=False)
            raise
        else:
            exports.update()
        finally:
            exports.close()
        return search.results()


def _run_in_workers(
    search: SearchStudy,
    split: SearchData,
    workers: int,
    exports: _Exports,
    shared: SharedSplit | None,
) -> None:
    """Run the search's trials in ``workers`` worker processes and watch them."""
    own = shared or SharedSplit(split)
    try:
        spec = {"mode": "trials", "location": search.location.to_dict(), "data": own.spec}
        with WorkerGroup(spec, own.fds) as group:
            try:
                _supervise(search, group, workers, exports)
            finally:
                ended = group.stop()
                _after_workers(search, [worker.name for worker, _ in ended]
                               + [worker.name for worker in group.workers])
    finally:
        if shared is None:
            own.close()


def _after_workers(search: SearchStudy, names: Sequence[str]) -> None:
    """Once our workers are gone: their running trials run again later."""
    if search.location.is_embedded:
        search.repair()
        search.requeue_running()  # the folder lock: nobody else runs this study's trials
    else:
        search.requeue_running(names)


def _supervise(search: SearchStudy, group: WorkerGroup, workers: int, exports: _Exports) -> None:
    """Keep up to ``workers`` workers busy until every trial has finished."""
    failed_starts, max_starts = 0, workers + 2 * search.settings.num_trials + 3
    while True:
        for worker, code in group.reap():
            if code == 0:
                continue
            if code in _STOP_SIGNALS:
                lost = search.requeue_running([worker.name])
            else:
                lost = search.record_lost_worker(
                    worker.name, f"its worker process died ({describe_exit(code)})")
            if lost == 0:
                failed_starts += 1
                if failed_starts >= 3:
                    raise TuneError(f"worker processes keep ending with {describe_exit(code)} "
                                    "before running a trial (see the messages above)")
        exports.update()
        progress = search.progress()
        alive = group.alive()
        if progress.done and not alive:
            return
        if search.location.is_embedded and progress.missing and not alive:
            search.enqueue_missing()
        wanted = min(workers, progress.waiting + progress.missing) - len(alive)
        if not search.location.is_embedded:
            wanted = workers - len(alive) if not progress.done else 0
        for _ in range(max(wanted, 0)):
            if group.started >= max_starts:
                raise TuneError("worker processes keep ending without finishing the search")
            group.start()
        time.sleep(_SUPERVISE_SECONDS)


def write_summary(
    folder: str | os.PathLike[str], results: Sequence[TrialResult], top: int = 10,
    search: SearchStudy | None = None,
) -> str:
    """Write ``leaderboard.txt``, ``search.png`` (and, given the study, ``history.png`` and
    ``importance.png``) into ``folder``; return the leaderboard."""
    target = Path(folder)
    board = leaderboard(results, top)
    with claim_search_folder(target):
        write_text_atomic(target / LEADERBOARD_FILE, board + "\n")
        plot_search(results, target / PLOT_FILE)
        if search is not None:
            write_study_plots(search, target / HISTORY_PLOT_FILE, target / IMPORTANCE_PLOT_FILE)
    return board
