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
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from minigrad.data import Cifar10Split, CifarFormatError, load_cifar10_split
from minigrad.data.cifar10 import IMAGE_SHAPE
from minigrad.evaluation import accuracy
from minigrad.experiment.config import NUM_CLASSES, ConfigError, TrainConfig
from minigrad.files.bounded_read import format_bytes
from minigrad.files.memory import available_memory
from minigrad.initializers import Initializer, normal
from minigrad.models import two_layer_net
from minigrad.optim import ExponentialDecay, make_optimizer
from minigrad.sequential import Sequential
from minigrad.training.callbacks import Callback
from minigrad.training.history import History
from minigrad.training.trainer import Trainer

__all__ = [
    "CIFAR10_ROW_WIDTH",
    "Accuracies",
    "DataSplit",
    "TrainResult",
    "TrainingInterrupted",
    "build_model",
    "check_training_memory",
    "evaluate_model",
    "load_split",
    "run_training",
    "training_memory",
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
    model : the trained ``Sequential`` (final weights).
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


def build_model(
    config: TrainConfig, input_size: int, weight_init: Initializer | None = None
) -> Sequential:
    """The two-layer net ``Affine(D, H) -> ReLU -> Affine(H, 10)`` the config describes.

    Parameters
    ----------
    config : supplies H (``hidden_size``), ``std`` and ``dtype``.
    input_size : D, features per row (3072 for CIFAR-10).
    weight_init : initialiser for both weights; ``normal(config.std)`` drawn from NumPy's
        global generator when None (pass a seeded one for reproducible weights).
    """
    init = normal(config.std) if weight_init is None else weight_init
    return two_layer_net(
        input_size, config.hidden_size, NUM_CLASSES, weight_init=init, dtype=config.dtype
    )


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
    ``{"hidden_size": ..., "batch_size": ..., "num_training": ...}``: the net (parameters,
    gradients, optimiser state, the best-so-far copy and a copy being saved), one
    minibatch (the gathered rows and each layer's activations and gradients), the data.
    An estimate, meant to refuse impossible requests, not to budget tight ones.
    """
    item = np.dtype(config.dtype).itemsize
    width, hidden, batch, classes = input_size, config.hidden_size, config.batch_size, NUM_CLASSES
    num_parameters = width * hidden + hidden + hidden * classes + classes
    copies = 4 + _OPTIMIZER_SLOTS.get(config.optimizer, 2)
    rows = config.num_training + config.num_validation + config.num_test
    return {
        "hidden_size": num_parameters * item * copies,
        "batch_size": (batch * width + 6 * batch * hidden + 4 * batch * classes) * item
        + batch * 8,
        "num_training": (rows * width * item + config.num_training * 8) if include_data else 0,
    }


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
    ``hidden_size=100000000`` or, with ``option_names`` (``{"hidden_size":
    "--hidden-size", ...}``), the command-line option ``--hidden-size 100000000``.
    ``available`` overrides the measured free memory (bytes).
    """
    parts = training_memory(config, input_size, include_data=include_data)
    driver = max(parts, key=lambda name: parts[name])
    value = getattr(config, driver)
    label = (
        f"{option_names[driver]} {value}" if option_names and driver in option_names
        else f"{driver}={value}"
    )
    breakdown = (
        f"the net {format_bytes(parts['hidden_size'])}, a minibatch "
        f"{format_bytes(parts['batch_size'])}"
        + (f", the data {format_bytes(parts['num_training'])}" if include_data else "")
    )
    total, free = sum(parts.values()), available_memory() if available is None else available
    if free is not None and total > free:
        raise ConfigError(
            f"{label} needs about {format_bytes(total)} of memory to train ({breakdown}), "
            f"but only {format_bytes(free)} are available"
        )


def evaluate_model(model: Sequential, split: DataSplit) -> Accuracies:
    """Accuracy of ``model`` on the train, validation and test rows of ``split``."""
    forward = model.forward
    return Accuracies(
        train=accuracy(forward, split.X_train, split.y_train),
        val=accuracy(forward, split.X_val, split.y_val),
        test=accuracy(forward, split.X_test, split.y_test),
    )


def _check_split_dtype(config: TrainConfig, split: DataSplit) -> None:
    for name in ("X_train", "X_val", "X_test"):
        array = getattr(split, name)
        if array.dtype != np.dtype(config.dtype):
            raise ConfigError(
                f"split.{name} is {array.dtype} but the config says dtype={config.dtype!r}; "
                f"load the data with dtype={config.dtype!r}"
            )


def run_training(
    config: TrainConfig, split: DataSplit, callbacks: Iterable[Callback] = ()
) -> TrainResult:
    """Train the two-layer net on ``split`` as ``config`` says and measure it.

    SGD-style optimiser ``config.optimizer`` with the workbook's per-epoch decay
    ``learning_rate * lr_decay ** epoch``, L2 ``reg``, minibatches of ``batch_size`` drawn
    by ``config.sampling``. Initial weights and minibatches come from two generators
    spawned from ``np.random.SeedSequence(config.seed)``.

    Parameters
    ----------
    config : the settings (its ``num_*`` sizes are not applied here: ``split`` is used
        as given).
    split : ``X_train`` (N, D), ``y_train`` (N,), and the same for ``val`` and ``test``,
        rows in ``config.dtype``; e.g.
        ``minigrad.data.load_cifar10_split(dtype=config.dtype)``.
    callbacks : hooks for progress, keeping the best weights, stopping.

    Returns
    -------
    TrainResult with the final weights' accuracies.

    Raises
    ------
    ConfigError : the data's dtype is not ``config.dtype``, or the net and a minibatch
        would not fit in memory.
    TrainingInterrupted : on Ctrl-C (a ``KeyboardInterrupt``), with the state so far.
    minigrad.DivergenceError : the loss became NaN or inf.
    """
    _check_split_dtype(config, split)
    check_training_memory(config, split.X_train.shape[1], include_data=False)
    init_seed, sampling_seed = np.random.SeedSequence(config.seed).spawn(2)
    weight_init = normal(config.std, np.random.default_rng(init_seed))
    model = build_model(config, split.X_train.shape[1], weight_init)
    optimizer = make_optimizer(
        config.optimizer, learning_rate=ExponentialDecay(config.learning_rate, config.lr_decay)
    )
    trainer = Trainer(
        model,
        optimizer,
        reg=config.reg,
        batch_size=config.batch_size,
        sampling=config.sampling,
        rng=np.random.default_rng(sampling_seed),
        callbacks=callbacks,
    )
    start = time.perf_counter()
    try:
        trainer.fit(split.X_train, split.y_train, split.X_val, split.y_val,
                    num_iters=config.num_iters)
        seconds = time.perf_counter() - start
        measured = evaluate_model(model, split)
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
