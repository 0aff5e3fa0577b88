"""The CIFAR-10 training job as a Python API: a picklable config in, a trained model out.

>>> from minigrad.data import load_cifar10_split
>>> from minigrad.experiment.config import BEST
>>> from minigrad.experiment.job import run_training
>>> split = load_cifar10_split(dtype="float32")
>>> result = run_training(BEST, split)
>>> result.val_acc, result.test_acc

Everything random is drawn from ``np.random.default_rng`` generators spawned from
``config.seed`` (one for the initial weights, one for the minibatches), never from NumPy's
global state, so the same config on the same data gives the same numbers, also in worker
processes. The settings themselves live in :mod:`minigrad.experiment.config`.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from minigrad.data import Cifar10Split, CifarFormatError, load_cifar10_split
from minigrad.data.cifar10 import IMAGE_SHAPE
from minigrad.data.image_split import Cifar10Images
from minigrad.data.normalize import Normalization
from minigrad.data.sampling import make_sampler
from minigrad.experiment.config import NUM_CLASSES, ConfigError, TrainConfig
from minigrad.experiment.input_pipeline import (
    check_run_data,
    evaluation_sets,
    input_normalization,
    input_width,
    make_image_batches,
)
from minigrad.files.bounded_read import format_bytes
from minigrad.files.memory import available_memory
from minigrad.hinge_loss import MulticlassHingeLoss
from minigrad.initializers import Initializer, he_normal, normal
from minigrad.loss import Loss
from minigrad.models import fully_connected_net, two_layer_net
from minigrad.optim import Cosine, ExponentialDecay, Schedule, make_optimizer
from minigrad.sequential import Sequential
from minigrad.softmax_cross_entropy import SoftmaxCrossEntropy
from minigrad.training.callbacks import Callback
from minigrad.training.history import History
from minigrad.training.trainer import EvaluationData, Trainer, evaluate_accuracy

__all__ = [
    "CIFAR10_ROW_WIDTH",
    "Accuracies",
    "DataSplit",
    "TrainResult",
    "TrainingInterrupted",
    "build_model",
    "check_training_memory",
    "evaluate_model",
    "learning_rate_schedule",
    "load_split",
    "make_loss",
    "memory_option_label",
    "net_state_sizes",
    "run_training",
    "training_memory",
    "weight_initializer",
]

CIFAR10_ROW_WIDTH = math.prod(IMAGE_SHAPE)
"""Features per CIFAR-10 row (3072), the net's input width."""

# Arrays each optimiser keeps per parameter (velocity; squares; Adam's two moments).
_OPTIMIZER_SLOTS = {"sgd": 0, "momentum": 1, "nesterov": 1, "rmsprop": 1, "adagrad": 1, "adam": 2}


class DataSplit(Protocol):
    """What training needs from the data: ``minigrad.data.Cifar10Split`` satisfies it.

    ``X_*`` are (N, D) rows in the config's dtype, ``y_*`` int labels (N,).
    """

    @property
    def X_train(self) -> np.ndarray: ...
    @property
    def y_train(self) -> np.ndarray: ...
    @property
    def X_val(self) -> np.ndarray: ...
    @property
    def y_val(self) -> np.ndarray: ...
    @property
    def X_test(self) -> np.ndarray: ...
    @property
    def y_test(self) -> np.ndarray: ...


def load_split(
    num_training: int,
    num_validation: int,
    num_test: int,
    *,
    dtype: npt.DTypeLike,
    root: str | os.PathLike[str] | None = None,
    subtract_mean: bool = True,
) -> Cifar10Split:
    """The CIFAR-10 split of a job, as ``minigrad.data.load_cifar10_split`` loads it.

    Returns
    -------
    Cifar10Split with rows (num_training, 3072) ... in ``dtype`` and the mean image (3072,).

    Raises
    ------
    ConfigError : the sizes do not fit the data (e.g. more training images than there are).
    CifarFormatError, CifarNotFoundError, DataFetchError : the data is corrupt or missing.
    """
    try:
        return load_cifar10_split(
            num_training, num_validation, num_test,
            root=root, dtype=dtype, subtract_mean=subtract_mean,
        )
    except CifarFormatError:  # a ValueError too, but about the files: keep it
        raise
    except ValueError as err:  # the sizes: a setting of the job
        raise ConfigError(str(err)) from err


@dataclass(frozen=True)
class Accuracies:
    """Accuracy of one set of weights on the three splits (fractions in [0, 1])."""

    train: float
    val: float
    test: float


