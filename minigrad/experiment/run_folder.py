"""A run folder: everything one training run leaves on disk, and reading it back.

Layout (every file written atomically)::

    config.json    the TrainConfig (TrainConfig.to_dict), the architecture included
                   (hidden_dims, normalization, dropout, activation, loss, weight_init)
    weights.npz    the model's state_dict() by name: parameters and buffers, e.g. "0.W",
                   "0.b", "2.W", "2.b" for the workbook's net, "1.running_mean" for a
                   batch norm; and "mean_image" (3072,), float64, subtracted from raw
                   pixels before the net sees them (per-channel normalisation: the
                   channel means repeated over the pixels), and with per-channel
                   normalisation "input_std" (3072,), float64, that the centred pixels
                   are divided by; plain arrays, np.load(..., allow_pickle=False) works
    history.csv    iteration,loss,epoch,train_acc,val_acc: one row per iteration; the
                   last three are filled on the iterations that closed an epoch and
                   empty elsewhere (train_acc is the minibatch accuracy, as in the
                   workbook; val_acc is empty without validation data)
    metrics.json   what weights.npz scores and where it came from (see run_metrics);
                   only deterministic values, so equal runs write identical bytes
    timing.json    wall time and peak memory (differ between identical runs)
    loss.png, accuracy.png, weights.png (the first affine layer's weights as images)
    report.md      the metrics, the three PNGs, the model summary and the config

metrics.json is written last: a folder without it holds a run that is still going or
was killed (weights.npz then holds the best weights so far, if any).
"""

from __future__ import annotations

import csv
import io
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from minigrad.data.cifar10 import IMAGE_SHAPE
from minigrad.data.normalize import Normalization
from minigrad.evaluation import predict_labels
from minigrad.experiment.config import MAX_HIDDEN_LAYERS, ConfigError, TrainConfig
from minigrad.experiment.job import (
    CIFAR10_ROW_WIDTH,
    Accuracies,
    build_model,
    memory_option_label,
    net_state_sizes,
)
from minigrad.experiment.plots import (
    plot_accuracy_history,
    plot_first_layer_weights,
    plot_loss_history,
)
from minigrad.files.atomic import write_json_atomic, write_npz_atomic, write_text_atomic
from minigrad.files.bounded_json import read_json_object
from minigrad.files.bounded_read import UnreadableFileError, format_bytes, read_text_bounded
from minigrad.files.checked_npz import ArraySpec, open_npz
from minigrad.files.folder_lock import LOCK_FILE, FolderLock, lock_folder
from minigrad.files.memory import available_memory
from minigrad.files.output_paths import (
    check_output_path,
    make_folder,
    make_unique_folder,
    printable_path,
)
from minigrad.initializers import zeros
from minigrad.sequential import Sequential
from minigrad.training.history import History
from minigrad.validation import check_features, check_real, count_non_finite

