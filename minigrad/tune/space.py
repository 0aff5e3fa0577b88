"""The hyper-parameter search space and the reproducible list of trials drawn from it.

Trial ``i`` of a search with seed ``s`` is a pure function of ``(space, s, i)``: its
draws come from ``np.random.default_rng([s, i])``, one uniform number per setting in a
fixed order, so the trial list can be re-derived at any time (to resume a search), adding
trials never changes the earlier ones, and changing one range changes only that setting.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from minigrad.experiment.config import ConfigError, TrainConfig
from minigrad.optim import OPTIMIZERS
from minigrad.validation import check_choice, check_int, check_positive_int, check_real, describe

__all__ = [
    "LR_FAMILIES",
    "SearchSpace",
    "Trial",
    "TuneError",
    "iterations_per_epoch",
    "log_uniform",
    "sample_trial",
    "sample_trials",
    "trial_from_uniforms",
]

LR_FAMILIES: dict[str, str] = {
    "sgd": "sgd",
    "momentum": "momentum",
    "nesterov": "momentum",
    "rmsprop": "adaptive",
    "adam": "adaptive",
    "adagrad": "adaptive",
}
"""Which learning-rate range each optimiser draws from: plain SGD, momentum (whose
effective step is about ``lr / (1 - 0.9)``, so it wants ~10x smaller rates) and the
adaptive rules (whose step size is roughly the rate itself)."""

_UNIFORMS_PER_TRIAL = 7  # optimizer, lr, reg, decay, batch size, length, seed


class TuneError(ConfigError):
    """A search setting or a search's results file is invalid; the message names it."""


def log_uniform(u: float, low: float, high: float) -> float:
    """Map ``u`` in [0, 1) to ``[low, high]`` uniformly in log space (``low, high > 0``)."""
    return math.exp(math.log(low) + u * (math.log(high) - math.log(low)))


def _pick(u: float, choices: Sequence[Any]) -> Any:
    return choices[min(int(u * len(choices)), len(choices) - 1)]


