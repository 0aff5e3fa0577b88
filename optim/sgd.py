"""Stochastic gradient descent, with optional (Nesterov) momentum.

Momentum convention (PyTorch / Sutskever et al. 2013), ``mu`` the momentum, ``v`` the velocity::

    v = mu * v + g
    p -= lr * v               # classical momentum
    p -= lr * (g + mu * v)    # Nesterov, with the new v

The learning rate multiplies the velocity at update time (not folded into ``v``), so changing
the learning rate mid-run does not rescale the accumulated velocity.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from optim.kernels import axpby, axpy
from optim.optimizer import Array, Optimizer, check_unit_interval
from optim.schedules import Schedule


def sgd_update(
    param: Array,
    grad: Array,
    velocity: Array | None,
    *,
    lr: float,
    momentum: float = 0.0,
    nesterov: bool = False,
) -> None:
    """One SGD step on one array, in place.

    Parameters
    ----------
    param : ndarray, shape (*S)
        Updated in place.
    grad : ndarray, shape (*S)
        Gradient of the loss with respect to ``param``.
    velocity : ndarray, shape (*S), or None
        Momentum buffer, updated in place; ``None`` for plain SGD (``p -= lr * g``).
    lr, momentum : float
        Learning rate and momentum coefficient ``mu``.
    nesterov : bool
        Use the Nesterov form ``p -= lr * (g + mu * v)``.
    """
    if velocity is None:
        axpy(-lr, grad, param)  # one fused BLAS pass, no temporary
        return
    axpby(1.0, grad, momentum, velocity)
    if nesterov:
        axpy(-lr, grad, param)
        axpy(-lr * momentum, velocity, param)
    else:
        axpy(-lr, velocity, param)


class SGD(Optimizer):
    """SGD, optionally with momentum or Nesterov momentum (see the module docstring).

    Parameters
    ----------
    learning_rate : float or Schedule
        Step size (>= 0), constant or a schedule of the epoch.
    momentum : float
        ``mu`` in [0, 1); 0 means plain SGD (no state).
    nesterov : bool
        Nesterov momentum; requires ``momentum > 0``.

    Notes
    -----
    State: ``velocity`` (shape and dtype of the parameter) when ``momentum > 0``.
    """

    name = "sgd"

    def __init__(
        self, learning_rate: float | Schedule = 1e-3, momentum: float = 0.0, nesterov: bool = False
    ) -> None:
        super().__init__(learning_rate)
        self.momentum = check_unit_interval("momentum", momentum)
        if not isinstance(nesterov, (bool, np.bool_)):
            raise ValueError(f"nesterov must be a bool, got {nesterov!r}")
        if nesterov and self.momentum == 0.0:
            raise ValueError(f"nesterov=True requires momentum > 0, got momentum={momentum!r}")
        self.nesterov = bool(nesterov)

    @property
    def slots(self) -> tuple[str, ...]:
        return ("velocity",) if self.momentum else ()

    def _hyperparameters(self) -> dict[str, Any]:
        return {"momentum": self.momentum, "nesterov": self.nesterov}

    def _update(
        self, param: Array, grad: Array, state: dict[str, Array], scratch: Array | None, lr: float
    ) -> None:
        sgd_update(
            param,
            grad,
            state.get("velocity"),
            lr=lr,
            momentum=self.momentum,
            nesterov=self.nesterov,
        )
