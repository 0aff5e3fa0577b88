"""Learning-rate schedules: pure functions of the epoch, as small frozen dataclasses.

A schedule holds no position of its own (the optimiser owns ``epoch``), so the learning rate
at any epoch is a closed form: trivially testable, and resuming needs only the epoch number.
``to_dict()`` / :func:`schedule_from_dict` round-trip a schedule through JSON-able dicts.
"""

from __future__ import annotations

import math
import numbers
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

from minigrad.optim.names import lookup


def _real(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    return float(value)


def _check_lr(name: str, value: Any) -> float:
    lr = _real(name, value)
    if not (math.isfinite(lr) and lr >= 0.0):
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return lr


def _check_factor(name: str, value: Any) -> float:
    factor = _real(name, value)
    if not (0.0 < factor <= 1.0):
        raise ValueError(f"{name} must be in (0, 1], got {value!r}")
    return factor


def _check_positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _check_epoch(epoch: int) -> None:
    if epoch < 0:
        raise ValueError(f"epoch must be >= 0, got {epoch!r}")


@dataclass(frozen=True)
class Schedule(ABC):
    """Base class: ``schedule(epoch) -> learning rate``.

    Subclasses set ``name`` (the key in :data:`SCHEDULES`) and implement ``__call__``; their
    fields must be JSON-able scalars so that ``to_dict`` is.
    """

    name: ClassVar[str]

    @abstractmethod
    def __call__(self, epoch: int) -> float:
        """Learning rate at ``epoch`` (an int >= 0)."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-able description, ``{"name": ..., **fields}``; inverse of ``schedule_from_dict``."""
        return {"name": self.name, **asdict(self)}

    def _set(self, field: str, value: Any) -> None:
        # Normalise validated fields (e.g. np.float32 -> float) on a frozen instance.
        object.__setattr__(self, field, value)


@dataclass(frozen=True)
class Constant(Schedule):
    """``lr`` at every epoch."""

    lr: float
    name: ClassVar[str] = "constant"

    def __post_init__(self) -> None:
        self._set("lr", _check_lr("lr", self.lr))

    def __call__(self, epoch: int) -> float:
        _check_epoch(epoch)
        return self.lr


@dataclass(frozen=True)
class ExponentialDecay(Schedule):
    """``lr0 * decay ** epoch`` (the workbook's rule, with ``decay = 0.95``)."""

    lr0: float
    decay: float
    name: ClassVar[str] = "exponential"

    def __post_init__(self) -> None:
        self._set("lr0", _check_lr("lr0", self.lr0))
        self._set("decay", _check_factor("decay", self.decay))

    def __call__(self, epoch: int) -> float:
        _check_epoch(epoch)
        return self.lr0 * self.decay**epoch


@dataclass(frozen=True)
class StepDecay(Schedule):
    """``lr0 * gamma ** (epoch // step_size)``: multiply by ``gamma`` every ``step_size`` epochs."""

    lr0: float
    step_size: int
    gamma: float
    name: ClassVar[str] = "step"

    def __post_init__(self) -> None:
        self._set("lr0", _check_lr("lr0", self.lr0))
        self._set("step_size", _check_positive_int("step_size", self.step_size))
        self._set("gamma", _check_factor("gamma", self.gamma))

    def __call__(self, epoch: int) -> float:
        _check_epoch(epoch)
        return self.lr0 * self.gamma ** (epoch // self.step_size)


@dataclass(frozen=True)
class Cosine(Schedule):
    """Cosine annealing from ``lr0`` to ``min_lr`` over ``total_epochs``, then ``min_lr``.

    ``min_lr + (lr0 - min_lr) * (1 + cos(pi * min(epoch, total_epochs) / total_epochs)) / 2``.
    """

    lr0: float
    total_epochs: int
    min_lr: float = 0.0
    name: ClassVar[str] = "cosine"

    def __post_init__(self) -> None:
        self._set("lr0", _check_lr("lr0", self.lr0))
        self._set("total_epochs", _check_positive_int("total_epochs", self.total_epochs))
        self._set("min_lr", _check_lr("min_lr", self.min_lr))
        if self.min_lr > self.lr0:
            raise ValueError(
                f"min_lr must be <= lr0, got min_lr={self.min_lr!r} > lr0={self.lr0!r}"
            )

    def __call__(self, epoch: int) -> float:
        _check_epoch(epoch)
        progress = min(epoch, self.total_epochs) / self.total_epochs
        return self.min_lr + (self.lr0 - self.min_lr) * (1.0 + math.cos(math.pi * progress)) / 2.0


SCHEDULES: dict[str, type[Schedule]] = {
    cls.name: cls for cls in (Constant, ExponentialDecay, StepDecay, Cosine)
}
"""Schedule classes by name; register a custom :class:`Schedule` subclass here to make it
loadable by :func:`schedule_from_dict`."""


def make_schedule(name: str, **kwargs: Any) -> Schedule:
    """Build a schedule by name, e.g. ``make_schedule("exponential", lr0=1e-3, decay=0.95)``.

    Raises
    ------
    ValueError
        For an unknown name (the message lists the known ones) or invalid arguments.
    """
    return lookup(SCHEDULES, name, "schedule")(**kwargs)


def schedule_from_dict(data: dict[str, Any]) -> Schedule:
    """Inverse of :meth:`Schedule.to_dict`."""
    if "name" not in data:
        raise ValueError(f"schedule dict has no 'name': {data!r}")
    kwargs = dict(data)
    return make_schedule(kwargs.pop("name"), **kwargs)


def as_schedule(learning_rate: float | Schedule, argname: str = "learning_rate") -> Schedule:
    """A :class:`Schedule` as is, or a number wrapped in :class:`Constant`.

    Raises
    ------
    ValueError
        If a number is negative, NaN or infinite (the message names ``argname``).
    """
    if isinstance(learning_rate, Schedule):
        return learning_rate
    return Constant(_check_lr(argname, learning_rate))
