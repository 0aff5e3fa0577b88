"""A search's best trial retrained into a run folder, like the one ``minigrad train`` writes.

The retrained net is the trial's net: the same seeded :class:`TrainConfig`, the same
callbacks (early stopping with the search's patience) and, when the search ran in worker
processes, a worker like the trials' (one BLAS thread, the shared data), so its accuracy
is the one in the trial's row of ``trials.csv``.

The retrain is atomic: it writes ``.best-trial-<id>.partial`` and renames it to
``best-trial-<id>`` once complete, so the search folder holds a complete run folder of the
best trial or none. An interrupted retrain is thrown away (and one a kill left is removed
at the next start), and ``--resume`` does it again.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import replace
from pathlib import Path

from minigrad.data import Cifar10Split
from minigrad.experiment.job import Accuracies
from minigrad.experiment.run_folder import run_finished
from minigrad.experiment.training_run import RunOutcome, train_into_folder
from minigrad.training.early_stopping import EarlyStopping
from minigrad.tune.results import TrialResult
from minigrad.tune.search import PARTIAL_SUFFIX
from minigrad.tune.search_data import SearchData
from minigrad.tune.settings import SearchSettings
from minigrad.tune.shared_data import SharedSplit
from minigrad.tune.space import Trial, TuneError
from minigrad.tune.workers import WorkerGroup, describe_exit, read_output

__all__ = ["RetrainInterrupted", "best_trial_dir", "retrain_best_trial"]


class RetrainInterrupted(KeyboardInterrupt):
    """The best trial's retrain was interrupted; nothing of it was kept."""


def best_trial_dir(folder: str | os.PathLike[str], trial: Trial) -> Path:
    """The run folder of ``trial`` inside search folder ``folder``: ``best-trial-<id>``."""
    return Path(folder) / f"best-trial-{trial.trial_id:04d}"


def _in_worker(config_dict: dict[str, object], patience: int | None, partial: Path,
               split: SearchData, shared: SharedSplit | None) -> RunOutcome:
    own = shared or SharedSplit(split)
    try:
        spec = {"mode": "retrain", "data": own.spec,
                "retrain": {"config": config_dict, "patience": patience,
                            "run_dir": os.fspath(partial)}}
        with WorkerGroup(spec, own.fds, capture_output=True) as group:
            worker = group.start()
            code = worker.process.wait()
            output = read_output(worker)
    finally:
        if shared is None:
            own.close()
    if code != 0:
        raise TuneError(f"retraining the best trial failed: its process ended with "
                        f"{describe_exit(code)}")
    record = json.loads(output.strip().splitlines()[-1])
    return RunOutcome(
        partial, str(record["status"]),
        Accuracies(train=record["train"], val=record["val"], test=record["test"]),
        str(record["weights"]), int(record["iterations"]), float(record["seconds"]),
    )


def retrain_best_trial(
    best: TrialResult,
    settings: SearchSettings,
    split: SearchData | Cifar10Split,
    folder: str | os.PathLike[str],
    *,
    workers: int = 1,
    progress: bool | None = None,
    shared: SharedSplit | None = None,
) -> RunOutcome | None:
    """Retrain ``best`` on ``split`` into ``folder``'s :func:`best_trial_dir`, atomically.

    Parameters
    ----------
    best : the trial to retrain (e.g. ``best_result(results)``).
    settings : the search it came from (its space and patience).
    split : the search's data (a :class:`SearchData`, or rows (N, 3072) with their mean
        image).
    folder : the search folder.
    workers : the search's worker count: above 1, the run happens in a worker process,
        as the trial did (the same numbers); 1 trains here.
    progress : show a progress bar (None: only on a terminal; never in a worker).
    shared : the data already shared with worker processes, with the mean image.

    Returns
    -------
    The finished run, in its run folder; None if that folder was complete already.

    Raises
    ------
    RetrainInterrupted : Ctrl-C (or a stop signal): no run folder is left.
    """
    final = best_trial_dir(folder, best.trial)
    if run_finished(final):
        return None
    partial = final.with_name(f".{final.name}{PARTIAL_SUFFIX}")
    shutil.rmtree(partial, ignore_errors=True)
    data = SearchData.of(split)
    config = best.trial.train_config(settings.space, **data.sizes)
    outcome: RunOutcome | None = None
    try:
        if workers == 1:
            callbacks = [] if settings.patience is None else [EarlyStopping(settings.patience)]
            outcome = train_into_folder(config, data.for_config(config), partial,
                                        callbacks=callbacks,
                                        progress=progress)
        else:
            outcome = _in_worker(config.to_dict(), settings.patience, partial, data, shared)
    finally:
        if outcome is None or outcome.interrupted:
            shutil.rmtree(partial, ignore_errors=True)
    if outcome.interrupted:
        raise RetrainInterrupted(f"the retrain of trial {best.trial.trial_id} was interrupted")
    if final.exists():  # a folder an older minigrad left unfinished
        shutil.rmtree(final)
    os.replace(partial, final)
    return replace(outcome, run_dir=final)
