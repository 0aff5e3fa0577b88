"""A saved run measured again: reload its weights and score them on CIFAR-10.

The raw images are converted with the statistics stored in weights.npz (the mean image, or
per-channel means and standard deviations) the way the run converted them, so the numbers
are those of the saved model on whatever data is given; on the data the run was trained on
they equal metrics.json exactly (:meth:`RunEvaluation.mismatches` is then empty).
"""

from __future__ import annotations

import os
from dataclasses import replace
from typing import Any, NamedTuple

import numpy as np

from minigrad.experiment.input_pipeline import load_run_data
from minigrad.experiment.job import Accuracies, evaluate_model, load_split
from minigrad.experiment.run_folder import LoadedRun, load_run

__all__ = ["METRICS_KEYS", "RunEvaluation", "evaluate_run"]

METRICS_KEYS = {"val": "val_acc", "test": "test_acc", "train": "train_acc"}
"""The metrics.json key of each :class:`Accuracies` field."""


class RunEvaluation(NamedTuple):
    """A loaded run and the accuracies its weights score now.

    Attributes
    ----------
    run : the run folder read back (config, model, metrics.json, mean image).
    accuracies : of its weights on the data given to :func:`evaluate_run`.
    """

    run: LoadedRun
    accuracies: Accuracies

    def mismatches(self) -> dict[str, tuple[Any, float]]:
        """``{split: (in metrics.json, measured now)}`` for every accuracy that differs."""
        found = {}
        for split, key in METRICS_KEYS.items():
            recorded, measured = self.run.metrics.get(key), getattr(self.accuracies, split)
            if recorded != measured:
                found[split] = (recorded, measured)
        return found


def evaluate_run(
    run_dir: str | os.PathLike[str], data_dir: str | os.PathLike[str] | None = None
) -> RunEvaluation:
    """Load a run folder and measure its weights on the run's CIFAR-10 splits.

    Parameters
    ----------
    run_dir : a folder written by ``minigrad train``.
    data_dir : the CIFAR-10 batches (None: as ``minigrad.data.find_cifar10`` finds them).

    Raises
    ------
    RunFolderError : the run folder is missing, unfinished or corrupt.
    ConfigError : the run's split sizes do not fit this data.
    """
    loaded = load_run(run_dir)
    config = loaded.config
    if config.uses_image_pipeline:
        # Converted a chunk at a time, as in training: the same rows, bit for bit.
        images = load_run_data(config, data_dir)
        return RunEvaluation(
            loaded, evaluate_model(loaded.model, images, config, loaded.normalization)
        )
    raw = load_split(
        config.num_training, config.num_validation, config.num_test,
        root=data_dir, dtype=np.uint8, subtract_mean=False,
    )
    split = replace(
        raw,
        X_train=loaded.preprocess(raw.X_train),
        X_val=loaded.preprocess(raw.X_val),
        X_test=loaded.preprocess(raw.X_test),
        mean_image=loaded.mean_image,
    )
    return RunEvaluation(loaded, evaluate_model(loaded.model, split))
