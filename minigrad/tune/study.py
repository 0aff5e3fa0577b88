"""A search as an Optuna study: where it is stored, its trial numbers, and running trials.

**Storage.** One machine keeps the study in the search folder as Optuna's journal file
(``study.journal``, one JSON operation per line, appended under a lock file). Not SQLite:
SQLite takes a lock on the whole database for every write, and a study's writes are many
small ones (each parameter, each epoch's report, each attribute), so worker processes
spend their time waiting for each other (measured: 60 trials of 20 reports in 4
processes took 66 s on SQLite, 3 s on the journal; SQLite in 1 process took 16 s for 15).
Many machines share a database (``--storage postgresql://...``): an Optuna RDB storage
with heartbeats.

**Trial numbers.** A search of N trials is N *trial numbers* (``trial_id`` 0..N-1,
the trials' user attribute ``trial_id``), each enqueued as a waiting trial when the study
is made: with the random sampler with the seeded list's parameters fixed
(:func:`~minigrad.tune.space.seeded_params`), with TPE empty (the sampler fills them in
when the trial starts). A process takes a waiting trial by moving it to RUNNING, which
the storage lets exactly one process do, so no trial number runs twice at once, and
processes stop when every number has a finished trial. A finished trial is one whose
``status`` (user attribute) is ``ok`` (COMPLETE), ``pruned`` (PRUNED), ``diverged`` or
``failed`` (FAIL).

**Retries.** A trial whose run was cut short is marked FAIL with status
``interrupted`` (or, when its process vanished, FAIL without a status) and its number is
enqueued again with the same parameters (user attribute ``retry_of``: the study number
of the attempt it repeats). Who notices: the process itself on a stop signal; the search
folder's owner on ``--resume`` (the folder lock guarantees that no process of the search
is alive then, so every RUNNING trial is stale); on a database, any process, through
Optuna's heartbeats (a RUNNING trial whose heartbeat is older than the grace period).
If two waiting trials ever hold one trial number (two processes enqueued it at once),
the lower study number runs and the other is marked FAIL with status ``duplicate``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
import warnings
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from optuna.exceptions import DuplicatedStudyError, ExperimentalWarning, UpdateFinishedTrialError
from optuna.storages import BaseStorage, JournalStorage, RDBStorage, get_storage
from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock
from optuna.trial import FrozenTrial, TrialState

from minigrad.experiment.job import DataSplit
from minigrad.tune.location import (
    DEFAULT_HEARTBEAT,
    EMBEDDED_STUDY_NAME,
    STUDY_FILE,
    StudyLocation,
    masked_url,
)
from minigrad.tune.results import (
    STATUS_DIVERGED,
    STATUS_FAILED,
    STATUS_OK,
    STATUS_PRUNED,
    TrialResult,
)
from minigrad.tune.search_data import SearchData
from minigrad.tune.settings import SearchSettings, check_same_search
from minigrad.tune.space import SeededChooser, TuneError, choose_trial, seeded_params
from minigrad.tune.trial_job import TrialJob, run_job
from minigrad.validation import describe

__all__ = [
    "DEFAULT_HEARTBEAT",
    "EMBEDDED_STUDY_NAME",
    "STUDY_FILE",
    "Progress",
    "SearchStudy",
    "StudyLocation",
    "data_record",
    "read_search",
    "worker_name",
]


# Study user attributes.
ATTR_SETTINGS = "minigrad.settings"
ATTR_DATA = "minigrad.data"
ATTR_ENQUEUED = "minigrad.enqueued"  # trial numbers the study's creator has enqueued
# Trial user attributes.
ATTR_TRIAL_ID = "trial_id"
ATTR_STATUS = "status"
ATTR_WORKER = "worker"
ATTR_RETRY_OF = "retry_of"
STATUS_INTERRUPTED = "interrupted"
STATUS_DUPLICATE = "duplicate"
_COUNTED_FAILURES = (STATUS_DIVERGED, STATUS_FAILED)
_OUTCOME_ATTRS = ("val_acc", "best_val_acc", "train_acc", "iterations", "seconds",
                  "iters_to_target", "seconds_to_target", "message")

MAX_JOURNAL_BYTES = 4 << 30
MAX_JOURNAL_LINE = 16 << 20  # one operation; a study's largest is a few KiB
_JOURNAL_LOCK_GRACE = 10  # seconds before a lock file left by a killed writer is broken
_POLL_SECONDS = 1.0
_SETTINGS_WAIT = 60.0  # how long a joining process waits for the creator's settings
_ENQUEUE_WAIT = 10.0
_ORPHAN_MARGIN = 60.0  # seconds past the grace period for a RUNNING trial no one claimed
_STORAGE_ATTEMPTS = 5

_log = logging.getLogger(__name__)


def worker_name() -> str:
    """``host:pid``: the process running a trial, as its ``worker`` attribute names it."""
    return f"{socket.gethostname()}:{os.getpid()}"


# ------------------------------------------------------------------ opening the storage


def _check_journal(path: Path, repair: bool) -> None:
    """Refuse a journal too large (or with an absurd line); with ``repair``, drop a torn
    last line (a write cut short: the operation never happened for any reader).

    Only the search folder's owner repairs, with no other process of the search alive.
    """
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return  # a new study: the journal is made when it is opened
    except OSError as err:
        raise TuneError(f"cannot read {path}: {err.strerror or err}") from None
    if size > MAX_JOURNAL_BYTES:
        raise TuneError(f"{path} is {size} bytes, more than a study of minigrad's can hold")
    offset = tail = 0  # bytes read; bytes since the last newline
    try:
        with open(path, "rb") as file:
            while block := file.read(1 << 20):
                lines = block.split(b"\n")
                if len(lines) == 1:
                    tail += len(block)
                else:
                    longest = max([tail + len(lines[0]), *map(len, lines[1:-1])])
                    tail = len(lines[-1])
                    if longest > MAX_JOURNAL_LINE:
                        raise TuneError(f"{path} is not a study journal: a line is too long")
                if tail > MAX_JOURNAL_LINE:
                    raise TuneError(f"{path} is not a study journal: a line is too long")
                offset += len(block)
        line_start = offset - tail
        if repair and line_start != offset:
            with open(path, "r+b") as file:
                file.truncate(line_start)
                os.fsync(file.fileno())
    except OSError as err:
        raise TuneError(f"cannot read {path}: {err.strerror or err}") from None


def _remove_journal_lock(path: Path) -> None:
    """Remove the journal's lock file left by a killed writer (owner only, none alive)."""
    for leftover in path.parent.glob(path.name + ".lock*"):
        with contextlib.suppress(OSError):
            leftover.unlink()


