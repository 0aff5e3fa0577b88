"""The hyper-parameter search space, and how one trial's settings are chosen from it.

A trial's settings are chosen by :func:`choose_trial`, one named choice at a time, from a
:class:`Chooser`. Two choosers exist, so there is one definition of the space:

- :class:`SeededChooser`, the seeded trial list: trial ``i`` of a search with seed ``s``
  is a pure function of ``(space, s, i)``. Its draws come from
  ``np.random.default_rng([s, i])``, one uniform number per setting in a fixed order, so
  the list can be re-derived at any time, adding trials never changes the earlier ones,
  and changing one range changes only that setting. The random sampler of ``minigrad
  tune`` enqueues exactly these settings into the study.
- an Optuna trial (``optuna.Trial`` has ``suggest_categorical`` / ``suggest_float`` /
  ``suggest_int``, which is all a chooser needs), so a model-based sampler (TPE) picks the
  same parameters by the same names. Given the seeded list's values as fixed parameters,
  it returns them unchanged.

A setting whose range is a single value (one optimiser, ``LOW == HIGH``) is fixed, not
chosen: it is no parameter of the study.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Protocol

import numpy as np

from minigrad.experiment.config import (
    INPUT_NORMALIZATIONS,
    MAX_TRANSLATE,
    SCHEDULES,
    ConfigError,
    TrainConfig,
)
from minigrad.optim import OPTIMIZERS
from minigrad.validation import check_choice, check_int, check_positive_int, check_real, describe

__all__ = [
    "LR_FAMILIES",
    "Chooser",
    "SearchSpace",
    "SeededChooser",
    "Trial",
    "TuneError",
    "architecture_label",
    "choose_trial",
    "iterations_per_epoch",
    "log_uniform",
    "parse_architecture",
    "sample_trial",
    "sample_trials",
    "seeded_params",
    "trial_seed",
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
adaptive rules (whose step size is roughly the rate itself). Each family is its own
parameter of the study (``lr_sgd``, ``lr_momentum``, ``lr_adaptive``), so a model-based
sampler never mixes the scales."""

# The seeded list's uniform number for each choice, by name. New choices take new indices
# at the end, so the earlier draws of every trial stay what they were.
_UNIFORM_INDEX = {
    "optimizer": 0, "lr_sgd": 1, "lr_momentum": 1, "lr_adaptive": 1, "reg": 2,
    "lr_decay": 3, "batch_size": 4, "num_iters": 5, "num_epochs": 5, "seed": 6,
    "hidden_dims": 7, "schedule": 8, "flip": 9, "translate": 10, "normalize": 11,
}
_UNIFORMS_PER_TRIAL = 12  # the first 8 of 12 draws are the 8 an older search drew


class TuneError(ConfigError):
    """A search setting or a search's study is invalid; the message names it."""


def log_uniform(u: float, low: float, high: float) -> float:
    """Map ``u`` in [0, 1) to ``[low, high]`` uniformly in log space (``low, high > 0``)."""
    if low == high:
        return low
    return math.exp(math.log(low) + u * (math.log(high) - math.log(low)))


