"""Numerical gradients and checkers: the workbook's helpers and a checker for any layer."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

from minigrad.layer import Layer
from minigrad.regularization import add_l2_gradients
from minigrad.sequential import Sequential
from minigrad.softmax_cross_entropy import softmax_cross_entropy

__all__ = [
    "rel_error",
    "eval_numerical_gradient",
    "eval_numerical_gradient_array",
    "assert_gradients_close",
    "check_layer_gradients",
    "check_model_gradients",
    "check_directional_derivative",
    "GradientMismatch",
]


def rel_error(x: np.ndarray, y: np.ndarray) -> float:
    """The workbook's max relative error ``|x - y| / max(1e-8, |x| + |y|)``."""
    return float(np.max(np.abs(x - y) / np.maximum(1e-8, np.abs(x) + np.abs(y))))


def eval_numerical_gradient(
    f: Callable[[np.ndarray], float], x: np.ndarray, verbose: bool = True, h: float = 1e-5
) -> np.ndarray:
    """Central-difference gradient of a scalar function at ``x``.

    ``x`` is perturbed in place one entry at a time and restored, so ``f`` may read it
    through another reference (the workbook passes ``net.params[name]``).

    Parameters
    ----------
    f : maps an array shaped like ``x`` to a float.
    x : float ndarray of any shape.
    verbose : print each index and its gradient, as the workbook's helper does.
    h : step size.

    Returns
    -------
    ndarray shaped like ``x``
    """
    grad = np.zeros_like(x)
    for ix in np.ndindex(x.shape):
        old = x[ix]
        x[ix] = old + h
        f_plus = f(x)
        x[ix] = old - h
        f_minus = f(x)
        x[ix] = old
        grad[ix] = (f_plus - f_minus) / (2 * h)
        if verbose:
            print(ix, grad[ix])
    return grad


def eval_numerical_gradient_array(
    f: Callable[[np.ndarray], np.ndarray], x: np.ndarray, df: np.ndarray, h: float = 1e-5
) -> np.ndarray:
    """Central-difference gradient of ``sum(f(x) * df)``: the vector-Jacobian product.

    Parameters
    ----------
    f : maps an array shaped like ``x`` to an array shaped like ``df``.
    x : float ndarray, perturbed in place and restored.
    df : upstream gradient, shaped like ``f(x)``.
    """
    grad = np.zeros_like(x)
    for ix in np.ndindex(x.shape):
        old = x[ix]
        x[ix] = old + h
        f_plus = np.array(f(x), copy=True)
        x[ix] = old - h
        f_minus = np.array(f(x), copy=True)
        x[ix] = old
        grad[ix] = np.sum((f_plus - f_minus) * df) / (2 * h)
    return grad


class GradientMismatch(AssertionError):
    """An analytic gradient disagrees with its finite-difference estimate."""


def assert_gradients_close(
    analytic: np.ndarray,
    numeric: np.ndarray,
    name: str = "gradient",
    rtol: float = 1e-6,
    atol: float = 1e-8,
) -> None:
    """Each entry must agree to relative error ``rtol`` or absolute error ``atol``.

    The absolute bound covers entries near zero, where a relative error means nothing.
    Raises :class:`GradientMismatch` naming the worst entry.
    """
    if analytic.shape != numeric.shape:
        raise GradientMismatch(f"{name}: shape {analytic.shape} vs numeric {numeric.shape}")
    diff = np.abs(analytic - numeric)
    relative = diff / np.maximum(np.abs(analytic) + np.abs(numeric), np.finfo(np.float64).tiny)
    bad = (diff > atol) & (relative > rtol)
    if bad.any():
        worst = np.unravel_index(np.argmax(np.where(bad, relative, -1.0)), analytic.shape)
        raise GradientMismatch(
            f"{name}: {int(bad.sum())} of {analytic.size} entries differ; worst at {worst}: "
            f"analytic {analytic[worst]!r} vs numeric {numeric[worst]!r} "
            f"(relative error {relative[worst]:.3e}, absolute {diff[worst]:.3e})"
        )