def _open_journal(location: StudyLocation, repair: bool) -> BaseStorage:
    path = location.journal
    _check_journal(path, repair)
    if repair:
        _remove_journal_lock(path)
    try:
        backend = JournalFileBackend(
            os.fspath(path), lock_obj=JournalFileOpenLock(os.fspath(path), _JOURNAL_LOCK_GRACE)
        )
        return JournalStorage(backend)
    except OSError as err:
        raise TuneError(f"cannot open {path}: {err.strerror or err}") from None
    except Exception as err:  # a file that is not a journal, or one edited by hand
        raise TuneError(
            f"{path} is not a study journal minigrad can read ({type(err).__name__}: {err})"
        ) from None


def _with_driver(url: str) -> str:
    """``postgresql://...`` with the driver the ``tune`` extra installs (psycopg2) when the
    one SQLAlchemy picks for a bare ``postgresql`` (psycopg 3, since SQLAlchemy 2.1) is
    not installed; any other URL as it is."""
    import importlib.util

    from sqlalchemy.engine import make_url

    try:
        parsed = make_url(url)
    except Exception:  # RDBStorage names the problem
        return url
    if parsed.drivername != "postgresql" or importlib.util.find_spec("psycopg") is not None:
        return url
    if importlib.util.find_spec("psycopg2") is None:
        return url
    return parsed.set(drivername="postgresql+psycopg2").render_as_string(hide_password=False)


def _open_database(location: StudyLocation) -> BaseStorage:
    import sqlalchemy.exc

    assert location.url is not None
    url = _with_driver(location.url)
    failure: Exception | None = None
    for attempt in range(_STORAGE_ATTEMPTS):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ExperimentalWarning)
                raw = RDBStorage(
                    url,
                    engine_kwargs={"pool_pre_ping": True},
                    heartbeat_interval=location.heartbeat,
                    grace_period=location.grace_period,
                    heartbeat_stale_trial_callback=_retry_lost,
                )
            return get_storage(raw)
        except ImportError:
            raise TuneError(
                f"cannot open the study storage {masked_url(location.url)}: its database "
                "driver is not installed (pip install 'minigrad[tune]' brings psycopg2 for "
                "postgresql+psycopg2:// URLs)"
            ) from None
        except (sqlalchemy.exc.ArgumentError, ValueError) as err:
            failure = err
            break  # a bad URL: trying again changes nothing
        except (sqlalchemy.exc.SQLAlchemyError, RuntimeError) as err:
            # Two processes making the tables of a new database at once collide; the
            # second try finds them made. A server not up yet may be up in a moment.
            failure = err
            time.sleep(0.5 * (attempt + 1))
    reason = " ".join(str(failure).split("\n")[0].split()) if failure else "unknown error"
    raise TuneError(f"cannot open the study storage {masked_url(location.url)}: {reason}")


