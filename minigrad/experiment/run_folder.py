"""A run folder: everything one training run leaves on disk, and reading it back.

Layout (every file written atomically)::

    config.json    the TrainConfig (TrainConfig.to_dict)
    weights.npz    the model's state_dict() by name ("0.W", "0.b", "2.W", "2.b") and
                   "mean_image" (3072,), float64, subtracted from raw pixels before the
                   net sees them; plain arrays, np.load(..., allow_pickle=False) works
    history.csv    iteration,loss,epoch,train_acc,val_acc: one row per iteration; the
                   last three are filled on the iterations that closed an epoch and
                   empty elsewhere (train_acc is the minibatch accuracy, as in the
                   workbook; val_acc is empty without validation data)
    metrics.json   what weights.npz scores and where it came from (see run_metrics);
                   only deterministic values, so equal runs write identical bytes
    timing.json    wall time and peak memory (differ between identical runs)
    loss.png, accuracy.png, weights.png, report.md (shows the three PNGs and metrics)

metrics.json is written last: a folder without it holds a run that is still going or
was killed (weights.npz then holds the best weights so far, if any).
"""

from __future__ import annotations

import csv
import io
import json
import os
import sys
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from minigrad.evaluation import predict_labels
from minigrad.experiment.config import ConfigError, TrainConfig
from minigrad.experiment.job import Accuracies, build_model
from minigrad.experiment.plots import (
    plot_accuracy_history,
    plot_first_layer_weights,
    plot_loss_history,
)
from minigrad.files.atomic import write_json_atomic, write_npz_atomic, write_text_atomic
from minigrad.initializers import zeros
from minigrad.sequential import Sequential
from minigrad.training.history import History
from minigrad.validation import check_real, count_non_finite

__all__ = [
    "ACCURACY_PNG",
    "CONFIG_FILE",
    "HISTORY_FILE",
    "LOSS_PNG",
    "MEAN_IMAGE_KEY",
    "METRICS_FILE",
    "REPORT_FILE",
    "STATUS_COMPLETE",
    "STATUS_INTERRUPTED",
    "TIMING_FILE",
    "WEIGHTS_FILE",
    "WEIGHTS_PNG",
    "LoadedRun",
    "RunFolderError",
    "center_rows",
    "check_run_folder_free",
    "history_csv",
    "history_from_csv",
    "load_run",
    "peak_rss_mb",
    "prepare_run_folder",
    "read_config",
    "read_metrics",
    "read_weights",
    "report_markdown",
    "run_finished",
    "run_metrics",
    "timing_record",
    "write_config",
    "write_results",
    "write_weights",
]

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "weights.npz"
HISTORY_FILE = "history.csv"
METRICS_FILE = "metrics.json"
TIMING_FILE = "timing.json"
LOSS_PNG = "loss.png"
ACCURACY_PNG = "accuracy.png"
WEIGHTS_PNG = "weights.png"
REPORT_FILE = "report.md"
MEAN_IMAGE_KEY = "mean_image"
_ZIP_MAGIC = b"PK\x03\x04"  # an .npz is a zip archive
HISTORY_COLUMNS = ("iteration", "loss", "epoch", "train_acc", "val_acc")

STATUS_COMPLETE = "complete"
STATUS_INTERRUPTED = "interrupted"

PathLike = str | os.PathLike[str]


class RunFolderError(ValueError):
    """A run folder is missing, incomplete or corrupt; the message names the file."""


# ---------------------------------------------------------------- pure formatting


def history_csv(history: History) -> str:
    """The history as CSV text (see the module docstring for the columns).

    Floats are written with ``repr``, so they read back exactly.
    """
    epochs = {it: epoch for epoch, it in enumerate(history.epoch_iterations)}
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(HISTORY_COLUMNS)
    for iteration, loss in enumerate(history.loss):
        epoch = epochs.get(iteration)
        if epoch is None:
            writer.writerow((iteration, repr(float(loss)), "", "", ""))
            continue
        val = history.val_acc[epoch] if epoch < len(history.val_acc) else None
        writer.writerow((
            iteration, repr(float(loss)), epoch, repr(float(history.train_acc[epoch])),
            "" if val is None else repr(float(val)),
        ))
    return out.getvalue()


