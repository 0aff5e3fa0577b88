"""Rectified linear unit: ``max(x, 0)``."""

from __future__ import annotations

import numpy as np

from minigrad.layer import Layer
from minigrad.masking import keep_where

__all__ = ["ReLU", "relu_forward", "relu_backward"]


def relu_forward(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Elementwise ``max(x, 0)``.

    Parameters
    ----------
    x : ndarray of any shape

    Returns
    -------
    out : ndarray, same shape and dtype as ``x``
    mask : bool ndarray, same shape, ``x > 0``; backward reuses it instead of recomputing.
    """
    # np.maximum, not x * mask: -inf * 0 would be NaN, and max(-inf, 0) is 0.
    return np.maximum(x, 0, dtype=x.dtype), x > 0


def relu_backward(dout: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Gradient of ReLU: ``dout`` where the input was positive, else 0 (also at 0).

    Parameters
    ----------
    dout : ndarray, upstream gradient
    mask : bool ndarray of the same shape, from :func:`relu_forward`
    """
    # An inf or NaN upstream at an inactive unit gives 0 there, as in PyTorch.
    return keep_where(mask, dout)


class ReLU(Layer):
    """Elementwise ``max(x, 0)``; has no parameters."""

    def __init__(self) -> None:
        super().__init__()
        self._mask: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        out, self._mask = relu_forward(x)
        return out

    def backward(self, dout: np.ndarray, need_input_grad: bool = True) -> np.ndarray:
        if self._mask is None:
            raise RuntimeError("ReLU.backward called before forward")
        return relu_backward(dout, self._mask)