def open_storage(location: StudyLocation, *, repair: bool = False) -> BaseStorage:
    """The Optuna storage at ``location`` (``repair``: see :func:`_check_journal`)."""
    if location.is_embedded:
        return _open_journal(location, repair)
    return _open_database(location)


# ------------------------------------------------------------------ trials of a search


def trial_id_of(trial: FrozenTrial) -> int | None:
    """The search's trial number a study trial stands for (None: not a trial of ours)."""
    value = trial.user_attrs.get(ATTR_TRIAL_ID)
    return value if type(value) is int and value >= 0 else None


def is_finished(trial: FrozenTrial) -> bool:
    """Whether ``trial`` is its trial number's outcome (ok, pruned, diverged, failed)."""
    if trial.state in (TrialState.COMPLETE, TrialState.PRUNED):
        return True
    return trial.state == TrialState.FAIL and trial.user_attrs.get(ATTR_STATUS) in _COUNTED_FAILURES


def is_live(trial: FrozenTrial) -> bool:
    return trial.state in (TrialState.WAITING, TrialState.RUNNING)


def retry_params(trial: FrozenTrial) -> dict[str, Any]:
    """The parameters a retry of ``trial`` runs with: the fixed ones and those it chose."""
    fixed = trial.system_attrs.get("fixed_params")
    return {**(fixed if isinstance(fixed, dict) else {}), **trial.params}


def _retry_lost(study: optuna.Study, trial: FrozenTrial) -> None:
    """Heartbeat callback: ``trial``'s process vanished (Optuna marked it FAIL); run its
    trial number again with the same parameters. Called in exactly one process."""
    trial_id = trial_id_of(trial)
    if trial_id is not None:
        study.enqueue_trial(retry_params(trial),
                            user_attrs={ATTR_TRIAL_ID: trial_id, ATTR_RETRY_OF: trial.number})


def data_record(split: DataSplit | SearchData) -> dict[str, int]:
    """The split's sizes and a checksum of its labels: every process of one search must
    train on the same split (a different data folder on another machine is caught)."""
    data = SearchData.of(split)
    record = dict(data.sizes)
    checksum = 0
    for labels in data.labels:
        checksum = zlib.crc32(np.ascontiguousarray(labels, dtype=np.int64).tobytes(), checksum)
    record["labels_crc32"] = checksum
    return record


def _sizes(data: Mapping[str, int]) -> dict[str, int]:
    return {key: data[key] for key in ("num_training", "num_validation", "num_test")}


def _check_data_record(value: object, source: str) -> dict[str, int]:
    keys = ("num_training", "num_validation", "num_test", "labels_crc32")
    if not isinstance(value, dict) or not all(
        type(value.get(key)) is int and value[key] >= 0 for key in keys
    ):
        raise TuneError(f"{source} is not a minigrad search: its data record is {describe(value)}")
    return {key: value[key] for key in keys}


def _saved(study: optuna.Study, source: str) -> tuple[SearchSettings, dict[str, int]] | None:
    """The settings and data record a study holds (None before its creator wrote them)."""
    attrs = study.user_attrs
    if ATTR_SETTINGS not in attrs or ATTR_DATA not in attrs:
        return None
    try:
        settings = SearchSettings.from_dict(attrs[ATTR_SETTINGS])
    except TuneError as err:
        raise TuneError(f"{source}: {err}") from None
    return settings, _check_data_record(attrs[ATTR_DATA], source)


def _load_study(
    storage: BaseStorage, location: StudyLocation, **kwargs: Any
) -> optuna.Study | None:
    try:
        return optuna.load_study(study_name=location.name, storage=storage, **kwargs)
    except KeyError:  # no such study
        return None


def read_search(location: StudyLocation) -> tuple[SearchSettings, dict[str, int]] | None:
    """The settings and data record of the search at ``location`` (None: no such study).

    Raises
    ------
    TuneError : the storage cannot be read, or the study is not a search of minigrad's.
    """
    if location.is_embedded and not location.journal.exists():
        return None
    storage = open_storage(location)
    study = _load_study(storage, location)
    if study is None:
        if location.is_embedded:
            raise TuneError(f"{location.shown()} holds no minigrad search")
        return None
    saved = _saved(study, location.shown())
    if saved is None and location.is_embedded:
        raise TuneError(f"{location.shown()} holds a study without minigrad's settings")
    return saved