def iterations_per_epoch(num_train: int, batch_size: int) -> int:
    """Full minibatches in one pass over ``num_train`` rows (at least 1)."""
    return max(num_train // batch_size, 1)


def architecture_label(dims: Sequence[int]) -> str:
    """``(100, 50)`` -> ``"100,50"``: hidden widths as the study and the CSV show them."""
    return ",".join(str(width) for width in dims)


def parse_architecture(text: str) -> tuple[int, ...]:
    """``"100,50"`` -> ``(100, 50)``; ``ValueError`` naming a bad width."""
    try:
        dims = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise ValueError(
            f"hidden dims must be widths separated by commas (e.g. 100,50), got "
            f"{describe(text)}"
        ) from None
    for width in dims:
        check_positive_int(width, "a hidden width")
    return dims


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


def _choices(name: str, value: Any, allowed: Sequence[Any], what: str) -> tuple[Any, ...]:
    """``value`` as a non-empty tuple of distinct members of ``allowed``, in its order."""
    items = _items(name, value, what)
    if not items:
        raise ValueError(f"{name} must hold at least one choice")
    for item in items:
        # bools are ints: only a bool is a flip choice, and no bool is a shift
        if item not in allowed or isinstance(item, bool) != isinstance(allowed[0], bool):
            raise ValueError(f"{name} choices must be among {list(allowed)}, got {describe(item)}")
    return tuple(dict.fromkeys(items))


def _architectures(value: Any) -> tuple[tuple[int, ...], ...]:
    """``value`` as a non-empty tuple of distinct hidden-width tuples."""
    choices = _items("hidden_dims", value, "architectures (lists of hidden widths)")
    if not choices:
        raise ValueError("hidden_dims must hold at least one architecture")
    checked = []
    for i, dims in enumerate(choices):
        widths = _items(f"hidden_dims[{i}]", dims, "hidden widths")
        checked.append(tuple(check_positive_int(w, f"hidden_dims[{i}] width") for w in widths))
    if len(set(checked)) != len(checked):
        raise ValueError(f"hidden_dims lists an architecture twice: {describe(value)}")
    return tuple(checked)


@dataclass(frozen=True)
class SearchSpace:
    """Where the search looks, and the settings every trial shares.

    Attributes
    ----------
    optimizers : names from ``minigrad.optim.OPTIMIZERS``.
    lr_sgd, lr_momentum, lr_adaptive : log-uniform learning-rate ranges (LOW, HIGH) for
        each family of :data:`LR_FAMILIES`.
    reg : log-uniform range of the L2 strength.
    lr_decay : uniform range of the per-epoch learning-rate factor (the schedule), in (0, 1].
    num_iters : integer range of the training iterations ...
    num_epochs : ... or, when set, of epochs (``epochs * (N // batch_size)`` iterations).
    batch_sizes : the batch sizes to choose from.
    hidden_dims : the architectures to choose from, each the widths of the hidden layers;
        the default is the workbook's net, one hidden layer of 50, fixed.
    schedules : the learning-rate schedules to choose from (``"exponential"`` uses the
        chosen ``lr_decay``; ``"cosine"`` anneals to 0 over the trial).
    flip : whether to flip training images, the choices (``(False,)``: never).
    translate : the largest random shifts to choose from, in pixels (``(0,)``: none).
    normalize : the input normalisations to choose from (``"mean-image"``,
        ``"per-channel"``). The defaults are the workbook's data, fixed; any other choice
        trains that trial on the image pipeline (``TrainConfig.uses_image_pipeline``).
    sampling, dtype, std, padding, weight_init : shared by all trials (``weight_init``:
        ``"normal"``, ``std * randn``, or ``"he"``, as in :class:`TrainConfig`).
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
    hidden_dims: tuple[tuple[int, ...], ...] = ((50,),)
    schedules: tuple[str, ...] = ("exponential",)
    flip: tuple[bool, ...] = (False,)
    translate: tuple[int, ...] = (0,)
    normalize: tuple[str, ...] = ("mean-image",)
    sampling: str = "shuffle"
    dtype: str = "float32"
    std: float = 1e-4
    padding: str = "zero"
    weight_init: str = "normal"

    def __post_init__(self) -> None:
        try:
            checked = self._checked_fields()
        except (TypeError, ValueError) as err:  # one error type for every bad setting
            raise TuneError(str(err)) from None
        for name, value in checked.items():
            object.__setattr__(self, name, value)  # frozen: normalise once
        # The shared settings are checked by TrainConfig itself.
        for dims in self.hidden_dims:
            self.base_config(dims)

    def _checked_fields(self) -> dict[str, Any]:
        """The search ranges checked and normalised (``TypeError`` / ``ValueError``)."""
        optimizers = _items("optimizers", self.optimizers, "optimiser names")
        if not optimizers:
            raise ValueError("optimizers must name at least one optimiser")
        known = set(OPTIMIZERS) & set(LR_FAMILIES)
        checked: dict[str, Any] = {
            "optimizers": tuple(
                dict.fromkeys(check_choice(name, "optimizer", known) for name in optimizers)
            ),
            "reg": _range("reg", self.reg),
            "lr_decay": _range("lr_decay", self.lr_decay, upper=1.0),
            "num_iters": _int_range("num_iters", self.num_iters),
            "hidden_dims": _architectures(self.hidden_dims),
        }
        for family in ("lr_sgd", "lr_momentum", "lr_adaptive"):
            checked[family] = _range(family, getattr(self, family))
        if self.num_epochs is not None:
            checked["num_epochs"] = _int_range("num_epochs", self.num_epochs)
        sizes = _items("batch_sizes", self.batch_sizes, "batch sizes")
        if not sizes:
            raise ValueError("batch_sizes must hold at least one batch size")
        checked["batch_sizes"] = tuple(dict.fromkeys(
            check_positive_int(size, f"batch_sizes[{i}]") for i, size in enumerate(sizes)
        ))
        checked.update(
            schedules=_choices("schedules", self.schedules, SCHEDULES, "schedule names"),
            flip=_choices("flip", self.flip, (False, True), "booleans"),
            translate=_choices("translate", self.translate, range(MAX_TRANSLATE + 1),
                               "shifts in pixels"),
            normalize=_choices("normalize", self.normalize, INPUT_NORMALIZATIONS,
                               "normalisation names"),
        )
        return checked

    @property
    def uses_image_pipeline(self) -> bool:
        """Whether some trial may train on the image pipeline (augmented or per channel)."""
        return any(self.flip) or any(self.translate) or self.normalize != ("mean-image",)

    @property
    def uses_rows(self) -> bool:
        """Whether some trial may train on the workbook's float rows."""
        return False in self.flip and 0 in self.translate and "mean-image" in self.normalize

    def lr_range(self, optimizer: str) -> tuple[float, float]:
        """The learning-rate range ``optimizer`` draws from."""
        range_: tuple[float, float] = getattr(self, f"lr_{LR_FAMILIES[optimizer]}")
        return range_

    def base_config(self, hidden_dims: tuple[int, ...] | None = None, **sizes: int) -> TrainConfig:
        """The settings shared by all trials, for architecture ``hidden_dims`` (default:
        the first) and ``sizes`` (num_training etc.)."""
        dims = self.hidden_dims[0] if hidden_dims is None else hidden_dims
        shared: dict[str, Any] = {"hidden_dims": dims, "sampling": self.sampling,
                                  "dtype": self.dtype, "std": self.std,
                                  "padding": self.padding, "weight_init": self.weight_init,
                                  **sizes}
        try:
            return TrainConfig(**shared)
        except (ConfigError, ValueError) as err:
            raise TuneError(str(err)) from None

    def to_dict(self) -> dict[str, Any]:
        """JSON-able settings (tuples as lists); inverse of :meth:`from_dict`."""
        values = asdict(self)
        values["hidden_dims"] = [list(dims) for dims in self.hidden_dims]
        return values

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
        if isinstance(values.get("hidden_dims"), tuple):
            values["hidden_dims"] = tuple(
                tuple(dims) if isinstance(dims, list) else dims for dims in values["hidden_dims"]
            )
        return cls(**values)


@dataclass(frozen=True)
class Trial:
    """One configuration of a search.

    Attributes
    ----------
    trial_id : its number in the search (0-based); a retry of a trial keeps it.
    optimizer, learning_rate, reg, lr_decay, batch_size, num_iters : the chosen settings.
    num_epochs : the chosen epoch count when the space chooses epochs, else None.
    seed : seeds the trial's initial weights and minibatches.
    hidden_dims : the widths of the net's hidden layers.
    schedule, flip, translate, normalize : the learning-rate schedule and the data pipeline.
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
    hidden_dims: tuple[int, ...] = (50,)
    schedule: str = "exponential"
    flip: bool = False
    translate: int = 0
    normalize: str = "mean-image"

    def train_config(self, space: SearchSpace, **sizes: int) -> TrainConfig:
        """The full :class:`TrainConfig` of this trial (``sizes``: num_training etc.)."""
        return space.base_config(self.hidden_dims, **sizes).replace(
            optimizer=self.optimizer, learning_rate=self.learning_rate, reg=self.reg,
            lr_decay=self.lr_decay, batch_size=self.batch_size, num_iters=self.num_iters,
            seed=self.seed, schedule=self.schedule, flip=self.flip, translate=self.translate,
            normalize=self.normalize,
        )


class Chooser(Protocol):
    """What :func:`choose_trial` asks: one choice per named setting (an ``optuna.Trial``
    is one)."""

    def suggest_categorical(self, name: str, choices: Sequence[Any]) -> Any: ...
    def suggest_float(self, name: str, low: float, high: float, *, log: bool = False) -> float: ...
    def suggest_int(self, name: str, low: int, high: int) -> int: ...


class SeededChooser:
    """The seeded trial list's choices for trial ``trial_id`` of the search with ``seed``.

    Attributes
    ----------
    params : every choice made so far, by name (the study's parameters of the trial).
    """

    def __init__(self, seed: int, trial_id: int) -> None:
        self.uniforms = np.random.default_rng([seed, trial_id]).random(_UNIFORMS_PER_TRIAL)
        self.params: dict[str, Any] = {}

    def _u(self, name: str) -> float:
        return float(self.uniforms[_UNIFORM_INDEX[name]])

    def suggest_categorical(self, name: str, choices: Sequence[Any]) -> Any:
        u = self._u(name)
        value = choices[min(int(u * len(choices)), len(choices) - 1)]
        self.params[name] = value
        return value

    def suggest_float(self, name: str, low: float, high: float, *, log: bool = False) -> float:
        u = self._u(name)
        value = log_uniform(u, low, high) if log else low + u * (high - low)
        self.params[name] = value
        return value

    def suggest_int(self, name: str, low: int, high: int) -> int:
        u = self._u(name)
        value = low + min(int(u * (high - low + 1)), high - low)
        self.params[name] = value
        return value


def trial_seed(seed: int, trial_id: int) -> int:
    """The training seed of trial ``trial_id`` of the search with ``seed`` (any sampler)."""
    return int(SeededChooser(seed, trial_id)._u("seed") * 2**31)


def _categorical(chooser: Chooser, name: str, choices: Sequence[Any]) -> Any:
    return choices[0] if len(choices) == 1 else chooser.suggest_categorical(name, choices)


def _float(chooser: Chooser, name: str, bounds: tuple[float, float], log: bool) -> float:
    low, high = bounds
    return low if low == high else chooser.suggest_float(name, low, high, log=log)


def _int(chooser: Chooser, name: str, bounds: tuple[int, int]) -> int:
    low, high = bounds
    return low if low == high else chooser.suggest_int(name, low, high)


def _choose_pipeline(chooser: Chooser, space: SearchSpace) -> dict[str, Any]:
    """The schedule and the data pipeline's settings of a trial (augmentation, normalisation).

    Chosen after every older setting, each by its own name and uniform number, so a search
    whose space fixes them draws what it drew before they existed.
    """
    return {
        "schedule": _categorical(chooser, "schedule", space.schedules),
        "flip": _categorical(chooser, "flip", space.flip),
        "translate": _categorical(chooser, "translate", space.translate),
        "normalize": _categorical(chooser, "normalize", space.normalize),
    }


def choose_trial(chooser: Chooser, space: SearchSpace, trial_id: int, seed: int,
                 num_train: int) -> Trial:
    """Trial ``trial_id`` of the search with ``seed``, its settings chosen by ``chooser``.

    Parameters
    ----------
    chooser : :class:`SeededChooser` (the seeded list) or an ``optuna.Trial``.
    space : the search space.
    trial_id : the trial's number in the search.
    seed : the search's seed (the trial's training seed derives from it and ``trial_id``).
    num_train : training rows N, to turn epochs into iterations.
    """
    optimizer = _categorical(chooser, "optimizer", space.optimizers)
    learning_rate = _float(chooser, f"lr_{LR_FAMILIES[optimizer]}", space.lr_range(optimizer),
                           log=True)
    reg = _float(chooser, "reg", space.reg, log=True)
    lr_decay = _float(chooser, "lr_decay", space.lr_decay, log=False)
    batch_size = _categorical(chooser, "batch_size", space.batch_sizes)
    num_epochs = None
    if space.num_epochs is not None:
        num_epochs = _int(chooser, "num_epochs", space.num_epochs)
        num_iters = num_epochs * iterations_per_epoch(num_train, batch_size)
    else:
        num_iters = _int(chooser, "num_iters", space.num_iters)
    labels = [architecture_label(dims) for dims in space.hidden_dims]
    hidden_dims = space.hidden_dims[labels.index(_categorical(chooser, "hidden_dims", labels))]
    pipeline = _choose_pipeline(chooser, space)
    return Trial(
        trial_id=trial_id, optimizer=optimizer, learning_rate=learning_rate, reg=reg,
        lr_decay=lr_decay, batch_size=batch_size, num_iters=num_iters, num_epochs=num_epochs,
        seed=trial_seed(seed, trial_id), hidden_dims=hidden_dims, **pipeline,
    )


def sample_trial(space: SearchSpace, seed: int, trial_id: int, num_train: int) -> Trial:
    """Trial ``trial_id`` of the seeded list of the search with ``seed``."""
    return choose_trial(SeededChooser(seed, trial_id), space, trial_id, seed, num_train)


def seeded_params(space: SearchSpace, seed: int, trial_id: int, num_train: int) -> dict[str, Any]:
    """The study parameters of :func:`sample_trial` (what the random sampler enqueues)."""
    chooser = SeededChooser(seed, trial_id)
    choose_trial(chooser, space, trial_id, seed, num_train)
    return chooser.params


def sample_trials(space: SearchSpace, seed: int, num_trials: int, num_train: int) -> list[Trial]:
    """Trials ``0 .. num_trials - 1`` of the seeded list of the search with ``seed``."""
    try:
        seed = check_int(seed, "seed", low=0)
        num_trials = check_positive_int(num_trials, "num_trials")
    except (TypeError, ValueError) as err:
        raise TuneError(str(err)) from None
    return [sample_trial(space, seed, i, num_train) for i in range(num_trials)]
