"""One training run written into a new run folder, and what came of it.

:func:`train_into_folder` is what ``minigrad train`` does once the data is loaded (and
what ``minigrad tune`` does to keep its best trial): train, save, measure, and return a
:class:`RunOutcome` whose ``status`` says whether the run finished; front ends turn that
status into an exit code and print :meth:`RunOutcome.summary`.

Ctrl-C during training leaves a consistent folder: weights.npz holds the weights with the
best validation accuracy so far (saved at every improvement), history.csv the curves so
far, and metrics.json (status "interrupted") the accuracies of exactly those weights. A
finished run saves the final weights, as the workbook reports the final net. If training
diverges (NaN loss) :class:`~minigrad.training.trainer.DivergenceError` propagates and the
folder keeps config.json and the best weights so far, without metrics.json.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from minigrad.data.normalize import Normalization
from minigrad.experiment.config import TrainConfig
from minigrad.experiment.input_pipeline import (
    RunData,
    check_run_data,
    input_normalization,
    input_width,
)
from minigrad.experiment.job import (
    Accuracies,
    TrainingInterrupted,
    check_training_memory,
    evaluate_model,
    run_training,
)
from minigrad.experiment.progress import EvaluationNotice, ProgressBar
from minigrad.experiment.run_folder import (
    STATUS_COMPLETE,
    STATUS_INTERRUPTED,
    claim_new_run_folder,
    claim_run_folder,
    run_metrics,
    timing_record,
    write_config,
    write_results,
    write_weights,
)
from minigrad.files.folder_lock import FolderLock
from minigrad.files.output_paths import printable_path
from minigrad.training.callbacks import Callback
from minigrad.training.keep_best import KeepBest

__all__ = [
    "DEFAULT_RUNS_FOLDER",
    "RunOutcome",
    "claim_default_run_dir",
    "default_run_dir",
    "default_run_stem",
    "train_into_folder",
]

DEFAULT_RUNS_FOLDER = Path("runs")


def default_run_stem(name: str, seed: int) -> str:
    """``<YYYYmmdd-HHMMSS>-<name>-seed<k>``: ``name`` is the preset or the kind of job."""
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{name}-seed{seed}"


def default_run_dir(name: str, seed: int, parent: Path = DEFAULT_RUNS_FOLDER) -> Path:
    """``runs/<YYYYmmdd-HHMMSS>-<name>-seed<k>``, with ``-2``, ``-3``... if taken now.

    Only a suggestion: another process may take the name before it is created. To get
    a folder of one's own, use :func:`claim_default_run_dir`.
    """
    stem = default_run_stem(name, seed)
    candidate, number = parent / stem, 1
    while candidate.exists():
        number += 1
        candidate = parent / f"{stem}-{number}"
    return candidate


def claim_default_run_dir(
    name: str, seed: int, parent: Path = DEFAULT_RUNS_FOLDER
) -> FolderLock:
    """Create and lock ``runs/<YYYYmmdd-HHMMSS>-<name>-seed<k>`` (``-2``, ``-3`` ... if taken).

    The folder is made with an exclusive ``mkdir``, so two processes started in the same
    second get two folders. Release the returned lock (``lock.folder`` is the folder) when
    done; :func:`train_into_folder` may be given ``lock.folder`` and claims it again.
    """
    return claim_new_run_folder(parent, default_run_stem(name, seed))


@dataclass(frozen=True)
class RunOutcome:
    """What :func:`train_into_folder` left in its run folder (picklable).

    Attributes
    ----------
    run_dir : the run folder.
    status : ``STATUS_COMPLETE`` or ``STATUS_INTERRUPTED``, as in metrics.json.
    accuracies : of the weights saved in weights.npz.
    weights : which weights were saved: ``"final"``, ``"best_validation"`` or ``"last"``
        (interrupted before any epoch with validation data ended).
    iterations : iterations run.
    seconds : wall time of the training iterations.
    """

    run_dir: Path
    status: str
    accuracies: Accuracies
    weights: str
    iterations: int
    seconds: float

    @property
    def interrupted(self) -> bool:
        """Whether Ctrl-C ended the run before its last iteration."""
        return self.status == STATUS_INTERRUPTED

    def summary(self) -> str:
        """The run in a few lines: the accuracies, the wall time and the folder."""
        measured = self.accuracies
        if not self.interrupted:
            return (
                f"validation accuracy: {measured.val:.4f}\n"
                f"test accuracy: {measured.test:.4f}\n"
                f"training accuracy: {measured.train:.4f}\n"
                f"wall time: {self.seconds:.1f} s ({self.iterations} iterations)\n"
                f"run folder: {printable_path(self.run_dir)}"
            )
        saved = (
            "the weights with the best validation accuracy so far"
            if self.weights == "best_validation"
            else "the last weights (no epoch had ended)"
        )
        return (
            f"interrupted after {self.iterations} iterations; saved {saved}: "
            f"validation accuracy {measured.val:.4f}, test accuracy {measured.test:.4f}\n"
            f"run folder: {printable_path(self.run_dir)}"
        )


def _save_interrupted(
    stop: TrainingInterrupted,
    keeper: KeepBest,
    config: TrainConfig,
    split: RunData,
    normalization: Normalization,
    run_dir: Path,
) -> RunOutcome:
    """Write the folder of an interrupted run around the best weights so far."""
    model = stop.model
    if keeper.has_best:
        keeper.restore(model)
        weights, weights_iteration = "best_validation", keeper.best_iteration
    else:  # interrupted before the first epoch ended: keep the weights as they are
        weights, weights_iteration = "last", (stop.iterations - 1 if stop.iterations else None)
    measured = evaluate_model(model, split, config, normalization)
    write_results(
        run_dir,
        config=config,
        params=model.state_dict(),
        mean_image=normalization.mean,
        input_std=normalization.std,
        history=stop.history,
        metrics=run_metrics(
            status=STATUS_INTERRUPTED, accuracies=measured, config=config,
            iterations=stop.iterations, epochs=len(stop.history.epoch_iterations),
            weights=weights, weights_iteration=weights_iteration,
        ),
        timing=timing_record(stop.seconds, stop.iterations),
        model_summary=model.summary(),
    )
    return RunOutcome(run_dir, STATUS_INTERRUPTED, measured, weights, stop.iterations,
                      stop.seconds)


def train_into_folder(
    config: TrainConfig,
    split: RunData,
    run_dir: Path,
    *,
    callbacks: Iterable[Callback] = (),
    progress: bool | None = None,
) -> RunOutcome:
    """Train ``config`` on ``split`` and write run folder ``run_dir`` (see the module docstring).

    Parameters
    ----------
    config : the settings.
    split : what ``config`` trains on (:func:`~minigrad.experiment.input_pipeline.load_run_data`):
        CIFAR-10 rows (N, 3072) in ``config.dtype`` with the mean image (3072,) that was
        subtracted from them, or uint8 images for the image pipeline. weights.npz keeps the
        input statistics, so new images can be converted the same way.
    run_dir : the run folder (created if needed; must not hold files). It is locked while
        the run writes it: another process gets ``FolderInUseError``. This process may
        already hold it (e.g. from :func:`claim_default_run_dir`).
    callbacks : extra training callbacks (e.g. early stopping; tests inject a Ctrl-C).
    progress : show a progress bar on stderr (None: only on a terminal).

    Returns
    -------
    RunOutcome with status ``"complete"``, or ``"interrupted"`` after Ctrl-C (the folder is
    then complete too, around the best weights so far).

    Raises
    ------
    ValueError : ``split`` has no mean image.
    ConfigError : the net and a minibatch would not fit in memory (nothing is written).
    RunFolderError : ``run_dir`` exists and is not an empty folder, or cannot be created.
    minigrad.files.folder_lock.FolderInUseError : another process is writing into it.
    DivergenceError : the loss became NaN or inf.
    """
    data = check_run_data(config, split)
    normalization = input_normalization(config, data)  # ValueError: rows without a mean
    check_training_memory(config, input_width(data), include_data=False)
    with claim_run_folder(run_dir):  # no other process writes here until the run is saved
        return _train_and_save(config, data, normalization, Path(run_dir), callbacks, progress)


def _train_and_save(
    config: TrainConfig,
    split: RunData,
    normalization: Normalization,
    run_dir: Path,
    callbacks: Iterable[Callback],
    progress: bool | None,
) -> RunOutcome:
    write_config(run_dir, config)

    def save_best(keeper: KeepBest) -> None:
        # Saved at every improvement, so a killed run still leaves its best weights.
        assert keeper.best_state is not None
        write_weights(run_dir, keeper.best_state, normalization.mean, normalization.std)

    keeper = KeepBest(on_improve=save_best)
    bar = ProgressBar(config.num_iters, enabled=progress)
    rows = config.num_training + config.num_validation + config.num_test
    notice = EvaluationNotice(rows, enabled=bar.enabled)
    try:
        result = run_training(config, split, [bar, notice, keeper, *callbacks],
                              normalization=normalization)
    except TrainingInterrupted as stop:
        bar.close()
        return _save_interrupted(stop, keeper, config, split, normalization, run_dir)
    finally:
        bar.close()
    measured = Accuracies(train=result.train_acc, val=result.val_acc, test=result.test_acc)
    write_results(
        run_dir,
        config=config,
        params=result.model.state_dict(),
        mean_image=normalization.mean,
        input_std=normalization.std,
        history=result.history,
        metrics=run_metrics(
            status=STATUS_COMPLETE, accuracies=measured, config=config,
            iterations=result.iterations, epochs=len(result.history.epoch_iterations),
            weights="final", weights_iteration=result.iterations - 1,
        ),
        timing=timing_record(result.seconds, result.iterations),
        model_summary=result.model.summary(),
    )
    return RunOutcome(run_dir, STATUS_COMPLETE, measured, "final", result.iterations,
                      result.seconds)