def history_from_csv(text: str) -> History:
    """Inverse of :func:`history_csv`."""
    rows = list(csv.reader(io.StringIO(text)))
    if not rows or tuple(rows[0]) != HISTORY_COLUMNS:
        raise RunFolderError(f"{HISTORY_FILE}: the header must be {','.join(HISTORY_COLUMNS)}")
    history = History()
    for number, row in enumerate(rows[1:], start=2):
        try:
            iteration, loss, epoch, train_acc, val_acc = row
            if int(iteration) != len(history.loss):
                raise ValueError(f"iteration {iteration} out of order")
            history.loss.append(float(loss))
            if epoch:
                history.epoch_iterations.append(int(iteration))
                history.train_acc.append(float(train_acc))
                if val_acc:
                    history.val_acc.append(float(val_acc))
        except ValueError as exc:
            raise RunFolderError(f"{HISTORY_FILE}, line {number}: {exc}") from None
    return history


def run_metrics(
    *,
    status: str,
    accuracies: Accuracies,
    config: TrainConfig,
    iterations: int,
    epochs: int,
    weights: str,
    weights_iteration: int | None,
) -> dict[str, Any]:
    """The contents of metrics.json.

    Parameters
    ----------
    status : ``"complete"`` or ``"interrupted"``.
    accuracies : of the weights saved in weights.npz.
    iterations, epochs : how many were run.
    weights : which weights were saved: ``"final"``, ``"best_validation"`` (the epoch
        end with the best validation accuracy so far) or ``"last"`` (interrupted before
        any epoch ended).
    weights_iteration : the iteration after which those weights were taken.
    """
    return {
        "status": status,
        "val_acc": accuracies.val,
        "test_acc": accuracies.test,
        "train_acc": accuracies.train,
        "iterations": iterations,
        "epochs": epochs,
        "weights": weights,
        "weights_iteration": weights_iteration,
        "dtype": config.dtype,
        "seed": config.seed,
    }


def peak_rss_mb() -> float | None:
    """This process's peak resident memory in MB, or None where ``resource`` is missing."""
    try:
        import resource
    except ImportError:  # Windows
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports KiB, macOS bytes.
    return round(peak / (2**20 if sys.platform == "darwin" else 2**10), 1)


def timing_record(seconds: float, iterations: int) -> dict[str, Any]:
    """The contents of timing.json: wall time of training and peak memory."""
    return {
        "seconds": round(seconds, 3),
        "ms_per_iteration": round(1000 * seconds / iterations, 4) if iterations else None,
        "peak_rss_mb": peak_rss_mb(),
    }


def _table(header: tuple[str, str], rows: Mapping[str, Any]) -> str:
    lines = [f"| {header[0]} | {header[1]} |", "|---|---|"]
    lines += [f"| {key} | {value} |" for key, value in rows.items()]
    return "\n".join(lines)


def report_markdown(
    title: str, config: TrainConfig, metrics: Mapping[str, Any], timing: Mapping[str, Any]
) -> str:
    """report.md: the metrics, timing and config tables and the three plots."""

    def show(value: Any) -> str:
        return f"{value:.4f}" if isinstance(value, float) else str(value)

    accuracies = {
        "validation accuracy": show(metrics["val_acc"]),
        "test accuracy": show(metrics["test_acc"]),
        "training accuracy (whole split)": show(metrics["train_acc"]),
    }
    about = {key: metrics[key] for key in
             ("status", "iterations", "epochs", "weights", "weights_iteration", "dtype", "seed")}
    measured = {key: value for key, value in timing.items() if value is not None}
    return "\n\n".join([
        f"# {title}",
        "## Metrics (of the weights in weights.npz)",
        _table(("metric", "value"), {**accuracies, **about, **measured}),
        "## Training loss",
        f"![training loss]({LOSS_PNG})",
        "## Accuracy per epoch",
        f"![accuracy]({ACCURACY_PNG})",
        "## First-layer weights",
        f"![first-layer weights]({WEIGHTS_PNG})",
        "## Configuration",
        _table(("setting", "value"), config.to_dict()),
    ]) + "\n"