__all__ = [
    "ACCURACY_PNG",
    "CONFIG_FILE",
    "HISTORY_FILE",
    "LOSS_PNG",
    "INPUT_STD_KEY",
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
    "check_raw_images",
    "check_run_folder_free",
    "claim_new_run_folder",
    "claim_run_folder",
    "history_csv",
    "history_from_csv",
    "load_run",
    "peak_rss_mb",
    "prepare_run_folder",
    "read_config",
    "read_history",
    "read_metrics",
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
INPUT_STD_KEY = "input_std"
HISTORY_COLUMNS = ("iteration", "loss", "epoch", "train_acc", "val_acc")

STATUS_COMPLETE = "complete"
STATUS_INTERRUPTED = "interrupted"

MAX_JSON_BYTES = 1 << 20  # config.json and metrics.json are a few hundred bytes
MAX_HISTORY_BYTES = 1 << 30  # about 20 million iterations
MAX_INPUT_WIDTH = 1 << 24  # features per row the mean image may declare
# Arrays in weights.npz: at most 6 per hidden layer (W, b, gamma, beta, running mean and
# variance), the output layer's 2, the mean image and the input std.
MAX_WEIGHT_MEMBERS = 6 * MAX_HIDDEN_LAYERS + 4
WEIGHTS_PNG_UNITS = 256
"""weights.png shows at most this many first-layer units (the first ones), a 16 x 16 grid."""

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
    try:
        rows = list(csv.reader(io.StringIO(text)))
    except csv.Error as exc:  # a NUL byte, a field beyond csv's size limit
        raise RunFolderError(f"{HISTORY_FILE} is not a CSV file: {exc}") from None
    if not rows or tuple(rows[0]) != HISTORY_COLUMNS:
        raise RunFolderError(f"{HISTORY_FILE}: the header must be {','.join(HISTORY_COLUMNS)}")
    history = History()
    for number, row in enumerate(rows[1:], start=2):
        try:
            if len(row) != len(HISTORY_COLUMNS):
                raise ValueError(f"{len(row)} cells, expected {len(HISTORY_COLUMNS)}")
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


def _weights_caption(first_layer_units: int | None) -> str:
    if first_layer_units is None or first_layer_units <= WEIGHTS_PNG_UNITS:
        return "![first-layer weights]"
    return (f"The first {WEIGHTS_PNG_UNITS} of the {first_layer_units} units.\n\n"
            "![first-layer weights]")


def report_markdown(
    title: str,
    config: TrainConfig,
    metrics: Mapping[str, Any],
    timing: Mapping[str, Any],
    model_summary: str | None = None,
    first_layer_units: int | None = None,
) -> str:
    """report.md: the metrics and timing table, the three plots, the model and the config.

    ``model_summary`` is ``model.summary()`` (shown in a code block); ``first_layer_units``,
    the first layer's output width, says whether weights.png shows all of its units.
    """

    def show(value: Any) -> str:
        return f"{value:.4f}" if isinstance(value, float) else str(value)

    accuracies = {
        "validation accuracy": show(metrics["val_acc"]),
        "test accuracy": show(metrics["test_acc"]),
        "training accuracy (whole split)": show(metrics["train_acc"]),
    }
    config_rows = config.to_dict()
    config_rows["hidden_dims"] = " ".join(map(str, config.hidden_dims)) or "(none)"
    model = [] if model_summary is None else ["## Model", f"```\n{model_summary}\n```"]
    about = {key: metrics[key] for key in
             ("status", "iterations", "epochs", "weights", "weights_iteration", "dtype", "seed")}
    measured = {key: value for key, value in timing.items() if value is not None}
    return "\n\n".join([
        f"# {printable_path(title)}",  # a folder name may hold bytes that are not UTF-8
        "## Metrics (of the weights in weights.npz)",
        _table(("metric", "value"), {**accuracies, **about, **measured}),
        "## Training loss",
        f"![training loss]({LOSS_PNG})",
        "## Accuracy per epoch",
        f"![accuracy]({ACCURACY_PNG})",
        "## First-layer weights",
        f"{_weights_caption(first_layer_units)}({WEIGHTS_PNG})",
        *model,
        "## Configuration",
        _table(("setting", "value"), config_rows),
    ]) + "\n"


def check_raw_images(raw: object, width: int, name: str = "images") -> np.ndarray:
    """``raw`` as rows (N, width) after checking it can be centred and scored.

    Parameters
    ----------
    raw : ndarray of shape (N, 32, 32, 3) (when ``width`` is 3072) or (N, width), real
        numbers, finite, N >= 1.
    width : features per row the net expects.
    name : how the messages call it.

    Raises
    ------
    TypeError : not an ndarray, or not real numbers (strings, objects, bools, complex).
    ValueError : another shape, an empty batch, or NaN / inf values.
    """
    if not isinstance(raw, np.ndarray):
        raise TypeError(f"{name} must be a numpy array, got {type(raw).__name__}")
    if raw.dtype.kind not in "uif":
        raise TypeError(f"{name} must hold real numbers (pixel values), got dtype {raw.dtype}")
    as_images = width == CIFAR10_ROW_WIDTH and raw.shape[1:] == IMAGE_SHAPE
    if not (as_images or (raw.ndim == 2 and raw.shape[1] == width)):
        expected = f"(N, {width})"
        if width == CIFAR10_ROW_WIDTH:
            expected = f"(N, {', '.join(map(str, IMAGE_SHAPE))}) or {expected}"
        raise ValueError(f"{name} must have shape {expected}, got {raw.shape}")
    return check_features(raw.reshape(len(raw), width), width, name=name)


def center_rows(raw: np.ndarray, mean_image: np.ndarray, dtype: Any) -> np.ndarray:
    """Preprocess raw images for the net: flatten and subtract the training mean image.

    Parameters
    ----------
    raw : ndarray of shape (N, 32, 32, 3) or (N, 3072), raw pixel values (e.g. uint8),
        finite, N >= 1 (checked by :func:`check_raw_images`).
    mean_image : ndarray of shape (3072,), float64, from weights.npz.
    dtype : the run's dtype.

    Returns
    -------
    ndarray of shape (N, 3072) in ``dtype``: the subtraction is done in float64 and
    rounded once, exactly as ``minigrad.data.get_cifar10_data`` prepares the rows it trains on.
    """
    flat = check_raw_images(raw, mean_image.shape[0])
    out = np.empty(flat.shape, dtype=dtype)
    np.subtract(flat, mean_image, out=out)
    return out


# ---------------------------------------------------------------- writing


def _entries_besides_lock(folder: Path) -> list[str]:
    return [entry.name for entry in folder.iterdir() if entry.name != LOCK_FILE]


def check_run_folder_free(run_dir: PathLike) -> Path:
    """Raise unless ``run_dir`` is absent or an empty folder (never overwrite a run).

    The path must also be usable (see ``minigrad.files.output_paths.check_output_path``);
    a lock file left by a killed run does not count as content.
    """
    try:
        folder = check_output_path(run_dir, "run folder")
    except ValueError as err:
        raise RunFolderError(str(err)) from None
    if folder.is_dir() and _entries_besides_lock(folder):
        raise RunFolderError(
            f"run folder {printable_path(folder)} is not empty; choose a new --out to keep "
            "the old run"
        )
    return folder


def prepare_run_folder(run_dir: PathLike) -> Path:
    """Create ``run_dir`` (and its parents) after :func:`check_run_folder_free`."""
    folder = check_run_folder_free(run_dir)
    try:
        return make_folder(folder, "run folder")
    except ValueError as err:
        raise RunFolderError(str(err)) from None


def claim_run_folder(run_dir: PathLike) -> FolderLock:
    """Create ``run_dir`` if needed and lock it for this process; it must hold nothing.

    Returns
    -------
    The held lock (``lock.folder`` is the folder): release it when the run is written.
    Re-entrant within a process, so a caller may claim the folder early (before loading
    data) and :func:`~minigrad.experiment.training_run.train_into_folder` claim it again.

    Raises
    ------
    RunFolderError : the path is unusable, or the folder holds files.
    minigrad.files.folder_lock.FolderInUseError : another process is writing into it.
    """
    folder = prepare_run_folder(run_dir)
    lock = lock_folder(folder)
    try:
        check_run_folder_free(folder)  # again, now that no other process can write
    except BaseException:
        lock.release()
        raise
    return lock


def claim_new_run_folder(parent: PathLike, stem: str) -> FolderLock:
    """Create ``parent/stem`` (``stem-2``, ``stem-3`` ... if taken) exclusively and lock it."""
    try:
        folder = make_unique_folder(parent, stem)
    except ValueError as err:
        raise RunFolderError(str(err)) from None
    return lock_folder(folder)


def write_config(run_dir: PathLike, config: TrainConfig) -> Path:
    """Write config.json."""
    return write_json_atomic(Path(run_dir) / CONFIG_FILE, config.to_dict())


def write_weights(
    run_dir: PathLike,
    params: Mapping[str, np.ndarray],
    mean_image: np.ndarray,
    input_std: np.ndarray | None = None,
) -> Path:
    """Write weights.npz: ``params`` (a ``model.state_dict()``) plus the input statistics.

    ``mean_image`` (3072,) is subtracted from raw pixels and ``input_std`` (3072,), if
    given (per-channel normalisation), divides the result.
    """
    for key in (MEAN_IMAGE_KEY, INPUT_STD_KEY):
        if key in params:
            raise ValueError(f"a parameter may not be called {key!r}")
    arrays = {**params, MEAN_IMAGE_KEY: np.asarray(mean_image, dtype=np.float64)}
    if input_std is not None:
        arrays[INPUT_STD_KEY] = np.asarray(input_std, dtype=np.float64)
    return write_npz_atomic(Path(run_dir) / WEIGHTS_FILE, arrays)


def write_results(
    run_dir: PathLike,
    *,
    config: TrainConfig,
    params: Mapping[str, np.ndarray],
    mean_image: np.ndarray,
    input_std: np.ndarray | None = None,
    history: History,
    metrics: Mapping[str, Any],
    timing: Mapping[str, Any],
    model_summary: str,
) -> Path:
    """Write everything but config.json; metrics.json last, as the commit record.

    ``params`` is the ``model.state_dict()`` written to weights.npz (its ``"0.W"``, the
    first affine layer's weights, becomes weights.png); ``metrics`` must describe those
    weights; ``model_summary`` is ``model.summary()``, for report.md.
    """
    folder = Path(run_dir)
    write_weights(folder, params, mean_image, input_std)
    write_text_atomic(folder / HISTORY_FILE, history_csv(history))
    plot_loss_history(history.loss, folder / LOSS_PNG)
    plot_accuracy_history(history.train_acc, history.val_acc, folder / ACCURACY_PNG)
    first_layer = params["0.W"]
    plot_first_layer_weights(first_layer[:WEIGHTS_PNG_UNITS], folder / WEIGHTS_PNG)
    write_json_atomic(folder / TIMING_FILE, dict(timing))
    report = report_markdown(
        f"minigrad run {folder.name}", config, metrics, timing,
        model_summary=model_summary, first_layer_units=first_layer.shape[0],
    )
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


def _read_json_object(path: Path) -> dict[str, Any]:
    try:
        return read_json_object(path, max_bytes=MAX_JSON_BYTES)
    except UnreadableFileError as err:
        raise RunFolderError(str(err)) from None


def run_finished(run_dir: PathLike) -> bool:
    """Whether ``run_dir`` holds metrics.json, the file a finished run writes last."""
    return (Path(run_dir) / METRICS_FILE).is_file()


def read_config(run_dir: PathLike) -> TrainConfig:
    """The TrainConfig of a run folder."""
    path = _existing_file(run_dir, CONFIG_FILE)
    try:
        return TrainConfig.from_dict(_read_json_object(path))
    except (ConfigError, TypeError) as exc:
        raise RunFolderError(f"{path}: {exc}") from None


def read_metrics(run_dir: PathLike) -> dict[str, Any]:
    """metrics.json of a finished (complete or interrupted) run."""
    path = _existing_file(
        run_dir, METRICS_FILE, " (the run has not finished: still running, or killed)"
    )
    return _read_json_object(path)


def read_history(run_dir: PathLike) -> History:
    """history.csv of a run folder."""
    path = _existing_file(run_dir, HISTORY_FILE)
    try:
        text = read_text_bounded(path, MAX_HISTORY_BYTES)
    except UnreadableFileError as err:
        raise RunFolderError(str(err)) from None
    return history_from_csv(text)


def _check_mean_image_spec(path: Path, spec: ArraySpec | None) -> int:
    """The input width D a mean image header declares, if it is a float array (D,)."""
    if spec is None:
        raise RunFolderError(f"{path} has no {MEAN_IMAGE_KEY!r} array")
    if len(spec.shape) != 1 or spec.dtype.kind != "f" or not 1 <= spec.shape[0] <= MAX_INPUT_WIDTH:
        raise RunFolderError(
            f"{path}: {MEAN_IMAGE_KEY!r} must be a 1-D float array of at most "
            f"{MAX_INPUT_WIDTH} values, got {spec.describe()}"
        )
    return spec.shape[0]


def _spec_problem(name: str, spec: ArraySpec | None, target: np.ndarray) -> str | None:
    """Why a header does not fit the net's array (the wording of ``load_state_dict``)."""
    if spec is None:
        return f"the state has no {name!r} (a state from another architecture?)"
    if spec.shape != target.shape:
        return f"state {name!r} has shape {spec.shape} but this model's is {target.shape}"
    if spec.dtype != target.dtype:
        return f"state {name!r} is {spec.dtype} but this model's is {target.dtype}"
    return None


def _check_weight_specs(
    path: Path, specs: Mapping[str, ArraySpec], expected: Mapping[str, np.ndarray]
) -> None:
    """Each parameter's header against the net's array, before any data is read."""
    for name, target in expected.items():
        problem = _spec_problem(name, specs.get(name), target)
        if problem is not None:
            raise RunFolderError(f"{path} does not fit the net of {CONFIG_FILE}: {problem}")


def _architecture_names(config: TrainConfig) -> set[str]:
    """The state names (parameters and buffers) of ``config``'s net; sizes do not matter."""
    tiny = build_model(config.replace(hidden_dims=(1,) * len(config.hidden_dims)), 1,
                       weight_init=zeros)
    return {*tiny.params, *tiny.buffers}


def _check_net_memory(config: TrainConfig, width: int, path: Path) -> None:
    """Refuse a config.json whose net (and the arrays read into it) cannot fit in memory."""
    num_parameters, num_buffers = net_state_sizes(config, width)
    # The net, and the arrays read before they are copied in.
    needed = 2 * np.dtype(config.dtype).itemsize * (num_parameters + num_buffers)
    free = available_memory()
    if free is not None and needed > free:
        raise RunFolderError(
            f"{path.parent / CONFIG_FILE}: {memory_option_label(config, 'hidden_dims')} "
            f"needs about {format_bytes(needed)} of memory to load, but only "
            f"{format_bytes(free)} are available"
        )


def _pop_mean_image(path: Path, arrays: dict[str, np.ndarray]) -> np.ndarray:
    mean_image = arrays.pop(MEAN_IMAGE_KEY)
    if count_non_finite(mean_image):
        raise RunFolderError(f"{path}: {MEAN_IMAGE_KEY!r} holds NaN or inf values")
    return mean_image


def _pop_input_std(
    path: Path, arrays: dict[str, np.ndarray], config: TrainConfig, width: int
) -> np.ndarray | None:
    """weights.npz's ``input_std``: present, (D,), finite and > 0 exactly for per-channel runs."""
    std = arrays.pop(INPUT_STD_KEY, None)
    if config.normalize != "per-channel":
        if std is not None:
            raise RunFolderError(
                f"{path} has an {INPUT_STD_KEY!r} array, but {CONFIG_FILE} says "
                f"normalize={config.normalize!r}"
            )
        return None
    if std is None:
        raise RunFolderError(
            f"{path} has no {INPUT_STD_KEY!r} array, which a run with "
            "normalize='per-channel' needs"
        )
    if std.shape != (width,) or std.dtype.kind != "f":
        raise RunFolderError(
            f"{path}: {INPUT_STD_KEY!r} must be float ({width},), got {std.dtype} {std.shape}"
        )
    if count_non_finite(std) or not np.all(std > 0):
        raise RunFolderError(f"{path}: {INPUT_STD_KEY!r} must be finite and > 0 everywhere")
    return std.astype(np.float64)


def _load_weights(
    path: Path, config: TrainConfig
) -> tuple[Sequential, np.ndarray, np.ndarray | None]:
    """The net of ``config`` holding weights.npz's arrays, the mean image and the input std.

    Names and headers are checked first.
    """
    names = {*_architecture_names(config), MEAN_IMAGE_KEY, INPUT_STD_KEY}
    try:
        with open_npz(path, names=names, max_members=MAX_WEIGHT_MEMBERS) as npz:
            width = _check_mean_image_spec(path, npz.specs.get(MEAN_IMAGE_KEY))
            _check_net_memory(config, width, path)
            model = build_model(config, width, weight_init=zeros)
            _check_weight_specs(path, npz.specs, {**model.params, **model.buffers})
            arrays = npz.read_all()
    except UnreadableFileError as err:
        raise RunFolderError(str(err)) from None
    mean_image = _pop_mean_image(path, arrays)
    input_std = _pop_input_std(path, arrays, config, width)
    try:
        model.load_state_dict(arrays)  # names, shapes, dtypes and finiteness checked first
    except ValueError as err:
        raise RunFolderError(f"{path} does not fit the net of {CONFIG_FILE}: {err}") from None
    model.eval()  # a loaded net predicts: dropout off, batch norm on its running statistics
    return model, mean_image, input_std


@dataclass(frozen=True)
class LoadedRun:
    """A run folder read back.

    Attributes
    ----------
    run_dir : the folder.
    config : its TrainConfig.
    model : the net rebuilt from the config, holding the saved parameters and buffers,
        in eval mode.
    metrics : metrics.json (the accuracies of those weights).
    mean_image : ndarray of shape (3072,), float64, to subtract from new data.
    input_std : ndarray of shape (3072,), float64, to divide the centred data by
        (per-channel normalisation), or None.
    """

    run_dir: Path
    config: TrainConfig
    model: Sequential
    metrics: dict[str, Any]
    mean_image: np.ndarray
    input_std: np.ndarray | None = None

    @property
    def normalization(self) -> Normalization:
        """The input statistics of the run, as the image pipeline applies them."""
        return Normalization(self.config.normalize, IMAGE_SHAPE, self.mean_image,
                             self.input_std)

    def preprocess(self, raw: np.ndarray) -> np.ndarray:
        """Raw images (N, 32, 32, 3) or rows (N, 3072) -> the net's input rows (N, 3072).

        Converted as the run converted its own data: the workbook's rows are centred in
        float64 and rounded once; a run on the image pipeline converts uint8 images with
        its converter (the statistics rounded to the run's dtype first), bit for bit what
        the net saw in training, and other raw values as ``(raw - mean) / std`` in float64.

        Raises
        ------
        TypeError, ValueError : see :func:`check_raw_images` (not real numbers, another
            shape, an empty batch, NaN or inf).
        """
        width = self.mean_image.shape[0]
        if not self.config.uses_image_pipeline or width != CIFAR10_ROW_WIDTH:
            return center_rows(raw, self.mean_image, self.config.dtype)
        rows = check_raw_images(raw, width)
        if rows.dtype == np.uint8:
            return self.normalization.transform(rows.reshape(len(rows), *IMAGE_SHAPE),
                                                self.config.dtype)
        centred = rows - self.mean_image
        if self.input_std is not None:
            centred /= self.input_std
        return centred.astype(self.config.dtype)

    def predict(self, raw: np.ndarray) -> np.ndarray:
        """Predicted class (N,) of raw images (N, 32, 32, 3) or rows (N, 3072).

        The images are checked first (:func:`check_raw_images`): a NaN image has no class.
        """
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
    model, mean_image, input_std = _load_weights(_existing_file(folder, WEIGHTS_FILE), config)
    try:
        for key in ("val_acc", "test_acc", "train_acc"):
            check_real(metrics.get(key), key, low=0.0, high=1.0)
    except (TypeError, ValueError) as err:
        raise RunFolderError(f"{folder / METRICS_FILE}: {err}") from None
    return LoadedRun(folder, config, model, metrics, mean_image, input_std)
