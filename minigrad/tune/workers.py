"""Running trials: one trial as a pure job, and a pool of worker processes that share the data.

The data split is written once to ``.npy`` files (in ``/dev/shm`` where it exists, so it
stays in memory) and every worker maps them read-only: N workers add no copy of the
600 MB training set. Workers are started with the "spawn" method, after the BLAS thread
variables are set to 1 (read by OpenBLAS/MKL/OpenMP when the worker imports NumPy), so two
workers on two cores do not fight over them.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import tempfile
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

from minigrad.experiment.config import TrainConfig
from minigrad.experiment.job import DataSplit, run_training
from minigrad.training.callbacks import Callback, TimeToAccuracy
from minigrad.training.early_stopping import EarlyStopping
from minigrad.training.trainer import DivergenceError
from minigrad.tune.results import STATUS_DIVERGED, STATUS_FAILED, STATUS_OK, TrialResult
from minigrad.tune.space import Trial

__all__ = [
    "BLAS_THREAD_VARIABLES",
    "TrialJob",
    "blas_threads",
    "run_job",
    "shared_split",
    "worker_pool",
    "worker_split",
]

BLAS_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
SPLIT_ARRAYS = ("X_train", "y_train", "X_val", "y_val", "X_test", "y_test")

_WORKER_SPLIT: Any = None  # the split a worker process maps at start-up


@dataclass(frozen=True)
class TrialJob:
    """What a worker needs to run one trial (picklable).

    Attributes
    ----------
    trial : the configuration drawn for the trial.
    config : its full training settings.
    patience : stop after this many epochs without a better validation accuracy.
    target_acc : record when validation accuracy first reaches this.
    """

    trial: Trial
    config: TrainConfig
    patience: int | None = None
    target_acc: float | None = None


def worker_split() -> Any:
    """The split this worker process mapped at start-up (None outside a worker)."""
    return _WORKER_SPLIT


def run_job(job: TrialJob, split: DataSplit | None = None) -> TrialResult:
    """Train one trial and measure it; never raises for a failing trial.

    Parameters
    ----------
    job : the trial.
    split : the data; in a worker process, the split it mapped at start-up.

    Returns
    -------
    TrialResult with status ``"ok"``, ``"diverged"`` (DivergenceError) or ``"failed"`` (any
    other exception, its type and message kept). Ctrl-C (KeyboardInterrupt) is not caught.
    """
    data = _WORKER_SPLIT if split is None else split
    callbacks: list[Callback] = []
    if job.patience is not None:
        callbacks.append(EarlyStopping(job.patience))
    timer = TimeToAccuracy(job.target_acc) if job.target_acc is not None else None
    if timer is not None:
        callbacks.append(timer)
    try:
        # A diverging trial overflows before the trainer notices: keep stderr quiet.
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            result = run_training(job.config, data, callbacks)
    except DivergenceError as err:
        return TrialResult(job.trial, STATUS_DIVERGED, message=str(err))
    except Exception as err:  # any failure is recorded: it must not end the search
        return TrialResult(job.trial, STATUS_FAILED, message=f"{type(err).__name__}: {err}")
    val_curve = result.history.val_acc
    return TrialResult(
        trial=job.trial,
        status=STATUS_OK,
        val_acc=result.val_acc,
        best_val_acc=max(val_curve) if val_curve else None,
        train_acc=result.train_acc,
        iterations=result.iterations,
        seconds=result.seconds,
        iters_to_target=None if timer is None else timer.iterations,
        seconds_to_target=None if timer is None else timer.seconds,
    )


@contextlib.contextmanager
def blas_threads(count: int) -> Iterator[None]:
    """Set the BLAS thread variables to ``count`` for processes started inside the block.

    This process's BLAS was configured when it imported NumPy and does not change.
    """
    saved = {name: os.environ.get(name) for name in BLAS_THREAD_VARIABLES}
    os.environ.update({name: str(count) for name in BLAS_THREAD_VARIABLES})
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _shared_folder() -> str | None:
    shm = Path("/dev/shm")
    return str(shm) if shm.is_dir() and os.access(shm, os.W_OK) else None


@contextlib.contextmanager
def shared_split(split: DataSplit) -> Iterator[Path]:
    """Write the split's six arrays as ``.npy`` files for workers to map; remove them after.

    Yields
    ------
    The folder holding ``X_train.npy`` ... ``y_test.npy``.
    """
    folder = Path(tempfile.mkdtemp(prefix="minigrad-tune-", dir=_shared_folder()))
    try:
        for name in SPLIT_ARRAYS:
            np.save(folder / f"{name}.npy", np.ascontiguousarray(getattr(split, name)))
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _init_worker(folder: str) -> None:
    """Worker start-up: map the shared split; leave Ctrl-C to the parent."""
    global _WORKER_SPLIT
    # The parent handles Ctrl-C (it records what finished and stops the workers).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # np.asarray drops the memmap subclass: plain ndarrays over the same read-only pages.
    _WORKER_SPLIT = SimpleNamespace(**{
        name: np.asarray(np.load(Path(folder) / f"{name}.npy", mmap_mode="r"))
        for name in SPLIT_ARRAYS
    })


def _stop_now(pool: ProcessPoolExecutor) -> None:
    """Cancel queued trials and end the running ones (after Ctrl-C or an error)."""
    pool.shutdown(wait=False, cancel_futures=True)
    terminate = getattr(pool, "terminate_workers", None)  # Python 3.14+
    if terminate is not None:
        terminate()
        return
    # Before 3.14 the pool has no public way to end busy workers.
    for process in list(getattr(pool, "_processes", {}).values()):
        process.terminate()


@contextlib.contextmanager
def worker_pool(workers: int, split: DataSplit) -> Iterator[ProcessPoolExecutor]:
    """A pool of ``workers`` spawned processes with single-threaded BLAS sharing ``split``.

    On leaving the block normally the pool finishes its queue; on an exception (Ctrl-C)
    queued trials are cancelled and running ones ended at once.
    """
    # Workers spawn lazily, so the variables stay set for the pool's whole life.
    with blas_threads(1), shared_split(split) as folder:
        pool = ProcessPoolExecutor(
            max_workers=workers, mp_context=get_context("spawn"),
            initializer=_init_worker, initargs=(os.fspath(folder),),
        )
        try:
            yield pool
        except BaseException:
            _stop_now(pool)
            raise
        pool.shutdown(wait=True)
