"""Numerical gradients and checkers: the workbook's helpers and checkers for any layer or loss.

The checkers run a layer or model in whatever mode it is in (``train()`` / ``eval()``), so
call them once per mode. Layers with randomness (Dropout) are checked with their masks fixed
(:func:`fixed_masks`), and buffers that a train-mode forward pass updates (BatchNorm's
running statistics) are put back afterwards, so a check leaves the model as it found it
(apart from the gradients and the random generators' positions).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager

import numpy as np

from minigrad.layer import Layer
from minigrad.layer_tree import named_layers
from minigrad.loss import Loss
from minigrad.regularization import add_l2_gradients
from minigrad.softmax_cross_entropy import SoftmaxCrossEntropy

__all__ = [
    "rel_error",
    "eval_numerical_gradient",
    "eval_numerical_gradient_array",
    "assert_gradients_close",
    "check_layer_gradients",
    "check_loss_gradients",
    "check_model_gradients",
    "check_directional_derivative",
    "fixed_masks",
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


@contextmanager
def fixed_masks(model: Layer) -> Iterator[Layer]:
    """Within the block, every layer of ``model`` with a random mask reuses one mask.

    A layer takes part by having ``fix_mask()`` / ``release_mask()`` and ``mask_fixed``
    (:class:`~minigrad.dropout.Dropout`): the first train-mode forward pass in the block
    draws the mask, the later ones reuse it, so the forward pass is a deterministic function
    that finite differences can differentiate. Masks fixed before the block stay fixed
    after it; the others are released.
    """
    fixed = []
    for _, layer in named_layers(model):
        fix, release = getattr(layer, "fix_mask", None), getattr(layer, "release_mask", None)
        if callable(fix) and callable(release) and not getattr(layer, "mask_fixed", False):
            fix()
            fixed.append(release)
    try:
        yield model
    finally:
        for release in fixed:
            release()


@contextmanager
def _buffers_kept(model: Layer) -> Iterator[None]:
    """Put every buffer back afterwards: each train-mode forward updates BatchNorm's."""
    saved = {name: array.copy() for name, array in model.buffers.items()}
    try:
        yield
    finally:
        for name, array in model.buffers.items():
            np.copyto(array, saved[name])


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
    ``sum(layer.forward(x) * dout)``, in the layer's current mode (call it after
    ``layer.train()`` and after ``layer.eval()`` to check both). Random masks are fixed
    for the check and buffers restored after it (:func:`fixed_masks`). Run it in float64.

    Parameters
    ----------
    layer : any :class:`Layer`.
    x : float64 ndarray, the layer's input (not modified on return).
    rng : source of the random upstream gradient.
    h : finite-difference step.
    rtol, atol : each entry must agree to relative error ``rtol`` or absolute error
        ``atol`` (:func:`assert_gradients_close`).
    """
    with fixed_masks(layer), _buffers_kept(layer):
        _check_layer_gradients(layer, x, rng, h, rtol, atol)


def _check_layer_gradients(
    layer: Layer, x: np.ndarray, rng: np.random.Generator, h: float, rtol: float, atol: float
) -> None:
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


def check_loss_gradients(
    loss: Loss,
    scores: np.ndarray,
    y: np.ndarray,
    h: float = 1e-6,
    rtol: float = 1e-6,
    atol: float = 1e-8,
) -> None:
    """Check ``loss.backward()`` against central differences of ``loss.forward(scores, y)``.

    Parameters
    ----------
    loss : any object with the loss contract (:class:`~minigrad.loss.Loss`).
    scores : float64 ndarray of shape (N, C) (not modified on return).
    y : int ndarray of shape (N,).
    """
    loss.forward(scores, y)
    analytic = np.array(loss.backward(), copy=True)
    numeric = eval_numerical_gradient(
        lambda s: loss.forward(s, y), scores.copy(), verbose=False, h=h
    )
    assert_gradients_close(analytic, numeric, f"{type(loss).__name__} scores", rtol, atol)


def _model_loss(model: Layer, X: np.ndarray, y: np.ndarray, reg: float, loss: Loss) -> float:
    data_loss = loss.forward(model.forward(X), y)
    model.backward(loss.backward(), need_input_grad=False)
    return data_loss + add_l2_gradients(model.params, model.grads, model.weight_names, reg)


def check_model_gradients(
    model: Layer,
    X: np.ndarray,
    y: np.ndarray,
    reg: float = 0.0,
    loss: Loss | None = None,
    h: float = 1e-6,
    rtol: float = 1e-6,
    atol: float = 1e-8,
) -> None:
    """Check every parameter gradient of a loss + L2 over a whole model.

    The model runs in its current mode (train or eval); random masks are fixed and buffers
    restored afterwards (:func:`fixed_masks`).

    Parameters
    ----------
    model : a float64 model (a :class:`~minigrad.sequential.Sequential`, or any
        :class:`Layer`) ending in class scores (N, C).
    X : float64 ndarray of shape (N, D); y : int ndarray of shape (N,).
    reg : L2 strength (on ``model.weight_names``).
    loss : any object with the loss contract; softmax cross-entropy by default.
    h : finite-difference step; rtol, atol : as in :func:`assert_gradients_close`.
    """
    loss = SoftmaxCrossEntropy() if loss is None else loss
    with fixed_masks(model), _buffers_kept(model):
        _model_loss(model, X, y, reg, loss)
        analytic = {name: grad.copy() for name, grad in model.grads.items()}
        for name, param in model.params.items():
            numeric = eval_numerical_gradient(
                lambda _: _model_loss(model, X, y, reg, loss), param, verbose=False, h=h
            )
            assert_gradients_close(analytic[name], numeric, name, rtol, atol)


def check_directional_derivative(
    model: Layer,
    X: np.ndarray,
    y: np.ndarray,
    rng: np.random.Generator,
    reg: float = 0.0,
    h: float = 1e-5,
    rtol: float = 1e-6,
    loss: Loss | None = None,
) -> tuple[float, float]:
    """Compare ``<grad, v>`` with a central difference along one random direction ``v``.

    One pair of loss evaluations checks all parameters at once, so it scales to nets too
    large for entry-by-entry checks. ``loss`` is softmax cross-entropy by default; random
    masks are fixed and buffers restored as in :func:`check_model_gradients`. Returns
    (analytic, numeric) directional derivatives.
    """
    loss = SoftmaxCrossEntropy() if loss is None else loss
    with fixed_masks(model), _buffers_kept(model):
        return _directional_derivative(model, X, y, rng, reg, h, rtol, loss)


def _directional_derivative(
    model: Layer,
    X: np.ndarray,
    y: np.ndarray,
    rng: np.random.Generator,
    reg: float,
    h: float,
    rtol: float,
    loss: Loss,
) -> tuple[float, float]:
    _model_loss(model, X, y, reg, loss)
    params: Mapping[str, np.ndarray] = model.params
    directions = {name: rng.standard_normal(p.shape) for name, p in params.items()}
    norm = np.sqrt(sum(float(np.vdot(d, d)) for d in directions.values()))
    analytic = float(sum(float(np.vdot(g, directions[n])) for n, g in model.grads.items()) / norm)

    def shifted_loss(sign: float) -> float:
        originals = {name: p.copy() for name, p in params.items()}
        for name, p in params.items():
            p += sign * h * directions[name] / norm
        value = _model_loss(model, X, y, reg, loss)
        for name, p in params.items():
            p[...] = originals[name]
        return value

    numeric = (shifted_loss(+1.0) - shifted_loss(-1.0)) / (2 * h)
    if abs(analytic - numeric) > rtol * max(abs(analytic) + abs(numeric), 1e-8):
        raise GradientMismatch(
            f"directional derivative: analytic {analytic!r} vs numeric {numeric!r}"
        )
    _model_loss(model, X, y, reg, loss)  # leave the model's grads as they were at the start
    return analytic, numeric
