"""The settings of a CIFAR-10 training run: :class:`TrainConfig`, its presets and its limits.

>>> from minigrad.experiment.config import BEST
>>> BEST.replace(seed=3, optimizer="adam").to_dict()["optimizer"]
'adam'

A config is a frozen dataclass of JSON scalars, checked on construction, so it can be
written to ``config.json``, sent to a worker process and compared for equality.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from minigrad.optim import OPTIMIZERS
from minigrad.validation import check_choice, check_int, check_positive_int, check_real

__all__ = [
    "BEST",
    "DTYPES",
    "NUM_CLASSES",
    "PRESETS",
    "SAMPLINGS",
    "SUBOPTIMAL",
    "ConfigError",
    "TrainConfig",
]

NUM_CLASSES = 10  # CIFAR-10
DTYPES = ("float32", "float64")
SAMPLINGS = ("replacement", "shuffle")


class ConfigError(ValueError):
    """A training setting is invalid; the message names the setting and the value."""


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
    optimizer : a name known to ``minigrad.optim.make_optimizer`` (``"sgd"``, ``"adam"`` ...).
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
        try:
            checked = self._checked_fields()
        except (TypeError, ValueError) as err:  # one error type for every bad setting
            raise ConfigError(str(err)) from None
        for name, value in checked.items():
            object.__setattr__(self, name, value)  # frozen: normalise in place once

    def _checked_fields(self) -> dict[str, Any]:
        """Every field checked and normalised (``TypeError`` / ``ValueError`` naming it)."""
        checked: dict[str, Any] = {
            name: check_positive_int(getattr(self, name), name)
            for name in ("hidden_size", "num_iters", "batch_size", "num_training",
                         "num_validation", "num_test")
        }
        checked.update(
            learning_rate=check_real(self.learning_rate, "learning_rate", low=0.0,
                                     low_open=True),
            lr_decay=check_real(self.lr_decay, "lr_decay", low=0.0, low_open=True, high=1.0),
            reg=check_real(self.reg, "reg", low=0.0),
            std=check_real(self.std, "std", low=0.0),
            seed=check_int(self.seed, "seed", low=0),
            dtype=check_choice(self.dtype, "dtype", DTYPES),
            optimizer=check_choice(self.optimizer, "optimizer", OPTIMIZERS),
            sampling=check_choice(self.sampling, "sampling", SAMPLINGS),
        )
        return checked

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