def iterations_per_epoch(num_train: int, batch_size: int) -> int:
    """Full minibatches in one pass over ``num_train`` rows (at least 1)."""
    return max(num_train // batch_size, 1)


def _pair(name: str, value: Any) -> tuple[Any, Any]:
    try:
        low, high = value
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a pair LOW HIGH, got {describe(value)}") from None
    return low, high


def _items(name: str, value: Any, what: str) -> tuple[Any, ...]:
    """``value`` as a tuple, if it is a list or tuple (a string is not a list of names)."""
    if not isinstance(value, (list, tuple)):
        raise TypeError(f"{name} must be a list of {what}, got {describe(value)}")
    return tuple(value)


def _range(name: str, value: Any, *, upper: float = math.inf) -> tuple[float, float]:
    """``value`` as a pair ``0 < LOW <= HIGH <= upper`` of finite floats."""
    low, high = (
        check_real(bound, f"{name} {which}", low=0.0, low_open=True, high=upper)
        for bound, which in zip(_pair(name, value), ("LOW", "HIGH"), strict=True)
    )
    if low > high:
        raise ValueError(f"{name} must be LOW <= HIGH, got {low:g} > {high:g}")
    return low, high


def _int_range(name: str, value: Any) -> tuple[int, int]:
    """``value`` as a pair ``0 < LOW <= HIGH`` of ints."""
    low, high = (
        check_positive_int(bound, f"{name} {which}")
        for bound, which in zip(_pair(name, value), ("LOW", "HIGH"), strict=True)
    )
    if low > high:
        raise ValueError(f"{name} must be LOW <= HIGH, got {low} > {high}")
    return low, high


@dataclass(frozen=True)
class SearchSpace:
    """Where the random search looks, and the settings every trial shares.

    Attributes
    ----------
    optimizers : names from ``minigrad.optim.OPTIMIZERS``, drawn uniformly.
    lr_sgd, lr_momentum, lr_adaptive : log-uniform learning-rate ranges (LOW, HIGH) for
        each family of :data:`LR_FAMILIES`.
    reg : log-uniform range of the L2 strength.
    lr_decay : uniform range of the per-epoch learning-rate factor, within (0, 1].
    num_iters : uniform integer range of the training iterations ...
    num_epochs : ... or, when set, of epochs (``epochs * (N // batch_size)`` iterations).
    batch_sizes : drawn uniformly.
    hidden_size, sampling, dtype, std : shared by all trials.
    """

    optimizers: tuple[str, ...] = tuple(LR_FAMILIES)
    lr_sgd: tuple[float, float] = (1e-4, 3e-3)
    lr_momentum: tuple[float, float] = (3e-5, 1e-3)
    lr_adaptive: tuple[float, float] = (1e-4, 1e-2)
    reg: tuple[float, float] = (1e-2, 1.0)
    lr_decay: tuple[float, float] = (0.85, 1.0)
    num_iters: tuple[int, int] = (1000, 4000)
    num_epochs: tuple[int, int] | None = None
    batch_sizes: tuple[int, ...] = (100, 200, 400)
    hidden_size: int = 50
    sampling: str = "shuffle"
    dtype: str = "float32"
    std: float = 1e-4

    def __post_init__(self) -> None:
        try:
            checked = self._checked_fields()
        except (TypeError, ValueError) as err:  # one error type for every bad setting
            raise TuneError(str(err)) from None
        for name, value in checked.items():
            object.__setattr__(self, name, value)  # frozen: normalise once
        # The shared settings are checked by TrainConfig itself.
        self.base_config()

    def _checked_fields(self) -> dict[str, Any]:
        """The search ranges checked and normalised (``TypeError`` / ``ValueError``)."""
        optimizers = _items("optimizers", self.optimizers, "optimiser names")
        if not optimizers:
            raise ValueError("optimizers must name at least one optimiser")
        known = set(OPTIMIZERS) & set(LR_FAMILIES)
        checked: dict[str, Any] = {
            "optimizers": tuple(check_choice(name, "optimizer", known) for name in optimizers),
            "reg": _range("reg", self.reg),
            "lr_decay": _range("lr_decay", self.lr_decay, upper=1.0),
            "num_iters": _int_range("num_iters", self.num_iters),
        }
        for family in ("lr_sgd", "lr_momentum", "lr_adaptive"):
            checked[family] = _range(family, getattr(self, family))
        if self.num_epochs is not None:
            checked["num_epochs"] = _int_range("num_epochs", self.num_epochs)
        sizes = _items("batch_sizes", self.batch_sizes, "batch sizes")
        if not sizes:
            raise ValueError("batch_sizes must hold at least one batch size")
        checked["batch_sizes"] = tuple(
            check_positive_int(size, f"batch_sizes[{i}]") for i, size in enumerate(sizes)
        )
        return checked

    def lr_range(self, optimizer: str) -> tuple[float, float]:
        """The learning-rate range ``optimizer`` draws from."""
        range_: tuple[float, float] = getattr(self, f"lr_{LR_FAMILIES[optimizer]}")
        return range_

    def base_config(self, **sizes: int) -> TrainConfig:
        """The settings shared by all trials (``sizes``: num_training etc.)."""
        shared: dict[str, Any] = {
            "hidden_size": self.hidden_size, "sampling": self.sampling, "dtype": self.dtype,
            "std": self.std, **sizes,
        }
        try:
            return TrainConfig(**shared)
        except ConfigError as err:
            raise TuneError(str(err)) from None

    def to_dict(self) -> dict[str, Any]:
        """JSON-able settings (tuples as lists); inverse of :meth:`from_dict`."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SearchSpace:
        """Inverse of :meth:`to_dict`; ``TuneError`` for unknown keys or bad values."""
        known = {f for f in cls.__dataclass_fields__}
        unknown = sorted(set(data) - known)
        if unknown:
            raise TuneError(f"unknown search-space setting(s) {unknown}")
        values: dict[str, Any] = {
            key: tuple(value) if isinstance(value, list) else value for key, value in data.items()
        }
        return cls(**values)


@dataclass(frozen=True)
class Trial:
    """One configuration of a search.

    Attributes
    ----------
    trial_id : its index in the search (0-based).
    optimizer, learning_rate, reg, lr_decay, batch_size, num_iters : the drawn settings.
    num_epochs : the drawn epoch count when the space draws epochs, else None.
    seed : seeds the trial's initial weights and minibatches.
    """

    trial_id: int
    optimizer: str
    learning_rate: float
    reg: float
    lr_decay: float
    batch_size: int
    num_iters: int
    num_epochs: int | None
    seed: int

    def train_config(self, space: SearchSpace, **sizes: int) -> TrainConfig:
        """The full :class:`TrainConfig` of this trial (``sizes``: num_training etc.)."""
        return space.base_config(**sizes).replace(
            optimizer=self.optimizer, learning_rate=self.learning_rate, reg=self.reg,
            lr_decay=self.lr_decay, batch_size=self.batch_size, num_iters=self.num_iters,
            seed=self.seed,
        )


def trial_from_uniforms(
    space: SearchSpace, trial_id: int, u: Sequence[float], num_train: int
) -> Trial:
    """The trial that uniform numbers ``u`` (7 values in [0, 1)) select from ``space``.

    Parameters
    ----------
    space : the search space.
    trial_id : the trial's index.
    u : one uniform number per setting, in the order optimiser, learning rate, reg,
        decay, batch size, length (iterations or epochs), seed.
    num_train : training rows N, to turn epochs into iterations.
    """
    optimizer = _pick(u[0], space.optimizers)
    batch_size = _pick(u[4], space.batch_sizes)
    num_epochs = None
    if space.num_epochs is not None:
        low, high = space.num_epochs
        num_epochs = low + min(int(u[5] * (high - low + 1)), high - low)
        num_iters = num_epochs * iterations_per_epoch(num_train, batch_size)
    else:
        low, high = space.num_iters
        num_iters = low + min(int(u[5] * (high - low + 1)), high - low)
    decay_low, decay_high = space.lr_decay
    return Trial(
        trial_id=trial_id,
        optimizer=optimizer,
        learning_rate=log_uniform(u[1], *space.lr_range(optimizer)),
        reg=log_uniform(u[2], *space.reg),
        lr_decay=decay_low + u[3] * (decay_high - decay_low),
        batch_size=batch_size,
        num_iters=num_iters,
        num_epochs=num_epochs,
        seed=int(u[6] * 2**31),
    )


def sample_trial(space: SearchSpace, seed: int, trial_id: int, num_train: int) -> Trial:
    """Trial ``trial_id`` of the search with ``seed`` (see the module docstring)."""
    uniforms = np.random.default_rng([seed, trial_id]).random(_UNIFORMS_PER_TRIAL)
    return trial_from_uniforms(space, trial_id, uniforms.tolist(), num_train)


def sample_trials(space: SearchSpace, seed: int, num_trials: int, num_train: int) -> list[Trial]:
    """Trials ``0 .. num_trials - 1`` of the search with ``seed``."""
    try:
        seed = check_int(seed, "seed", low=0)
        num_trials = check_positive_int(num_trials, "num_trials")
    except (TypeError, ValueError) as err:
        raise TuneError(str(err)) from None
    return [sample_trial(space, seed, i, num_train) for i in range(num_trials)]
