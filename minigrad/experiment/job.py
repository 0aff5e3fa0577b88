"""The CIFAR-10 training job as a Python API: a picklable config in, a trained model out.

>>> from data import load_cifar10_split
>>> from minigrad.experiment.job import BEST, run_training
>>> split = load_cifar10_split(dtype="float32")
>>> result = run_training(BEST, split)
>>> result.val_acc, result.test_acc

Everything random is drawn from ``np.random.default_rng`` generators spawned from
``config.seed`` (one for the initial weights, one for the minibatches), never from NumPy's
global state, so the same config on the same data gives the same numbers, also in worker
processes.
"""

from __future__ import annotations

import math
import numbers
import time
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Protocol

import numpy as np

from minigrad.evaluation import accuracy
from minigrad.initializers import Initializer, normal
from minigrad.models import two_layer_net
from minigrad.optim import OPTIMIZERS, ExponentialDecay, make_optimizer
from minigrad.sequential import Sequential
from minigrad.training.callbacks import Callback
from minigrad.training.history import History
from minigrad.training.trainer import Trainer

__all__ = [
    "BEST",
    "DTYPES",
    "NUM_CLASSES",
    "PRESETS",
    "SAMPLINGS",
    "SUBOPTIMAL",
    "Accuracies",
    "ConfigError",
    "DataSplit",
    "TrainConfig",
    "TrainResult",
    "TrainingInterrupted",
    "build_model",
    "evaluate_model",
    "run_training",
]

NUM_CLASSES = 10  # CIFAR-10
DTYPES = ("float32", "float64")
SAMPLINGS = ("replacement", "shuffle")


class ConfigError(ValueError):
    """A training setting is invalid; the message names the setting and the value."""


def _positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
        raise ConfigError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _real(name: str, value: Any, *, low: float, low_ok: bool, high: float = math.inf) -> float:
    """``value`` as a finite float in ``[low, high]`` (``(low, high]`` unless ``low_ok``)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ConfigError(f"{name} must be a real number, got {value!r}")
    number = float(value)
    above_low = number >= low if low_ok else number > low
    if not (math.isfinite(number) and above_low and number <= high):
        bound = f"{'>=' if low_ok else '>'} {low:g}"
        if high < math.inf:
            bound += f" and <= {high:g}"
        raise ConfigError(f"{name} must be a finite number {bound}, got {value!r}")
    return number


def _choice(name: str, value: Any, choices: Iterable[str]) -> str:
    known = sorted(choices)
    if value not in known:
        raise ConfigError(f"unknown {name} {value!r}; choose one of {', '.join(known)}")
    return str(value)


@dataclass(frozen=True)
class TrainConfig:
    """Every setting of a training run; the defaults are the workbook's best net.

    A plain frozen dataclass of JSON scalars: picklable, hashable, comparable. Values are
    checked and normalised (ints stay ints, rates become floats) on construction, so a
    bad setting fails here with :class:`ConfigError` naming it.

    Attributes
    ----------
    hidden_size : H, units in the hidden layer.
    num_iters : training iterations (minibatch updates).
    batch_size : rows per minibatch.
    learning_rate : initial learning rate (> 0).
    lr_decay : factor applied to the rate after every epoch, in (0, 1].
    reg : L2 strength, the workbook's ``reg`` (>= 0).
    std : standard deviation of the initial weights (>= 0).
    seed : seeds the initial weights and the minibatch draws (>= 0).
    dtype : ``"float32"`` or ``"float64"``, for the data and the parameters.
    optimizer : a name known to ``optim.make_optimizer`` (``"sgd"``, ``"adam"`` ...).
    sampling : ``"replacement"`` (the workbook's) or ``"shuffle"`` (epochs without
        replacement).
    num_training, num_validation, num_test : sizes of the CIFAR-10 splits.
    """

    hidden_size: int = 50
    num_iters: int = 12000
    batch_size: int = 200
    learning_rate: float = 4e-4
    lr_decay: float = 0.95
    reg: float = 0.3
    std: float = 1e-4
    seed: int = 0
    dtype: str = "float32"
    optimizer: str = "sgd"
    sampling: str = "replacement"
    num_training: int = 49000
    num_validation: int = 1000
    num_test: int = 1000

    def __post_init__(self) -> None:
        checked: dict[str, Any] = {
            "learning_rate": _real("learning_rate", self.learning_rate, low=0.0, low_ok=False),
            "lr_decay": _real("lr_decay", self.lr_decay, low=0.0, low_ok=False, high=1.0),
            "reg": _real("reg", self.reg, low=0.0, low_ok=True),
            "std": _real("std", self.std, low=0.0, low_ok=True),
            "dtype": _choice("dtype", self.dtype, DTYPES),
            "optimizer": _choice("optimizer", self.optimizer, OPTIMIZERS),
            "sampling": _choice("sampling", self.sampling, SAMPLINGS),
        }
        for name in ("hidden_size", "num_iters", "batch_size", "num_training",
                     "num_validation", "num_test"):
            checked[name] = _positive_int(name, getattr(self, name))
        if isinstance(self.seed, bool) or not isinstance(self.seed, numbers.Integral) \
                or self.seed < 0:
            raise ConfigError(f"seed must be an integer >= 0, got {self.seed!r}")
        checked["seed"] = int(self.seed)
        for name, value in checked.items():
            object.__setattr__(self, name, value)  # frozen: normalise in place once

    def to_dict(self) -> dict[str, Any]:
        """The settings as a JSON-able dict (field order); inverse of :meth:`from_dict`."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrainConfig:
        """Build from a dict such as ``to_dict()`` gave; missing keys take the defaults.

        Raises
        ------
        ConfigError : unknown keys (e.g. a typo, or a config from a newer minigrad) or
            invalid values.
        """
        if not isinstance(data, Mapping):
            raise ConfigError(f"a config must be a mapping, got {type(data).__name__}")
        cls._check_keys(data)
        return cls(**data)

    def replace(self, **changes: Any) -> TrainConfig:
        """A copy with some settings changed (validated like the constructor)."""
        self._check_keys(changes)
        return replace(self, **changes)

    @classmethod
    def _check_keys(cls, keys: Iterable[str]) -> None:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(keys) - known)
        if unknown:
            raise ConfigError(
                f"unknown config key(s) {', '.join(map(repr, unknown))}; "
                f"known keys: {', '.join(sorted(known))}"
            )


BEST = TrainConfig()
"""The workbook's best net: H=50, 12000 iterations, batch 200, lr 4e-4, decay 0.95, reg 0.3."""

SUBOPTIMAL = TrainConfig(num_iters=1000, learning_rate=1e-4, reg=0.25)
"""The workbook's first, sub-optimal net (about 28% validation accuracy)."""

PRESETS: dict[str, TrainConfig] = {"best": BEST, "suboptimal": SUBOPTIMAL}


class DataSplit(Protocol):
    """What training needs from the data: ``data.Cifar10Split`` satisfies it.

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
        rows in ``config.dtype``; e.g. ``data.load_cifar10_split(dtype=config.dtype)``.
    callbacks : hooks for progress, keeping the best weights, stopping.

    Returns
    -------
    TrainResult with the final weights' accuracies.

    Raises
    ------
    ConfigError : the data's dtype is not ``config.dtype``.
    TrainingInterrupted : on Ctrl-C (a ``KeyboardInterrupt``), with the state so far.
    minigrad.DivergenceError : the loss became NaN or inf.
    """
    _check_split_dtype(config, split)
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