@dataclass
class TrainResult:
    """A finished run: the trained model, its curves and its accuracies.

    Attributes
    ----------
    model : the trained ``Sequential`` (final weights and buffers), in train mode.
    history : loss per iteration, minibatch/validation accuracy per epoch.
    val_acc, test_acc : accuracy of the final weights on the validation and test splits.
    train_acc : accuracy of the final weights on the whole training split.
    seconds : wall time of the training iterations (not data loading or evaluation).
    iterations : iterations run.
    """

    model: Sequential
    history: History
    val_acc: float
    test_acc: float
    train_acc: float
    seconds: float
    iterations: int


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C during :func:`run_training`, carrying what was trained so far.

    A ``KeyboardInterrupt`` still (code that does not know this class stops as usual).

    Attributes
    ----------
    model : the model as it was when interrupted (possibly mid-update: use the weights a
        :class:`~minigrad.training.keep_best.KeepBest` callback copied at an epoch end).
    history : the curves so far.
    iterations : iterations completed.
    seconds : wall time until the interrupt.
    """

    def __init__(self, model: Sequential, history: History, iterations: int, seconds: float):
        super().__init__(f"training interrupted after {iterations} iteration(s)")
        self.model = model
        self.history = history
        self.iterations = iterations
        self.seconds = seconds

    def __reduce__(self) -> tuple[Any, ...]:
        # Picklable, so a worker process can send it back to its parent.
        return (type(self), (self.model, self.history, self.iterations, self.seconds))


def weight_initializer(
    config: TrainConfig, rng: np.random.Generator | None = None
) -> Initializer:
    """The initialiser ``config.weight_init`` names, drawing from ``rng``.

    ``"normal"`` is the workbook's ``config.std * randn``, ``"he"`` is
    ``sqrt(2 / fan_in) * randn``; with ``rng=None`` they draw from NumPy's global generator.
    """
    return normal(config.std, rng) if config.weight_init == "normal" else he_normal(rng)


def build_model(
    config: TrainConfig,
    input_size: int,
    weight_init: Initializer | None = None,
    *,
    rng: np.random.Generator | None = None,
) -> Sequential:
    """The net the config describes, in train mode.

    The workbook's architecture (one hidden layer, ReLU, no normalisation, no dropout) is
    ``two_layer_net``: ``Affine(D, H) -> ReLU -> Affine(H, 10)``, the same layers and the
    same draws as ever. Any other is ``fully_connected_net``: per hidden width
    ``Affine -> [norm] -> activation -> [Dropout]``, then ``Affine(.., 10)``.

    Parameters
    ----------
    config : supplies ``hidden_dims``, ``normalization``, ``dropout``, ``activation``,
        ``weight_init`` (and ``std``) and ``dtype``.
    input_size : D, features per row (3072 for CIFAR-10).
    weight_init : initialiser for every weight, overriding ``config.weight_init``
        (e.g. ``zeros`` for a net about to load saved weights).
    rng : the generator of the initial weights (when ``weight_init`` is None) and, through
        ``rng.spawn``, of each Dropout layer's masks. None draws the weights from NumPy's
        global generator and seeds dropout from the operating system.
    """
    init = weight_initializer(config, rng) if weight_init is None else weight_init
    if config.is_two_layer_net:
        return two_layer_net(
            input_size, config.hidden_dims[0], NUM_CLASSES, weight_init=init,
            dtype=config.dtype,
        )
    return fully_connected_net(
        input_size, config.hidden_dims, NUM_CLASSES,
        normalization=None if config.normalization == "none" else config.normalization,
        dropout=config.dropout, activation=config.activation, weight_init=init,
        dtype=config.dtype, rng=rng,
    )


def make_loss(config: TrainConfig) -> Loss:
    """The loss ``config.loss`` names: softmax cross-entropy or the multiclass hinge loss."""
    return SoftmaxCrossEntropy() if config.loss == "softmax" else MulticlassHingeLoss()


def net_state_sizes(config: TrainConfig, input_size: int) -> tuple[int, int]:
    """``(parameters, buffers)``: how many numbers the net of ``config`` holds.

    Counted from the config alone (no net is built), so a huge net is measured before
    anything is allocated. Batch norm has two buffers per unit, the running statistics.
    """
    widths = (input_size, *config.hidden_dims, NUM_CLASSES)
    parameters = sum(
        fan_in * fan_out + fan_out for fan_in, fan_out in zip(widths, widths[1:], strict=False)
    )
    hidden = sum(config.hidden_dims)
    if config.normalization != "none":
        parameters += 2 * hidden  # gamma, beta
    buffers = 2 * hidden if config.normalization == "batchnorm" else 0
    return parameters, buffers


def training_memory(
    config: TrainConfig, input_size: int, *, include_data: bool = True
) -> dict[str, int]:
    """About how many bytes training ``config`` allocates, by the setting that drives each part.

    Parameters
    ----------
    config : the settings.
    input_size : D, features per row.
    include_data : count the splits themselves (rows in ``config.dtype``), for a check made
        before they are loaded.

    Returns
    -------
    ``{"hidden_dims": ..., "batch_size": ..., "num_training": ...}``: the net (parameters,
    gradients, optimiser state, the best-so-far copy and a copy being saved), one
    minibatch (the gathered rows and each layer's activations and gradients), the data.
    An estimate, meant to refuse impossible requests, not to budget tight ones.
    """
    item = np.dtype(config.dtype).itemsize
    batch = config.batch_size
    num_parameters, num_buffers = net_state_sizes(config, input_size)
    copies = 4 + _OPTIMIZER_SLOTS.get(config.optimizer, 2)
    # Per hidden unit and row: the affine output and its gradient, the activation's cache,
    # output and gradient (6, as for ReLU), plus the norm's (4) and dropout's mask (2).
    per_unit = 6 + 4 * (config.normalization != "none") + 2 * (config.dropout > 0)
    rows = config.num_training + config.num_validation + config.num_test
    return {
        "hidden_dims": (num_parameters * copies + num_buffers * 3) * item,
        "batch_size": (batch * input_size + per_unit * batch * sum(config.hidden_dims)
                       + 4 * batch * NUM_CLASSES) * item + batch * 8,
        "num_training": (rows * input_size * item + config.num_training * 8)
        if include_data else 0,
    }


def memory_option_label(
    config: TrainConfig, driver: str, option_names: Mapping[str, str] | None = None
) -> str:
    """How a message names the setting ``driver``: ``--hidden-dims 512 256``, ``reg=0.3`` ...

    The net is named ``--hidden-size H`` when ``option_names`` maps ``"hidden_size"``
    (and not ``"hidden_dims"``) and the net has one hidden layer, as ``minigrad tune``
    does; ``hidden_dims=(512, 256)`` without option names.
    """
    names = option_names or {}
    value: Any = getattr(config, driver)
    if driver == "hidden_dims":
        if "hidden_dims" not in names and "hidden_size" in names and config.hidden_size:
            return f"{names['hidden_size']} {config.hidden_size}"
        if "hidden_dims" in names:
            return " ".join([names["hidden_dims"], *map(str, config.hidden_dims)])
    if driver in names:
        return f"{names[driver]} {value}"
    return f"{driver}={value}"


def check_training_memory(
    config: TrainConfig,
    input_size: int,
    *,
    include_data: bool = True,
    option_names: Mapping[str, str] | None = None,
    available: int | None = None,
) -> None:
    """Refuse ``config`` with a :class:`ConfigError` if training it cannot fit in memory.

    The message names the setting behind the largest part of :func:`training_memory`:
    ``hidden_dims=(100000000,)`` or, with ``option_names`` (``{"hidden_dims":
    "--hidden-dims", ...}``), the command-line option ``--hidden-dims 100000000`` (see
    :func:`memory_option_label`). ``available`` overrides the measured free memory (bytes).
    """
    parts = training_memory(config, input_size, include_data=include_data)
    driver = max(parts, key=lambda name: parts[name])
    label = memory_option_label(config, driver, option_names)
    breakdown = (
        f"the net {format_bytes(parts['hidden_dims'])}, a minibatch "
        f"{format_bytes(parts['batch_size'])}"
        + (f", the data {format_bytes(parts['num_training'])}" if include_data else "")
    )
    total, free = sum(parts.values()), available_memory() if available is None else available
    if free is not None and total > free:
        raise ConfigError(
            f"{label} needs about {format_bytes(total)} of memory to train ({breakdown}), "
            f"but only {format_bytes(free)} are available"
        )


def evaluate_model(
    model: Sequential,
    split: DataSplit | Cifar10Images,
    config: TrainConfig | None = None,
    normalization: Normalization | None = None,
) -> Accuracies:
    """Accuracy of ``model`` on the train, validation and test splits.

    ``split`` is float rows, or uint8 images converted a chunk at a time in
    ``config.dtype`` with ``normalization`` (see
    :func:`minigrad.experiment.input_pipeline.evaluation_sets`).
    """
    sets = evaluation_sets(split, config, normalization)  # type: ignore[arg-type]  # any DataSplit
    measured = {name: evaluate_accuracy(model, X, y) for name, (X, y) in sets.items()}
    return Accuracies(**measured)  # evaluate_accuracy runs the model in eval mode


def learning_rate_schedule(
    config: TrainConfig, is_epoch_end: Callable[[int], bool]
) -> Schedule:
    """``config.schedule``: the workbook's per-epoch decay, or cosine over the run's epochs.

    ``is_epoch_end(it)`` tells whether iteration ``it`` closes an epoch (the sampler's
    rule). The cosine schedule spans the epochs the run trains in, so its last epoch
    still has a positive rate: with ``m`` epoch ends before the last iteration, the run
    trains in epochs ``0 .. m``, and the rate would reach 0 at epoch ``m + 1``.
    """
    if config.schedule == "cosine":
        epochs = 1 + sum(1 for it in range(config.num_iters - 1) if is_epoch_end(it))
        return Cosine(config.learning_rate, total_epochs=epochs)
    return ExponentialDecay(config.learning_rate, config.lr_decay)


def run_training(
    config: TrainConfig,
    split: DataSplit | Cifar10Images,
    callbacks: Iterable[Callback] = (),
    *,
    normalization: Normalization | None = None,
) -> TrainResult:
    """Train the net of ``config`` (:func:`build_model`) on ``split`` and measure it.

    Loss ``config.loss``, optimiser ``config.optimizer`` with the learning rate of
    :func:`learning_rate_schedule`, L2 ``reg``, minibatches of ``batch_size`` drawn by
    ``config.sampling`` (augmented and normalised by the image pipeline when
    ``config.uses_image_pipeline``). Two generators spawned from
    ``np.random.SeedSequence(config.seed)`` draw the initial weights (the first; dropout
    layers spawn their own generators from it) and the minibatches and their augmentation
    (the second).

    Parameters
    ----------
    config : the settings (its ``num_*`` sizes are not applied here: ``split`` is used
        as given).
    split : for the workbook's pipeline, ``X_train`` (N, D), ``y_train`` (N,), and the same
        for ``val`` and ``test``, rows in ``config.dtype`` (e.g.
        ``minigrad.data.load_cifar10_split(dtype=config.dtype)``); for the image pipeline,
        a :class:`~minigrad.data.image_split.Cifar10Images`.
    callbacks : hooks for progress, keeping the best weights, stopping.
    normalization : the image pipeline's statistics (default: fitted on
        ``split.train_images`` by ``config.normalize``).

    Returns
    -------
    TrainResult with the final weights' accuracies.

    Raises
    ------
    ConfigError : the data is not what the config trains on (rows in ``config.dtype``, or
        images), or the net and a minibatch would not fit in memory.
    TrainingInterrupted : on Ctrl-C (a ``KeyboardInterrupt``), with the state so far.
    minigrad.DivergenceError : the loss became NaN or inf.
    """
    data = check_run_data(config, split)
    check_training_memory(config, input_width(data), include_data=False)
    init_seed, sampling_seed = np.random.SeedSequence(config.seed).spawn(2)
    sampling_rng = np.random.default_rng(sampling_seed)
    if isinstance(data, Cifar10Images):
        if normalization is None:
            normalization = input_normalization(config, data)
        source = make_image_batches(config, data, normalization, sampling_rng)
        input_size = source.num_features
        is_epoch_end = source.is_epoch_end
        fit_data: dict[str, Any] = {"X": source}
        sampling: dict[str, Any] = {}
        X_val: EvaluationData = source.evaluation_rows(data.val_images)
        y_val = data.y_val
    else:
        input_size = data.X_train.shape[1]
        # The trainer builds the same sampler; this one only counts the epochs.
        is_epoch_end = make_sampler(config.sampling, len(data.X_train), config.batch_size,
                                    np.random.default_rng(0)).is_epoch_end
        fit_data = {"X": data.X_train, "y": data.y_train}
        sampling = {"batch_size": config.batch_size, "sampling": config.sampling,
                    "rng": sampling_rng}
        X_val, y_val = data.X_val, data.y_val
    model = build_model(config, input_size, rng=np.random.default_rng(init_seed))
    optimizer = make_optimizer(
        config.optimizer, learning_rate=learning_rate_schedule(config, is_epoch_end)
    )
    trainer = Trainer(model, optimizer, loss=make_loss(config), reg=config.reg,
                      callbacks=callbacks, **sampling)
    start = time.perf_counter()
    try:
        trainer.fit(**fit_data, X_val=X_val, y_val=y_val, num_iters=config.num_iters)
        seconds = time.perf_counter() - start
        measured = evaluate_model(model, data, config, normalization)
    except KeyboardInterrupt as interrupt:
        # Iterations whose loss was recorded; an interrupt inside a step leaves no loss.
        completed = len(trainer.history.loss)
        raise TrainingInterrupted(
            model, trainer.history, completed, time.perf_counter() - start
        ) from interrupt
    return TrainResult(
        model=model,
        history=trainer.history,
        val_acc=measured.val,
        test_acc=measured.test,
        train_acc=measured.train,
        seconds=seconds,
        iterations=len(trainer.history.loss),
    )
