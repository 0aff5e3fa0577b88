"""Learning-rate schedules: pure functions of the epoch, as small frozen dataclasses.

A schedule holds no position of its own (the optimiser owns ``epoch``), so the learning rate
at any epoch is a closed form: trivially testable, and resuming needs only the epoch number.
``to_dict()`` / :func:`schedule_from_dict` round-trip a schedule through JSON-able dicts.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

from minigrad.validation import check_choice, check_int, check_positive_int, check_real


def _check_lr(value: Any, name: str) -> float:
    """A learning rate: a finite real >= 0 (0 freezes the parameters, which is allowed)."""
    return check_real(value, name, low=0.0)


def _check_factor(value: Any, name: str) -> float:
    """A multiplicative decay per epoch or step: in (0, 1], 1 meaning no decay."""
    return check_real(value, name, low=0.0, high=1.0, low_open=True)


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
        self._set("lr", _check_lr(self.lr, "lr"))

    def __call__(self, epoch: int) -> float:
        epoch = check_int(epoch, "epoch", low=0)
        return self.lr


@dataclass(frozen=True)
class ExponentialDecay(Schedule):
    """``lr0 * decay ** epoch`` (the workbook's rule, with ``decay = 0.95``)."""

    lr0: float
    decay: float
    name: ClassVar[str] = "exponential"

    def __post_init__(self) -> None:
        self._set("lr0", _check_lr(self.lr0, "lr0"))
        self._set("decay", _check_factor(self.decay, "decay"))

    def __call__(self, epoch: int) -> float:
        epoch = check_int(epoch, "epoch", low=0)
        return self.lr0 * self.decay**epoch


@dataclass(frozen=True)
class StepDecay(Schedule):
    """``lr0 * gamma ** (epoch // step_size)``: multiply by ``gamma`` every ``step_size`` epochs."""

    lr0: float
    step_size: int
    gamma: float
    name: ClassVar[str] = "step"

    def __post_init__(self) -> None:
        self._set("lr0", _check_lr(self.lr0, "lr0"))
        self._set("step_size", check_positive_int(self.step_size, "step_size"))
        self._set("gamma", _check_factor(self.gamma, "gamma"))

    def __call__(self, epoch: int) -> float:
        epoch = check_int(epoch, "epoch", low=0)
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
        self._set("lr0", _check_lr(self.lr0, "lr0"))
        self._set("total_epochs", check_positive_int(self.total_epochs, "total_epochs"))
        self._set("min_lr", _check_lr(self.min_lr, "min_lr"))
        if self.min_lr > self.lr0:
            raise ValueError(
                f"min_lr must be <= lr0, got min_lr={self.min_lr!r} > lr0={self.lr0!r}"
            )

    def __call__(self, epoch: int) -> float:
        epoch = check_int(epoch, "epoch", low=0)
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
        For an unknown name (the message lists the known ones) or an argument out of range.
    TypeError
        For an argument of the wrong kind (e.g. a string where a number belongs).
    """
    return SCHEDULES[check_choice(name, "schedule", SCHEDULES)](**kwargs)


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
    TypeError
        If ``learning_rate`` is neither a Schedule nor a real number.
    """
    if isinstance(learning_rate, Schedule):
        return learning_rate
    return Constant(_check_lr(learning_rate, argname))