def center_rows(raw: np.ndarray, mean_image: np.ndarray, dtype: Any) -> np.ndarray:
    """Preprocess raw images for the net: flatten and subtract the training mean image.

    Parameters
    ----------
    raw : ndarray of shape (N, 32, 32, 3) or (N, 3072), raw pixel values (e.g. uint8).
    mean_image : ndarray of shape (3072,), float64, from weights.npz.
    dtype : the run's dtype.

    Returns
    -------
    ndarray of shape (N, 3072) in ``dtype``: the subtraction is done in float64 and
    rounded once, exactly as ``minigrad.data.get_cifar10_data`` prepares the rows it trains on.
    """
    flat = np.asarray(raw).reshape(len(raw), -1)
    if flat.shape[1] != mean_image.shape[0]:
        raise ValueError(
            f"images have {flat.shape[1]} values each, the mean image {mean_image.shape[0]}"
        )
    out = np.empty(flat.shape, dtype=dtype)
    np.subtract(flat, mean_image, out=out)
    return out


# ---------------------------------------------------------------- writing


def check_run_folder_free(run_dir: PathLike) -> Path:
    """Raise unless ``run_dir`` is absent or an empty folder (never overwrite a run)."""
    folder = Path(run_dir)
    if folder.exists() and not folder.is_dir():
        raise RunFolderError(f"run folder {folder} exists and is not a folder")
    if folder.is_dir() and any(folder.iterdir()):
        raise RunFolderError(
            f"run folder {folder} is not empty; choose a new --out to keep the old run"
        )
    return folder


def prepare_run_folder(run_dir: PathLike) -> Path:
    """Create ``run_dir`` (and its parents) after :func:`check_run_folder_free`."""
    folder = check_run_folder_free(run_dir)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def write_config(run_dir: PathLike, config: TrainConfig) -> Path:
    """Write config.json."""
    return write_json_atomic(Path(run_dir) / CONFIG_FILE, config.to_dict())


def write_weights(
    run_dir: PathLike, params: Mapping[str, np.ndarray], mean_image: np.ndarray
) -> Path:
    """Write weights.npz: ``params`` (a ``model.state_dict()``) plus the mean image (3072,)."""
    if MEAN_IMAGE_KEY in params:
        raise ValueError(f"a parameter may not be called {MEAN_IMAGE_KEY!r}")
    arrays = {**params, MEAN_IMAGE_KEY: np.asarray(mean_image, dtype=np.float64)}
    return write_npz_atomic(Path(run_dir) / WEIGHTS_FILE, arrays)


def write_results(
    run_dir: PathLike,
    *,
    config: TrainConfig,
    params: Mapping[str, np.ndarray],
    mean_image: np.ndarray,
    history: History,
    metrics: Mapping[str, Any],
    timing: Mapping[str, Any],
) -> Path:
    """Write everything but config.json; metrics.json last, as the commit record.

    ``params`` is the ``model.state_dict()`` written to weights.npz; ``metrics`` must
    describe those weights.
    """
    folder = Path(run_dir)
    write_weights(folder, params, mean_image)
    write_text_atomic(folder / HISTORY_FILE, history_csv(history))
    plot_loss_history(history.loss, folder / LOSS_PNG)
    plot_accuracy_history(history.train_acc, history.val_acc, folder / ACCURACY_PNG)
    plot_first_layer_weights(params["0.W"], folder / WEIGHTS_PNG)
    write_json_atomic(folder / TIMING_FILE, dict(timing))
    report = report_markdown(f"minigrad run {folder.name}", config, metrics, timing)
    write_text_atomic(folder / REPORT_FILE, report)
    write_json_atomic(folder / METRICS_FILE, dict(metrics))
    return folder


# ---------------------------------------------------------------- reading


def _existing_file(run_dir: PathLike, name: str, missing_hint: str = "") -> Path:
    folder = Path(run_dir)
    if not folder.is_dir():
        raise RunFolderError(f"run folder {folder} does not exist or is not a folder")
    path = folder / name
    if not path.is_file():
        raise RunFolderError(f"{path} is missing{missing_hint}")
    return path


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RunFolderError(f"{path} is not valid JSON: {exc}") from None