@dataclass(frozen=True)
class Progress:
    """Where a search stands: trial numbers finished, waiting, running, not enqueued."""

    finished: int
    waiting: int
    running: int
    missing: int

    @property
    def done(self) -> bool:
        return self.waiting == 0 and self.running == 0 and self.missing == 0


def _samplers(settings: SearchSettings, salt: int, num_training: int) -> tuple[Any, Any]:
    seed = int(np.random.SeedSequence([settings.seed, salt]).generate_state(1)[0])
    if settings.sampler == "tpe":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ExperimentalWarning)
            sampler: Any = optuna.samplers.TPESampler(seed=seed, constant_liar=True)
    else:  # every parameter is enqueued fixed: the sampler is never asked
        sampler = optuna.samplers.RandomSampler(seed=seed)
    warmup = settings.warmup_epochs(num_training)  # a trial reports at epochs 1, 2, ...
    if settings.pruner == "median":
        pruner: Any = optuna.pruners.MedianPruner(
            n_startup_trials=settings.prune_startup, n_warmup_steps=warmup,
            interval_steps=max(1, warmup // 2))
    elif settings.pruner == "hyperband":
        pruner = optuna.pruners.HyperbandPruner(min_resource=max(1, warmup))
    else:
        pruner = optuna.pruners.NopPruner()
    return sampler, pruner


class _Heartbeat:
    """A thread recording ``trial_id``'s heartbeat every ``interval`` seconds."""

    def __init__(self, storage: BaseStorage, trial_id: int, interval: int) -> None:
        self._storage, self._trial_id, self._interval = storage, trial_id, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="minigrad-heartbeat",
                                        daemon=True)
        self._thread.start()

    def _run(self) -> None:
        record = getattr(self._storage, "record_heartbeat", None)
        while record is not None and not self._stop.wait(self._interval):
            try:
                record(self._trial_id)
            except Exception as err:  # a database hiccup: the next beat may get through
                _log.warning("heartbeat of a trial failed: %s", err)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


class _StoredChooser:
    """Choices read back from a finished trial's parameters (the seeded list's where one
    is missing, so a result can always be shown)."""

    def __init__(self, params: Mapping[str, Any], seed: int, trial_id: int) -> None:
        self.params, self._fallback = params, SeededChooser(seed, trial_id)

    def suggest_categorical(self, name: str, choices: Sequence[Any]) -> Any:
        value = self.params.get(name)
        return value if value in choices else self._fallback.suggest_categorical(name, choices)

    def suggest_float(self, name: str, low: float, high: float, *, log: bool = False) -> float:
        value = self.params.get(name)
        if isinstance(value, float):
            return value
        return self._fallback.suggest_float(name, low, high, log=log)

    def suggest_int(self, name: str, low: int, high: int) -> int:
        value = self.params.get(name)
        return value if type(value) is int else self._fallback.suggest_int(name, low, high)


@dataclass(frozen=True)
class _Taken:
    """A trial this process took from the queue: the Optuna trial, its storage id, and
    the search's trial number it stands for."""

    trial: optuna.Trial
    ref: int
    trial_id: int


@dataclass
class SearchStudy:
    """An open search: the Optuna study, its storage, and the search's settings.

    Use :meth:`open` (the search's owner: create, resume or join, with checks) or
    :meth:`attach` (a worker process of a search its parent opened).
    """

    study: optuna.Study
    storage: BaseStorage
    location: StudyLocation
    settings: SearchSettings
    data: dict[str, int]
    worker: str = field(default_factory=worker_name)

    # ---------------------------------------------------------------- opening

    @classmethod
    def open(
        cls,
        location: StudyLocation,
        settings: SearchSettings,
        data: dict[str, int],
        *,
        resume: bool,
        parallel: bool = False,
    ) -> SearchStudy:
        """Create the study, or continue it, after checking it is the same search.

        Parameters
        ----------
        location : where the study lives.
        settings : the search; a study that exists must hold the same (its number of
            trials may grow).
        data : :func:`data_record` of the split this process trains on.
        resume : embedded studies only: continue the study in the folder (it must
            exist), rather than make a new one (it must not). A database study is made
            if it does not exist and joined if it does.
        parallel : trials will run in several processes (seeds TPE per process).

        Raises
        ------
        TuneError : the study is missing or exists as told otherwise, differs, or
            cannot be read.
        """
        if location.is_embedded:
            exists = location.journal.exists()
            if resume and not exists:
                raise TuneError(f"nothing to resume: {location.journal} does not exist")
            if not resume and exists:
                raise TuneError(f"{location.journal} exists; resume that search (--resume) "
                                "or choose a new folder")
        storage = open_storage(location, repair=location.is_embedded)
        salt = 0 if location.is_embedded and not parallel else zlib.crc32(worker_name().encode())
        sampler, pruner = _samplers(settings, salt, data["num_training"])
        study: optuna.Study | None = None
        if location.is_embedded and resume:
            study = _load_study(storage, location, sampler=sampler, pruner=pruner)
            if study is None:
                raise TuneError(f"{location.shown()} holds no minigrad search")
            created = False
        else:
            try:
                study = optuna.create_study(
                    storage=storage, study_name=location.name, direction="maximize",
                    sampler=sampler, pruner=pruner,
                )
                created = True
            except DuplicatedStudyError:
                if location.is_embedded:
                    raise TuneError(f"{location.shown()} already holds a search") from None
                study = optuna.load_study(study_name=location.name, storage=storage,
                                          sampler=sampler, pruner=pruner)
                created = False
        if study.direction != optuna.study.StudyDirection.MAXIMIZE:
            raise TuneError(f"{location.shown()} is not a minigrad search (it minimises)")
        search = cls(study, storage, location, settings, data)
        if created:
            study.set_user_attr(ATTR_DATA, data)
            study.set_user_attr(ATTR_SETTINGS, settings.to_dict())
            search.enqueue_missing()
            study.set_user_attr(ATTR_ENQUEUED, settings.num_trials)
            return search
        saved = search._wait_for_settings()
        check_same_search(saved[0], settings, location.shown())
        search._check_data(saved[1])
        if location.is_embedded:
            search.requeue_running()  # the folder lock: no process of the search is alive
        else:
            search._wait_for_enqueued()
        if settings.num_trials > saved[0].num_trials:
            study.set_user_attr(ATTR_SETTINGS, settings.to_dict())
        search.enqueue_missing()
        return search

    @classmethod
    def attach(cls, location: StudyLocation, salt: int) -> SearchStudy:
        """The search at ``location``, as its owner opened it (in a worker process)."""
        storage = open_storage(location)
        study = _load_study(storage, location)
        saved = None if study is None else _saved(study, location.shown())
        if study is None or saved is None:
            raise TuneError(f"{location.shown()} holds no minigrad search")
        sampler, pruner = _samplers(saved[0], salt, saved[1]["num_training"])
        study = optuna.load_study(study_name=location.name, storage=storage,
                                  sampler=sampler, pruner=pruner)
        return cls(study, storage, location, saved[0], saved[1])

    def _wait_for_settings(self) -> tuple[SearchSettings, dict[str, int]]:
        deadline = time.monotonic() + (0 if self.location.is_embedded else _SETTINGS_WAIT)
        while True:
            saved = _saved(self.study, self.location.shown())
            if saved is not None:
                return saved
            if time.monotonic() >= deadline:
                raise TuneError(f"{self.location.shown()} holds a study without minigrad's "
                                "settings (not a search of minigrad's, or its creator died)")
            time.sleep(_POLL_SECONDS)

    def _wait_for_enqueued(self) -> None:
        deadline = time.monotonic() + _ENQUEUE_WAIT
        while ATTR_ENQUEUED not in self.study.user_attrs and time.monotonic() < deadline:
            time.sleep(0.2)

    def _check_data(self, saved: dict[str, int]) -> None:
        if _sizes(saved) != _sizes(self.data):
            raise TuneError(
                f"cannot resume: the search in {self.location.shown()} ran on a split of "
                f"sizes {_sizes(saved)}, this data has {_sizes(self.data)}"
            )
        if saved["labels_crc32"] != self.data["labels_crc32"]:
            raise TuneError(
                f"cannot resume: the search in {self.location.shown()} ran on other data "
                "(the labels differ): every process of a search must load the same split"
            )

    # ---------------------------------------------------------------- reading

    @property
    def sizes(self) -> dict[str, int]:
        return _sizes(self.data)

    @property
    def study_id(self) -> int:
        return self.storage.get_study_id_from_name(self.location.name)

    def num_trials(self) -> int:
        """The trials the search wants: this process's number, or more if another process
        has raised the study's since (e.g. a machine that joined with ``--trials 80``)."""
        stored = self.study.user_attrs.get(ATTR_SETTINGS)
        raised = stored.get("num_trials") if isinstance(stored, dict) else None
        if type(raised) is int and raised > self.settings.num_trials:
            return raised
        return self.settings.num_trials

    def trials(self) -> list[FrozenTrial]:
        return self.storage.get_all_trials(self.study_id, deepcopy=False)

    def progress(self, trials: Sequence[FrozenTrial] | None = None) -> Progress:
        trials = self.trials() if trials is None else trials
        wanted = range(self.num_trials())
        finished = {trial_id_of(t) for t in trials if is_finished(t)}
        waiting = {trial_id_of(t) for t in trials if t.state == TrialState.WAITING} - finished
        running = {trial_id_of(t) for t in trials if t.state == TrialState.RUNNING} - finished
        present = finished | waiting | running
        return Progress(
            finished=sum(i in finished for i in wanted),
            waiting=sum(i in waiting for i in wanted),
            running=sum(i in running for i in wanted),
            missing=sum(i not in present for i in wanted),
        )

    def result_of(self, trial: FrozenTrial) -> TrialResult:
        """The :class:`TrialResult` a finished study trial records."""
        trial_id = trial_id_of(trial)
        assert trial_id is not None
        chooser = _StoredChooser(trial.params, self.settings.seed, trial_id)
        config = choose_trial(chooser, self.settings.space, trial_id, self.settings.seed,
                              self.data["num_training"])
        attrs = trial.user_attrs
        status = attrs.get(ATTR_STATUS)
        if trial.state == TrialState.COMPLETE:
            status = STATUS_OK
        elif trial.state == TrialState.PRUNED:
            status = STATUS_PRUNED
        values = {name: attrs.get(name) for name in _OUTCOME_ATTRS}
        return TrialResult(
            trial=config, status=str(status),
            val_acc=_number(values["val_acc"]), best_val_acc=_number(values["best_val_acc"]),
            train_acc=_number(values["train_acc"]),
            iterations=_count(values["iterations"]) or 0,
            seconds=_number(values["seconds"]) or 0.0,
            iters_to_target=_count(values["iters_to_target"]),
            seconds_to_target=_number(values["seconds_to_target"]),
            message=values["message"] if isinstance(values["message"], str) else "",
            study_number=trial.number,
        )

    def finished_ids(self, trials: Sequence[FrozenTrial] | None = None) -> set[int]:
        """The trial ids that have finished."""
        trials = self.trials() if trials is None else trials
        return {i for t in trials if is_finished(t) and (i := trial_id_of(t)) is not None}

    def results(self, trials: Sequence[FrozenTrial] | None = None) -> list[TrialResult]:
        """Every finished trial number's result, by trial id (the first if ever two)."""
        trials = self.trials() if trials is None else trials
        chosen: dict[int, FrozenTrial] = {}
        for trial in trials:
            trial_id = trial_id_of(trial)
            if trial_id is not None and trial_id not in chosen and is_finished(trial):
                chosen[trial_id] = trial
        return [self.result_of(chosen[i]) for i in sorted(chosen)]

    # ---------------------------------------------------------------- the queue

    def _trial_ref(self, trial: FrozenTrial) -> int:
        """The storage's id of ``trial`` (what its methods take)."""
        return self.storage.get_trial_id_from_study_id_trial_number(self.study_id, trial.number)

    def _params_for(self, trial_id: int, trials: Sequence[FrozenTrial]) -> dict[str, Any]:
        if self.settings.sampler == "random":
            return seeded_params(self.settings.space, self.settings.seed, trial_id,
                                 self.data["num_training"])
        attempts = [t for t in trials if trial_id_of(t) == trial_id]
        return retry_params(attempts[-1]) if attempts else {}

    def enqueue_missing(self) -> int:
        """Enqueue every trial number below ``num_trials`` that has no finished, waiting or
        running trial; return how many were enqueued."""
        trials = self.trials()
        present = {trial_id_of(t) for t in trials if is_finished(t) or is_live(t)}
        added = 0
        for trial_id in range(self.num_trials()):
            if trial_id in present:
                continue
            attempts = [t.number for t in trials if trial_id_of(t) == trial_id]
            attrs: dict[str, Any] = {ATTR_TRIAL_ID: trial_id}
            if attempts:
                attrs[ATTR_RETRY_OF] = attempts[-1]
            self.study.enqueue_trial(self._params_for(trial_id, trials), user_attrs=attrs)
            added += 1
        return added

    def requeue(self, trial: FrozenTrial, status: str = STATUS_INTERRUPTED) -> None:
        """Mark running ``trial`` as cut short (FAIL, ``status``) and enqueue its trial
        number again with the same parameters."""
        ref = self._trial_ref(trial)
        try:
            current = self.storage.get_trial(ref)
            if current.state != TrialState.RUNNING:
                return
            self.storage.set_trial_user_attr(ref, ATTR_STATUS, status)
            if not self.storage.set_trial_state_values(ref, TrialState.FAIL):
                return
        except UpdateFinishedTrialError:  # it finished meanwhile: nothing to run again
            return
        current = self.storage.get_trial(ref)
        trial_id = trial_id_of(current)
        if trial_id is not None:
            attrs = {ATTR_TRIAL_ID: trial_id, ATTR_RETRY_OF: current.number}
            self.study.enqueue_trial(retry_params(current), user_attrs=attrs)

    def requeue_running(self, workers: Sequence[str] | None = None) -> int:
        """:meth:`requeue` the RUNNING trials of ``workers`` (None: every one); how many."""
        count = 0
        for trial in self.trials():
            if trial.state != TrialState.RUNNING or trial_id_of(trial) is None:
                continue
            if workers is None or trial.user_attrs.get(ATTR_WORKER) in workers:
                self.requeue(trial)
                count += 1
        return count

    def record_lost_worker(self, worker: str, message: str) -> int:
        """A worker process died while the search went on: its running trial failed
        (recorded as ``failed`` with ``message``, not run again); how many trials."""
        count = 0
        for trial in self.trials():
            if trial.state != TrialState.RUNNING or trial.user_attrs.get(ATTR_WORKER) != worker:
                continue
            if trial_id_of(trial) is None:
                continue
            current = self.storage.get_trial(self._trial_ref(trial))
            if not self._chose_everything(current):  # died before it had a configuration
                self.requeue(current)
                continue
            ref = self._trial_ref(current)
            try:
                self.storage.set_trial_user_attr(ref, "message", message)
                self.storage.set_trial_user_attr(ref, ATTR_STATUS, STATUS_FAILED)
                self.storage.set_trial_state_values(ref, TrialState.FAIL)
            except UpdateFinishedTrialError:
                continue
            count += 1
        return count

    def _chose_everything(self, trial: FrozenTrial) -> bool:
        return "seed" in trial.user_attrs

    def fail_stale(self) -> None:
        """Databases: mark RUNNING trials whose heartbeat stopped as FAIL and enqueue them
        again (Optuna's heartbeat check, plus trials taken by a process that died before
        its first heartbeat)."""
        if self.location.is_embedded:
            return
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ExperimentalWarning)
            optuna.storages.fail_stale_trials(self.study)
        limit = timedelta(seconds=self.location.grace_period + _ORPHAN_MARGIN)
        now = datetime.now()
        for trial in self.trials():
            if (trial.state == TrialState.RUNNING and ATTR_WORKER not in trial.user_attrs
                    and trial.datetime_start is not None and now - trial.datetime_start > limit
                    and trial_id_of(trial) is not None):
                ref = self._trial_ref(trial)
                with contextlib.suppress(UpdateFinishedTrialError):
                    if self.storage.set_trial_state_values(ref, TrialState.FAIL):
                        _retry_lost(self.study, self.storage.get_trial(ref))

    def pop(self) -> _Taken | None:
        """Take the lowest waiting trial of ours for this process (None: none waiting)."""
        for waiting in self.storage.get_all_trials(self.study_id, deepcopy=False,
                                                   states=(TrialState.WAITING,)):
            if trial_id_of(waiting) is None:
                continue  # not a trial of the search (someone enqueued it by hand)
            ref = self._trial_ref(waiting)
            try:
                if not self.storage.set_trial_state_values(ref, TrialState.RUNNING):
                    continue  # another process took it first
            except UpdateFinishedTrialError:
                continue
            record = getattr(self.storage, "record_heartbeat", None)
            if record is not None and not self.location.is_embedded:
                record(ref)  # before anything else: a trial with a heartbeat can go stale
            self.storage.set_trial_user_attr(ref, ATTR_WORKER, self.worker)
            if self._is_duplicate(waiting):
                self.storage.set_trial_user_attr(ref, ATTR_STATUS, STATUS_DUPLICATE)
                self.storage.set_trial_state_values(ref, TrialState.FAIL)
                continue
            trial_id = trial_id_of(waiting)
            assert trial_id is not None
            return _Taken(optuna.Trial(self.study, ref), ref, trial_id)
        return None

    def _is_duplicate(self, taken: FrozenTrial) -> bool:
        trial_id = trial_id_of(taken)
        for other in self.trials():
            if other.number == taken.number or trial_id_of(other) != trial_id:
                continue
            if is_finished(other) or (is_live(other) and other.number < taken.number):
                return True
        return False

    # ---------------------------------------------------------------- running

    def run_trials(
        self,
        split: DataSplit | SearchData,
        *,
        wait_for_others: bool,
        tick: Callable[[], None] | None = None,
    ) -> None:
        """Run waiting trials in this process until every trial number has finished.

        Parameters
        ----------
        split : the data, rows in the space's dtype.
        wait_for_others : when nothing is waiting but other processes still run trials,
            wait (and retry theirs if their heartbeats stop) rather than return.
        tick : called after each trial and each second of waiting (e.g. to export).

        On an interrupt (KeyboardInterrupt) the running trial is enqueued again, then
        the interrupt goes on.
        """
        while True:
            self.fail_stale()
            taken = self.pop()
            if taken is not None:
                self.run_one(taken, split)
                if tick is not None:
                    tick()
                continue
            progress = self.progress()
            if progress.done:
                return
            if progress.waiting:
                continue
            if progress.running:
                if not wait_for_others:
                    return
                time.sleep(_POLL_SECONDS)
                if tick is not None:
                    tick()
                continue
            self.enqueue_missing()  # a number lost between its attempt and its retry

    def repair(self) -> None:
        """Embedded studies, by the folder's owner once no worker is alive: drop a torn last
        line and a lock file that killed workers left in the journal."""
        if self.location.is_embedded:
            _check_journal(self.location.journal, repair=True)
            _remove_journal_lock(self.location.journal)

    def run_one(self, taken: _Taken, split: DataSplit | SearchData) -> TrialResult | None:
        """Run ``taken`` (from :meth:`pop`) and record its outcome; None if another process
        took the trial over meanwhile (its heartbeat was late), whose outcome then counts."""
        trial, trial_id = taken.trial, taken.trial_id
        settings = self.settings
        heartbeat = (None if self.location.is_embedded
                     else _Heartbeat(self.storage, taken.ref, self.location.heartbeat))
        taken_over = False
        try:
            try:
                config = choose_trial(trial, settings.space, trial_id, settings.seed,
                                      self.data["num_training"])
                trial.set_user_attr("seed", config.seed)
                job: TrialJob | None = TrialJob(
                    config, config.train_config(settings.space, **self.sizes),
                    settings.patience, settings.target_acc,
                )
            except UpdateFinishedTrialError:
                return None
            except Exception as err:  # parameters that make no configuration: recorded
                job = None
                failure = f"{type(err).__name__}: {err}"
            if job is None:
                chooser = _StoredChooser(trial.params, settings.seed, trial_id)
                result = TrialResult(
                    choose_trial(chooser, settings.space, trial_id, settings.seed,
                                 self.data["num_training"]),
                    STATUS_FAILED, message=failure,
                )
            else:
                prune = settings.pruner != "none"

                def report(step: int, val_acc: float) -> bool:
                    nonlocal taken_over
                    try:
                        trial.report(val_acc, step)
                        return prune and trial.should_prune()
                    except UpdateFinishedTrialError:
                        taken_over = True
                        return True

                result = run_job(job, split, report)
        except KeyboardInterrupt:
            with _quiet_interrupts():
                self.requeue(self.storage.get_trial(taken.ref))
            raise
        finally:
            if heartbeat is not None:
                heartbeat.stop()
        if taken_over:
            return None
        try:
            self._tell(trial, result)
        except UpdateFinishedTrialError:
            return None
        return result

    def _tell(self, trial: optuna.Trial, result: TrialResult) -> None:
        for name in _OUTCOME_ATTRS:
            value = getattr(result, name)
            if value is not None and value != "":
                trial.set_user_attr(name, value)
        trial.set_user_attr(ATTR_STATUS, result.status)
        if result.status == STATUS_OK:
            self.study.tell(trial, result.val_acc)
        elif result.status == STATUS_PRUNED:
            self.study.tell(trial, state=TrialState.PRUNED)
        else:
            self.study.tell(trial, state=TrialState.FAIL)


@contextlib.contextmanager
def _quiet_interrupts() -> Iterator[None]:
    """Finish the bookkeeping of an interrupt even if a second one arrives meanwhile."""
    try:
        yield
    except KeyboardInterrupt:
        pass


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _count(value: object) -> int | None:
    return value if type(value) is int and value >= 0 else None
