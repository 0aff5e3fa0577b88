"""Adaptive rules that divide by a running second moment: Adagrad, RMSProp, Adam.

All three are one update with different coefficients (``g`` the gradient, ``t`` the step)::

    m = beta1 * m + (1 - beta1) * g       # first moment; Adam only (the others use m = g)
    v = a * v + b * g**2                  # second moment
    p -= lr * (m / c1) / (sqrt(v / c2) + eps)

    Adagrad  a = 1,     b = 1,          c1 = c2 = 1
    RMSProp  a = rho,   b = 1 - rho,    c1 = c2 = 1
    Adam     a = beta2, b = 1 - beta2,  c1 = 1 - beta1**t,  c2 = 1 - beta2**t

Adam follows Kingma & Ba (2015), Algorithm 1: bias-corrected moments, ``eps`` outside the
square root. Its ``t`` is the optimiser's global ``step_count`` (the number of ``step`` calls,
this one included), so every parameter is assumed to be passed to every step.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from minigrad.optim.optimizer import Array, Optimizer
from minigrad.optim.schedules import Schedule
from minigrad.validation import check_real


def adaptive_step(
    grad: Array,
    v: Array,
    scratch: Array,
    *,
    lr: float,
    a: float,
    b: float,
    eps: float,
    m: Array | None = None,
    beta1: float = 0.0,
    c1: float = 1.0,
    c2: float = 1.0,
) -> Array:
    """The shared second-moment rule (module docstring) for one array: moments, then the step.

    Parameters
    ----------
    grad : ndarray, shape (*S)
        Gradient of the loss with respect to ``param``; not modified.
    v : ndarray, shape (*S)
        Second-moment accumulator, updated in place: ``v = a * v + b * grad**2``.
    scratch : ndarray, shape (*S), dtype of ``param``
        Work array; its contents on entry and exit are meaningless.
    lr, eps : float
        Learning rate and the constant added to ``sqrt(v / c2)``.
    a, b : float
        Second-moment coefficients.
    m : ndarray, shape (*S), optional
        First-moment accumulator, updated in place: ``m = beta1 * m + (1 - beta1) * grad``.
        Without it the numerator is the raw gradient.
    beta1 : float
        First-moment decay (ignored without ``m``).
    c1, c2 : float
        Bias corrections dividing the first and second moments (1 = none).

    Returns
    -------
    step : ``scratch``, holding ``lr * (m / c1) / (sqrt(v / c2) + eps)``; ``p -= step`` follows
    """
    term = np.square(grad, out=scratch)  # v = a * v + b * g**2
    term *= b
    v *= a
    v += term
    numerator = grad
    if m is not None:
        term = np.multiply(grad, 1.0 - beta1, out=scratch)  # m = beta1 * m + (1 - beta1) * g
        m *= beta1
        m += term
        numerator = m
    denominator = np.divide(v, c2, out=scratch)  # sqrt(v / c2) + eps
    np.sqrt(denominator, out=denominator)
    denominator += eps
    step = np.divide(numerator, denominator, out=scratch)  # lr * (m / c1) / denominator
    step *= lr / c1
    return step


class AdaptiveOptimizer(Optimizer):
    """Common holder for the rules of :func:`adaptive_step`; use a subclass.

    Parameters
    ----------
    learning_rate : float or Schedule
    eps : float
        > 0, added to the root of the second moment.
    a, b : float
        Second-moment coefficients.
    beta1 : float or None
        First-moment decay; ``None`` keeps no first moment.
    bias_correction : bool
        Divide the moments by ``1 - beta ** step_count`` (Adam).

    Notes
    -----
    State: ``v`` (and ``m`` if ``beta1`` is not None), shape and dtype of the parameter.
    """

    def __init__(
        self,
        learning_rate: float | Schedule,
        *,
        eps: float,
        a: float,
        b: float,
        beta1: float | None = None,
        bias_correction: bool = False,
    ) -> None:
        super().__init__(learning_rate)
        self.eps = check_real(eps, "eps", low=0.0, low_open=True)
        self._a, self._b = a, b
        self._beta1 = beta1
        self._bias_correction = bias_correction

    @property
    def slots(self) -> tuple[str, ...]:
        return ("v",) if self._beta1 is None else ("m", "v")

    def _step(self, grad: Array, state: dict[str, Array], scratch: Array, lr: float) -> Array:
        beta1 = 0.0 if self._beta1 is None else self._beta1
        c1 = c2 = 1.0
        if self._bias_correction:
            c1 = 1.0 - beta1**self.step_count
            c2 = 1.0 - self._a**self.step_count
        return adaptive_step(
            grad,
            state["v"],
            scratch,
            lr=lr,
            a=self._a,
            b=self._b,
            eps=self.eps,
            m=state.get("m"),
            beta1=beta1,
            c1=c1,
            c2=c2,
        )


class Adagrad(AdaptiveOptimizer):
    """Adagrad (Duchi et al. 2011): ``v += g**2; p -= lr * g / (sqrt(v) + eps)``.

    Parameters
    ----------
    learning_rate : float or Schedule
    eps : float
        > 0.
    """

    name = "adagrad"

    def __init__(self, learning_rate: float | Schedule = 1e-2, eps: float = 1e-8) -> None:
        super().__init__(learning_rate, eps=eps, a=1.0, b=1.0)

    def _hyperparameters(self) -> dict[str, Any]:
        return {"eps": self.eps}


class RMSProp(AdaptiveOptimizer):
    """RMSProp (Tieleman & Hinton 2012), eps outside the root::

        v = rho * v + (1 - rho) * g**2;  p -= lr * g / (sqrt(v) + eps)

    Parameters
    ----------
    learning_rate : float or Schedule
    decay_rate : float
        ``rho`` in [0, 1).
    eps : float
        > 0.
    """

    name = "rmsprop"

    def __init__(
        self, learning_rate: float | Schedule = 1e-2, decay_rate: float = 0.99, eps: float = 1e-8
    ) -> None:
        self.decay_rate = check_real(decay_rate, "decay_rate", low=0.0, high=1.0, high_open=True)
        super().__init__(learning_rate, eps=eps, a=self.decay_rate, b=1.0 - self.decay_rate)

    def _hyperparameters(self) -> dict[str, Any]:
        return {"decay_rate": self.decay_rate, "eps": self.eps}


class Adam(AdaptiveOptimizer):
    """Adam (Kingma & Ba 2015, Algorithm 1), with ``t = step_count``::

        m = beta1 * m + (1 - beta1) * g;  v = beta2 * v + (1 - beta2) * g**2
        p -= lr * (m / (1 - beta1**t)) / (sqrt(v / (1 - beta2**t)) + eps)

    Parameters
    ----------
    learning_rate : float or Schedule
    beta1, beta2 : float
        Moment decays in [0, 1).
    eps : float
        > 0.
    """

    name = "adam"

    def __init__(
        self,
        learning_rate: float | Schedule = 1e-3,
        beta1: float = 0.9,
        beta2: float = 0.999,
        eps: float = 1e-8,
    ) -> None:
        self.beta1 = check_real(beta1, "beta1", low=0.0, high=1.0, high_open=True)
        self.beta2 = check_real(beta2, "beta2", low=0.0, high=1.0, high_open=True)
        super().__init__(
            learning_rate,
            eps=eps,
            a=self.beta2,
            b=1.0 - self.beta2,
            beta1=self.beta1,
            bias_correction=True,
        )

    def _hyperparameters(self) -> dict[str, Any]:
        return {"beta1": self.beta1, "beta2": self.beta2, "eps": self.eps}