def run_finished(run_dir: PathLike) -> bool:
    """Whether ``run_dir`` holds metrics.json, the file a finished run writes last."""
    return (Path(run_dir) / METRICS_FILE).is_file()


def read_config(run_dir: PathLike) -> TrainConfig:
    """The TrainConfig of a run folder."""
    path = _existing_file(run_dir, CONFIG_FILE)
    try:
        return TrainConfig.from_dict(_read_json(path))
    except (ConfigError, TypeError) as exc:
        raise RunFolderError(f"{path}: {exc}") from None


def read_metrics(run_dir: PathLike) -> dict[str, Any]:
    """metrics.json of a finished (complete or interrupted) run."""
    path = _existing_file(
        run_dir, METRICS_FILE, " (the run has not finished: still running, or killed)"
    )
    metrics = _read_json(path)
    if not isinstance(metrics, dict):
        raise RunFolderError(f"{path} must hold a JSON object")
    return metrics


def read_weights(run_dir: PathLike) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The parameters by name and the mean image from weights.npz (no pickle)."""
    path = _existing_file(run_dir, WEIGHTS_FILE)
    with open(path, "rb") as file:
        # np.load would try anything that is not a zip file as a pickle.
        if file.read(4) != _ZIP_MAGIC:
            raise RunFolderError(f"{path} is corrupt or not an .npz file: no zip header")
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as exc:
        raise RunFolderError(f"{path} is corrupt or not an .npz file: {exc}") from None
    mean_image = arrays.pop(MEAN_IMAGE_KEY, None)
    if mean_image is None:
        raise RunFolderError(f"{path} has no {MEAN_IMAGE_KEY!r} array")
    if mean_image.ndim != 1 or mean_image.dtype.kind != "f" or count_non_finite(mean_image):
        raise RunFolderError(
            f"{path}: {MEAN_IMAGE_KEY!r} must be a finite 1-D float array, "
            f"got {mean_image.dtype} of shape {mean_image.shape}"
        )
    return arrays, mean_image


@dataclass(frozen=True)
class LoadedRun:
    """A run folder read back.

    Attributes
    ----------
    run_dir : the folder.
    config : its TrainConfig.
    model : the net rebuilt from the config, holding the saved weights.
    metrics : metrics.json (the accuracies of those weights).
    mean_image : ndarray of shape (3072,), float64, to subtract from new data.
    """

    run_dir: Path
    config: TrainConfig
    model: Sequential
    metrics: dict[str, Any]
    mean_image: np.ndarray

    def preprocess(self, raw: np.ndarray) -> np.ndarray:
        """Raw images (N, 32, 32, 3) or rows (N, 3072) -> the net's input rows (N, 3072)."""
        return center_rows(raw, self.mean_image, self.config.dtype)

    def predict(self, raw: np.ndarray) -> np.ndarray:
        """Predicted class (N,) of raw images (N, 32, 32, 3) or rows (N, 3072)."""
        return predict_labels(self.model.forward, self.preprocess(raw))


def load_run(run_dir: PathLike) -> LoadedRun:
    """Read a finished run folder and rebuild its model.

    Raises
    ------
    RunFolderError : the folder or a file is missing, or a file is corrupt, or the
        weights do not fit the config (names, shapes, dtypes, finiteness).
    """
    folder = Path(run_dir)
    config = read_config(folder)
    metrics = read_metrics(folder)
    arrays, mean_image = read_weights(folder)
    model = build_model(config, mean_image.shape[0], weight_init=zeros)
    try:
        model.load_state_dict(arrays)  # names, shapes, dtypes and finiteness checked first
    except ValueError as err:
        raise RunFolderError(
            f"{folder / WEIGHTS_FILE} does not fit the net of {CONFIG_FILE}: {err}"
        ) from None
    try:
        for key in ("val_acc", "test_acc", "train_acc"):
            check_real(metrics.get(key), key, low=0.0, high=1.0)
    except (TypeError, ValueError) as err:
        raise RunFolderError(f"{folder / METRICS_FILE}: {err}") from None
    return LoadedRun(folder, config, model, metrics, mean_image)
