"""A search's best trial retrained into a run folder, like the one ``minigrad train`` writes.

The retrained net is the trial's net: the same seeded :class:`TrainConfig`, the same
callbacks (early stopping with the search's patience) and, when the search ran in worker
processes, a worker like the trials' (one BLAS thread, the shared split), so its accuracy
is the one in the trial's row of ``trials.csv``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from minigrad.data import Cifar10Split
from minigrad.experiment.config import TrainConfig
from minigrad.experiment.training_run import RunOutcome, train_into_folder
from minigrad.training.early_stopping import EarlyStopping
from minigrad.tune.results import TrialResult
from minigrad.tune.search import SearchSettings, split_sizes
from minigrad.tune.space import Trial
from minigrad.tune.workers import worker_pool, worker_split

__all__ = ["best_trial_dir", "retrain_best_trial", "retrain_into_folder"]


def best_trial_dir(folder: str | os.PathLike[str], trial: Trial) -> Path:
    """The run folder of ``trial`` inside search folder ``folder``: ``best-trial-<id>``."""
    return Path(folder) / f"best-trial-{trial.trial_id:04d}"


def retrain_into_folder(
    config: TrainConfig,
    run_dir: Path,
    patience: int | None,
    progress: bool | None,
    split: Cifar10Split | None = None,
    mean_image: np.ndarray | None = None,
) -> RunOutcome:
    """Train ``config`` into run folder ``run_dir`` with the trial's callbacks.

    In a worker process (``split`` None) the data is the worker's shared split, plus
    ``mean_image`` (3072,), which the shared split does not carry.
    """
    if split is None:
        shared = worker_split()
        split = Cifar10Split(shared.X_train, shared.y_train, shared.X_val, shared.y_val,
                             shared.X_test, shared.y_test, mean_image)
    callbacks = [] if patience is None else [EarlyStopping(patience)]
    return train_into_folder(config, split, run_dir, callbacks=callbacks, progress=progress)


def retrain_best_trial(
    best: TrialResult,
    settings: SearchSettings,
    split: Cifar10Split,
    run_dir: Path,
    *,
    workers: int = 1,
    progress: bool | None = None,
) -> RunOutcome:
    """Retrain ``best`` on ``split`` into ``run_dir`` (e.g. :func:`best_trial_dir`).

    Parameters
    ----------
    best : the trial to retrain (e.g. ``best_result(results)``).
    settings : the search it came from (its space and patience).
    split : the search's data, rows (N, 3072) with their mean image.
    run_dir : the run folder to create.
    workers : the search's worker count: above 1, the run happens in one worker process,
        as the trial did (the same numbers, and no BLAS threads oversubscribing this
        process); 1 trains here.
    progress : show a progress bar (None: only on a terminal; never in a worker).
    """
    config = best.trial.train_config(settings.space, **split_sizes(split))
    if workers == 1:
        return retrain_into_folder(config, run_dir, settings.patience, progress, split)
    with worker_pool(1, split) as pool:
        return pool.submit(
            retrain_into_folder, config, run_dir, settings.patience, False, None,
            split.mean_image,
        ).result()
