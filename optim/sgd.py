"""Stochastic gradient descent, with optional (Nesterov) momentum.

Momentum convention (PyTorch / Sutskever et al. 2013), ``mu`` the momentum, ``v`` the velocity::

    v = mu * v + g
    p -= lr * v               # classical momentum
    p -= lr * (g + mu * v)    # Nesterov, with the new v

The learning rate multiplies the velocity at update time (not folded into ``v``), so changing
the learning rate mid-run does not rescale the accumulated velocity.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from minigrad.optim.kernels import axpby, axpy
from minigrad.optim.optimizer import Array, Optimizer, check_unit_interval
from minigrad.optim.schedules import Schedule


def sgd_update(
    param: Array,
    grad: Array,
    velocity: Array | None,
    *,
    lr: float,
    momentum: float = 0.0,
    nesterov: bool = False,
    scratch: Array | None = None,
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
    scratch : ndarray, shape (*S), optional
        Work array for :func:`~optim.kernels.axpy` (no temporary is allocated with it).
    """
    if velocity is None:
        axpy(-lr, grad, param, scratch)
        return
    axpby(1.0, grad, momentum, velocity, scratch)
    if nesterov:
        axpy(-lr, grad, param, scratch)
        axpy(-lr * momentum, velocity, param, scratch)
    else:
        axpy(-lr, velocity, param, scratch)


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
    State: ``velocity`` (shape and dtype of the parameter) when ``momentum > 0``. A scratch
    array per parameter (not part of the state) keeps large updates free of temporaries.

    Plain SGD (no momentum) also offers a fast path to a training loop: the update is the
    gradient times ``-lr``, so the loop may backpropagate the loss gradient times
    :meth:`gradient_scale` and finish with :meth:`apply_scaled_gradients`; the big weight-gradient
    products then yield the update directly, with no separate pass to scale it.
    """

    name = "sgd"
    needs_scratch = True  # for axpy on arrays too large for single-threaded BLAS

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
            scratch=scratch,
        )

    def gradient_scale(self) -> float | None:
        """``-learning_rate`` when this step is exactly ``param += -lr * grad``, else None.

        It is for plain SGD (no momentum): backpropagating the loss gradient times this scale
        gives every parameter its update, to be applied with :meth:`apply_scaled_gradients`.
        """
        return None if self.momentum else -self.learning_rate

    def apply_scaled_gradients(
        self,
        params: Mapping[str, Array],
        updates: Mapping[str, Array],
        decay: Mapping[str, float] | None = None,
    ) -> None:
        """Finish a step from gradients already multiplied by :meth:`gradient_scale`.

        Equal to :meth:`step` on the unscaled gradients: ``param *= decay[k]`` (if given for
        ``k``), then ``param += updates[k]``, in place. L2 regularisation ``reg`` of a weight is
        its decay ``1 - lr * reg``: ``p - lr * (g + reg * p) == (1 - lr * reg) * p - lr * g``.

        Parameters
        ----------
        params : Mapping[str, ndarray]
            Updated in place.
        updates : Mapping[str, ndarray]
            Same keys and shapes: ``-lr`` times the gradient (without the L2 term).
        decay : Mapping[str, float], optional
            Factors for some parameters (the L2-regularised weights).

        Raises
        ------
        ValueError
            If this SGD has momentum, or the arguments do not match (nothing is updated).
        """
        if self.momentum:
            raise ValueError("apply_scaled_gradients is for plain SGD; this one has momentum")
        self._check_step_args(params, updates)
        self.step_count += 1
        decay = {} if decay is None else decay
        for key, param in params.items():
            factor = decay.get(key, 1.0)
            if factor != 1.0:
                np.multiply(param, factor, out=param)
            np.add(param, updates[key], out=param)