def check_layer_gradients(
    layer: Layer,
    x: np.ndarray,
    rng: np.random.Generator,
    h: float = 1e-6,
    rtol: float = 1e-6,
    atol: float = 1e-8,
) -> None:
    """Check a layer's backward (input and parameter gradients) by finite differences.

    Uses a random upstream gradient ``dout``, i.e. checks the gradient of
    ``sum(layer.forward(x) * dout)``. Run it in float64.

    Parameters
    ----------
    layer : any :class:`Layer`.
    x : float64 ndarray, the layer's input (not modified on return).
    rng : source of the random upstream gradient.
    """
    dout = rng.standard_normal(layer.forward(x).shape)
    dx = layer.backward(dout)
    analytic = {name: grad.copy() for name, grad in layer.grads.items()}
    label = type(layer).__name__
    if dx is None:
        raise GradientMismatch(f"{label}.backward returned no input gradient")
    # Perturb a copy of x, so the caller's array is never touched.
    numeric_dx = eval_numerical_gradient_array(layer.forward, x.copy(), dout, h)
    assert_gradients_close(dx, numeric_dx, f"{label} input", rtol, atol)
    for name, param in layer.params.items():
        numeric = eval_numerical_gradient_array(lambda _: layer.forward(x), param, dout, h)
        assert_gradients_close(analytic[name], numeric, f"{label}.{name}", rtol, atol)


def _model_loss(model: Sequential, X: np.ndarray, y: np.ndarray, reg: float) -> float:
    loss, dscores = softmax_cross_entropy(model.forward(X), y)
    model.backward(dscores, need_input_grad=False)
    return loss + add_l2_gradients(model.params, model.grads, model.weight_names, reg)


def check_model_gradients(
    model: Sequential,
    X: np.ndarray,
    y: np.ndarray,
    reg: float = 0.0,
    h: float = 1e-6,
    rtol: float = 1e-6,
    atol: float = 1e-8,
) -> None:
    """Check every parameter gradient of softmax-cross-entropy + L2 over a whole model.

    Parameters
    ----------
    model : a float64 :class:`Sequential` ending in class scores (N, C).
    X : float64 ndarray of shape (N, D); y : int ndarray of shape (N,).
    reg : L2 strength.
    """
    _model_loss(model, X, y, reg)
    analytic = {name: grad.copy() for name, grad in model.grads.items()}
    for name, param in model.params.items():
        numeric = eval_numerical_gradient(
            lambda _: _model_loss(model, X, y, reg), param, verbose=False, h=h
        )
        assert_gradients_close(analytic[name], numeric, name, rtol, atol)


def check_directional_derivative(
    model: Sequential,
    X: np.ndarray,
    y: np.ndarray,
    rng: np.random.Generator,
    reg: float = 0.0,
    h: float = 1e-5,
    rtol: float = 1e-6,
) -> tuple[float, float]:
    """Compare ``<grad, v>`` with a central difference along one random direction ``v``.

    One pair of loss evaluations checks all parameters at once, so it scales to nets too
    large for entry-by-entry checks. Returns (analytic, numeric) directional derivatives.
    """
    _model_loss(model, X, y, reg)
    params: Mapping[str, np.ndarray] = model.params
    directions = {name: rng.standard_normal(p.shape) for name, p in params.items()}
    norm = np.sqrt(sum(float(np.vdot(d, d)) for d in directions.values()))
    analytic = float(sum(float(np.vdot(g, directions[n])) for n, g in model.grads.items()) / norm)

    def shifted_loss(sign: float) -> float:
        originals = {name: p.copy() for name, p in params.items()}
        for name, p in params.items():
            p += sign * h * directions[name] / norm
        loss = _model_loss(model, X, y, reg)
        for name, p in params.items():
            p[...] = originals[name]
        return loss

    numeric = (shifted_loss(+1.0) - shifted_loss(-1.0)) / (2 * h)
    if abs(analytic - numeric) > rtol * max(abs(analytic) + abs(numeric), 1e-8):
        raise GradientMismatch(
            f"directional derivative: analytic {analytic!r} vs numeric {numeric!r}"
        )
    _model_loss(model, X, y, reg)  # leave the model's grads as they were at the start
    return analytic, numeric
