"""Stochastic gradient descent, with optional (Nesterov) momentum.

Momentum convention (PyTorch / Sutskever et al. 2013), ``mu`` the momentum, ``v`` the velocity::

    p -= lr * g               # plain SGD
    v = mu * v + g
    p -= lr * v               # classical momentum
    p -= lr * (g + mu * v)    # Nesterov, with the new v

The learning rate multiplies the velocity at update time (not folded into ``v``), so changing
the learning rate mid-run does not rescale the accumulated velocity.

Each rule below is that formula in NumPy, one operation per line, in place. ``lr * g`` and the
like go into a scratch array the optimiser keeps per parameter, so a step allocates nothing.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from minigrad.optim.optimizer import Array, Optimizer
from minigrad.optim.schedules import Schedule
from minigrad.validation import check_bool, check_real


def sgd_step(grad: Array, scratch: Array, *, lr: float) -> Array:
    """Plain SGD's step for one array, ``lr * g``; the optimiser then does ``p -= step``.

    Parameters
    ----------
    grad : ndarray, shape (*S)
        Gradient of the loss with respect to ``param``; not modified.
    scratch : ndarray, shape (*S), dtype of ``param``
        Work array; its contents on entry and exit are meaningless.
    lr : float
        Learning rate (a Python float, so it takes the arrays' precision).

    Returns
    -------
    step : ``scratch``, holding ``lr * g``
    """
    return np.multiply(grad, lr, out=scratch)


def momentum_step(
    grad: Array,
    velocity: Array,
    scratch: Array,
    *,
    lr: float,
    momentum: float,
    nesterov: bool = False,
) -> Array:
    """SGD with momentum for one array: ``v = mu * v + g``, then the step to subtract.

    Parameters
    ----------
    grad : ndarray, shape (*S)
        Gradient of the loss with respect to ``param``; not modified.
    velocity : ndarray, shape (*S)
        ``v``, updated in place.
    scratch : ndarray, shape (*S), dtype of ``param``
        Work array; its contents on entry and exit are meaningless.
    lr, momentum : float
        Learning rate and momentum coefficient ``mu``.
    nesterov : bool
        Step along ``g + mu * v`` (the gradient at the look-ahead point) instead of ``v``.

    Returns
    -------
    step : ``scratch``, holding ``lr * v`` (or ``lr * (g + mu * v)``); ``p -= step`` follows
    """
    velocity *= momentum  # v = mu * v + g
    velocity += grad
    if nesterov:
        step = np.multiply(velocity, momentum, out=scratch)  # lr * (g + mu * v)
        step += grad
        step *= lr
    else:
        step = np.multiply(velocity, lr, out=scratch)  # lr * v
    return step


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

    Plain SGD has no fused path. NumPy has no one-pass ``p += a * x``; BLAS ``?axpy`` is one,
    but only SciPy's (a second OpenBLAS, which runs it on all its threads above 10000
    elements). Measured on the 2-vCPU benchmark host (2026-12-02, the workbook's (50, 3072)
    ``W1``, hot caches, load average 1.4): the two NumPy passes of :func:`sgd_step` and
    ``p -= step`` took 44 us at float32 and 76 us at float64, ``?axpy`` 19 and 36 us. With
    other processes busy (55-75% of the CPUs), whole ``Trainer.fit`` iterations ran 2.5x
    slower with ``?axpy`` than with the two passes (interleaved A/B), so the update stays in
    NumPy.
    """

    name = "sgd"

    def __init__(
        self, learning_rate: float | Schedule = 1e-3, momentum: float = 0.0, nesterov: bool = False
    ) -> None:
        super().__init__(learning_rate)
        self.momentum = check_real(momentum, "momentum", low=0.0, high=1.0, high_open=True)
        self.nesterov = check_bool(nesterov, "nesterov")
        if self.nesterov and self.momentum == 0.0:
            raise ValueError(f"nesterov=True requires momentum > 0, got momentum={momentum!r}")

    @property
    def slots(self) -> tuple[str, ...]:
        return ("velocity",) if self.momentum else ()

    def _hyperparameters(self) -> dict[str, Any]:
        return {"momentum": self.momentum, "nesterov": self.nesterov}

    def _step(self, grad: Array, state: dict[str, Array], scratch: Array, lr: float) -> Array:
        if not self.momentum:
            return sgd_step(grad, scratch, lr=lr)
        return momentum_step(
            grad,
            state["velocity"],
            scratch,
            lr=lr,
            momentum=self.momentum,
            nesterov=self.nesterov,
        )
