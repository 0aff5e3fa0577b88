"""Elementwise activations: LeakyReLU, Tanh, Sigmoid and GELU, as PyTorch defines them.

Each is a pair of pure functions, ``*_forward(x) -> (out, cache)`` and
``*_backward(dout, cache) -> dx``, and a thin layer class without parameters. They work on
arrays of any shape and keep a floating-point input's dtype (float32 in, float32 out: every
constant below is a Python float, which NumPy casts to the array's dtype). They are stable
for inputs of any finite magnitude: no overflow, no NaN, no warnings.

(:class:`~minigrad.relu.ReLU` is in ``relu.py``, where the workbook's net finds it.)
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
from scipy.special import erf

from minigrad.layer import Layer
from minigrad.validation import check_choice, check_float_input, check_real

__all__ = [
    "GELU",
    "LeakyReLU",
    "Sigmoid",
    "Tanh",
    "gelu_backward",
    "gelu_forward",
    "leaky_relu_backward",
    "leaky_relu_forward",
    "sigmoid",
    "sigmoid_backward",
    "tanh_backward",
    "tanh_forward",
]

# ---------------------------------------------------------------------------- LeakyReLU


def leaky_relu_forward(
    x: np.ndarray, negative_slope: float = 0.01
) -> tuple[np.ndarray, np.ndarray]:
    """``x`` where ``x > 0``, else ``negative_slope * x`` (``torch.nn.functional.leaky_relu``).

    Parameters
    ----------
    x : float ndarray of any shape
    negative_slope : the slope for ``x <= 0``.

    Returns
    -------
    out : ndarray, same shape and dtype as ``x``
    mask : bool ndarray, ``x > 0``, for the backward pass
    """
    mask = x > 0
    return np.where(mask, x, x * negative_slope), mask


def leaky_relu_backward(
    dout: np.ndarray, mask: np.ndarray, negative_slope: float = 0.01
) -> np.ndarray:
    """``dout`` where the input was positive, else ``negative_slope * dout`` (also at 0).

    Parameters
    ----------
    dout : ndarray, upstream gradient
    mask : bool ndarray of the same shape, from :func:`leaky_relu_forward`
    """
    return np.where(mask, dout, dout * negative_slope)


class LeakyReLU(Layer):
    """``max(0, x) + negative_slope * min(0, x)``, as ``torch.nn.LeakyReLU``.

    The derivative at exactly 0 is ``negative_slope`` (PyTorch's choice). No parameters.

    Parameters
    ----------
    negative_slope : slope for negative inputs (PyTorch's default 0.01).
    """

    def __init__(self, negative_slope: float = 0.01) -> None:
        super().__init__()
        self.negative_slope = check_real(negative_slope, "negative_slope")
        self._mask: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        check_float_input(x, "LeakyReLU")
        out, self._mask = leaky_relu_forward(x, self.negative_slope)
        return out

    def backward(self, dout: np.ndarray, need_input_grad: bool = True) -> np.ndarray:
        if self._mask is None:
            raise RuntimeError("LeakyReLU.backward called before forward")
        return leaky_relu_backward(dout, self._mask, self.negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope:g}"


# ---------------------------------------------------------------------------- Tanh


def tanh_forward(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Elementwise ``tanh(x)``; returns ``(out, out)``: the backward pass needs only ``out``.

    Parameters
    ----------
    x : float ndarray of any shape

    Returns
    -------
    out : ndarray, same shape and dtype, in ``[-1, 1]``
    cache : ``out`` itself
    """
    out = np.tanh(x)
    return out, out


def tanh_backward(dout: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``dout * (1 - tanh(x)**2)``, from the forward output ``out``."""
    return dout * (1.0 - out * out)


class Tanh(Layer):
    """Elementwise hyperbolic tangent, as ``torch.nn.Tanh``. No parameters."""

    def __init__(self) -> None:
        super().__init__()
        self._out: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        check_float_input(x, "Tanh")
        out, self._out = tanh_forward(x)
        return out

    def backward(self, dout: np.ndarray, need_input_grad: bool = True) -> np.ndarray:
        if self._out is None:
            raise RuntimeError("Tanh.backward called before forward")
        return tanh_backward(dout, self._out)


# ---------------------------------------------------------------------------- Sigmoid


def sigmoid(x: np.ndarray) -> np.ndarray:
    """The logistic function ``1 / (1 + exp(-x))``, computed without overflow.

    ``exp`` only ever sees ``-|x|`` (at most 1): for ``x >= 0`` the result is
    ``1 / (1 + e)``, for ``x < 0`` it is ``e / (1 + e)``, with ``e = exp(-|x|)``.

    Parameters
    ----------
    x : float ndarray of any shape

    Returns
    -------
    ndarray, same shape and dtype, in ``[0, 1]``
    """
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def sigmoid_backward(dout: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``dout * s * (1 - s)``, from the forward output ``s = sigmoid(x)``."""
    return dout * out * (1.0 - out)


class Sigmoid(Layer):
    """Elementwise logistic function, as ``torch.nn.Sigmoid``. No parameters."""

    def __init__(self) -> None:
        super().__init__()
        self._out: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        check_float_input(x, "Sigmoid")
        self._out = sigmoid(x)
        return self._out

    def backward(self, dout: np.ndarray, need_input_grad: bool = True) -> np.ndarray:
        if self._out is None:
            raise RuntimeError("Sigmoid.backward called before forward")
        return sigmoid_backward(dout, self._out)


# ---------------------------------------------------------------------------- GELU

GELU_APPROXIMATIONS = ("none", "tanh")

_SQRT_HALF = math.sqrt(0.5)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_TANH_SCALE = math.sqrt(2.0 / math.pi)
_TANH_CUBIC = 0.044715
# Beyond |x| = 100, Phi(x) is 0 or 1, the density is 0 and tanh(...) is +-1 in float64 and
# float32 alike; clipping there keeps x**2 and x**3 from overflowing (and warning) for huge
# inputs without changing any result.
_CLIP = 100.0


def gelu_forward(
    x: np.ndarray, approximate: Literal["none", "tanh"] = "none"
) -> tuple[np.ndarray, np.ndarray]:
    """GELU, ``x * Phi(x)``, as ``torch.nn.functional.gelu``.

    ``approximate="none"``: ``Phi(x) = 0.5 * (1 + erf(x / sqrt(2)))``, the standard normal
    CDF. ``approximate="tanh"``: ``Phi(x) ~ 0.5 * (1 + tanh(sqrt(2/pi) * (x + 0.044715 x^3)))``.

    Parameters
    ----------
    x : float ndarray of any shape
    approximate : ``"none"`` or ``"tanh"``.

    Returns
    -------
    out : ndarray, same shape and dtype as ``x``
    cdf : ndarray, the ``Phi(x)`` used (exact or approximate), for the backward pass
    """
    if approximate == "none":
        cdf = 0.5 * (1.0 + erf(x * _SQRT_HALF))
    else:
        xc = np.clip(x, -_CLIP, _CLIP)
        cdf = 0.5 * (1.0 + np.tanh(_TANH_SCALE * (xc + _TANH_CUBIC * xc * xc * xc)))
    return x * cdf, cdf


def gelu_backward(
    dout: np.ndarray, x: np.ndarray, cdf: np.ndarray, approximate: Literal["none", "tanh"] = "none"
) -> np.ndarray:
    """Gradient of GELU: ``dout * (Phi(x) + x * Phi'(x))``.

    Parameters
    ----------
    dout : ndarray, upstream gradient
    x : ndarray of the same shape, the forward input
    cdf : from :func:`gelu_forward`
    approximate : as in the forward pass. Exact: ``Phi'(x) = exp(-x^2/2) / sqrt(2 pi)``.
        Tanh: with ``t = 2 * cdf - 1``, ``Phi'(x) = 0.5 * (1 - t^2) * sqrt(2/pi) *
        (1 + 3 * 0.044715 x^2)``.
    """
    xc = np.clip(x, -_CLIP, _CLIP)
    if approximate == "none":
        density = _INV_SQRT_2PI * np.exp(-0.5 * xc * xc)
    else:
        t = 2.0 * cdf - 1.0
        density = 0.5 * (1.0 - t * t) * _TANH_SCALE * (1.0 + 3.0 * _TANH_CUBIC * xc * xc)
    return dout * (cdf + xc * density)


class GELU(Layer):
    """Gaussian error linear unit ``x * Phi(x)``, as ``torch.nn.GELU``. No parameters.

    Parameters
    ----------
    approximate : ``"none"`` (PyTorch's default: the exact normal CDF, through ``erf``)
        or ``"tanh"`` (the tanh approximation of Hendrycks and Gimpel, used by GPT-2).
    """

    def __init__(self, approximate: Literal["none", "tanh"] = "none") -> None:
        super().__init__()
        self.approximate: Literal["none", "tanh"] = check_choice(  # type: ignore[assignment]
            approximate, "approximate", GELU_APPROXIMATIONS
        )
        self._cache: tuple[np.ndarray, np.ndarray] | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        check_float_input(x, "GELU")
        out, cdf = gelu_forward(x, self.approximate)
        self._cache = (x, cdf)
        return out

    def backward(self, dout: np.ndarray, need_input_grad: bool = True) -> np.ndarray:
        if self._cache is None:
            raise RuntimeError("GELU.backward called before forward")
        x, cdf = self._cache
        return gelu_backward(dout, x, cdf, self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"
