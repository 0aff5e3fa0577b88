"""Build optimisers by name (for configs and the command line) and from saved state dicts."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

from minigrad.optim.adaptive import Adagrad, Adam, RMSProp
from minigrad.optim.optimizer import Optimizer
from minigrad.optim.sgd import SGD
from minigrad.validation import check_choice

OPTIMIZERS: dict[str, Callable[..., Optimizer]] = {
    "sgd": SGD,
    "momentum": partial(SGD, momentum=0.9),
    "nesterov": partial(SGD, momentum=0.9, nesterov=True),
    "rmsprop": RMSProp,
    "adam": Adam,
    "adagrad": Adagrad,
}
"""Optimiser factories by name; keyword arguments override the defaults baked in here."""


def make_optimizer(name: str, **kwargs: Any) -> Optimizer:
    """Build an optimiser by name, e.g. ``make_optimizer("momentum", learning_rate=1e-2)``.

    Parameters
    ----------
    name : str
        A key of :data:`OPTIMIZERS`.
    **kwargs
        Constructor arguments (``learning_rate`` may be a number or a Schedule).

    Raises
    ------
    ValueError
        For an unknown name (the message lists the known ones) or an argument out of range.
    TypeError
        For an argument of the wrong kind (e.g. a string where a number belongs).
    """
    return OPTIMIZERS[check_choice(name, "optimizer", OPTIMIZERS)](**kwargs)


def optimizer_from_state_dict(
    state: Mapping[str, Any], params: Mapping[str, Any] | None = None
) -> Optimizer:
    """A new optimiser of the saved type, with ``load_state_dict(state, params)`` applied."""
    name = state.get("name")
    if not isinstance(name, str):
        raise ValueError(f"optimiser state has no valid 'name' entry, got {name!r}")
    optimizer = make_optimizer(name)
    optimizer.load_state_dict(state, params)
    return optimizer
