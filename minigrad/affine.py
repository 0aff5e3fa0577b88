"""Fully connected layer: ``out = x @ W.T + b``."""

from __future__ import annotations

from typing import Literal

import numpy as np
from numpy.typing import DTypeLike

from minigrad.initializers import Initializer, normal, zeros
from minigrad.layer import Layer
from minigrad.validation import check_layer_input, check_positive_int

__all__ = ["Affine", "affine_forward", "affine_backward", "WEIGHT_ORDER"]

WEIGHT_ORDER: dict[np.dtype, Literal["C", "F"]] = {np.dtype(np.float32): "F"}
"""Memory order of ``W`` by dtype ("C", row-major, for any other dtype).

A float32 ``W`` is stored column-major: same (out, in) shape, values and semantics, but
``W.T`` is row-major. With OpenBLAS 0.3.31 (SkylakeX kernels) both big products of the
3072 -> 50 net ran 10-20% faster at float32 (whole iterations about 10%); at float64 the
weight-gradient product lost more than the forward one gained (iterations 5-10% slower), so
float64 stays row-major (``benchmarks/README.md``). The gradient takes the weight's order.
"""


def affine_forward(x: np.ndarray, W: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Affine map of a batch.

    Parameters
    ----------
    x : ndarray of shape (N, D)
    W : ndarray of shape (M, D)
    b : ndarray of shape (M,)

    Returns
    -------
    out : ndarray of shape (N, M), ``x @ W.T + b``
    """
    out = x @ W.T
    out += b  # in place: saves one (N, M) temporary
    return out


def affine_backward(
    dout: np.ndarray,
    x: np.ndarray,
    W: np.ndarray,
    dW: np.ndarray,
    db: np.ndarray,
    need_input_grad: bool = True,
) -> np.ndarray | None:
    """Gradients of an affine map, written into ``dW`` and ``db``.

    Parameters
    ----------
    dout : ndarray of shape (N, M), upstream gradient
    x : ndarray of shape (N, D), the forward input
    W : ndarray of shape (M, D)
    dW : ndarray of shape (M, D), overwritten with ``dout.T @ x`` (row- or column-major)
    db : ndarray of shape (M,), overwritten with ``dout.sum(axis=0)``
    need_input_grad : compute ``dx`` only when asked; it is a full-size product.

    Returns
    -------
    dx : ndarray of shape (N, D), ``dout @ W``, or None
    """
    if dW.flags.c_contiguous:
        np.matmul(dout.T, x, out=dW)
    else:  # column-major dW (see WEIGHT_ORDER): its transpose is row-major, BLAS writes that
        np.matmul(x.T, dout, out=dW.T)
    np.sum(dout, axis=0, out=db)
    return dout @ W if need_input_grad else None


class Affine(Layer):
    """Fully connected layer with ``W`` of shape (out, in) and ``b`` of shape (out,).

    The same convention as the workbook (its ``W1`` is ``(H, D)``) and ``torch.nn.Linear``;
    a float32 ``W`` (and its gradient) is stored column-major (:data:`WEIGHT_ORDER`).

    Parameters
    ----------
    in_features, out_features : sizes of the input and output.
    weight_init : initialiser for ``W``; the workbook's ``std * randn`` by default.
    dtype : float dtype of the parameters (and so of the computation).
    """

    weight_names = ("W",)

    def __init__(
        self,
        in_features: int,
        out_features: int,
        weight_init: Initializer | None = None,
        dtype: DTypeLike = np.float64,
    ) -> None:
        super().__init__()
        self.in_features = check_positive_int(in_features, "in_features")
        self.out_features = check_positive_int(out_features, "out_features")
        dtype = np.dtype(dtype)
        if dtype.kind != "f":
            raise TypeError(f"dtype must be a floating-point type, got {dtype}")
        init = normal() if weight_init is None else weight_init
        W = init((self.out_features, self.in_features), dtype)
        self.params["W"] = np.asarray(W, order=WEIGHT_ORDER.get(dtype, "C"))
        self.params["b"] = zeros((self.out_features,), dtype)
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}
        self._x: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Map (N, in_features) to (N, out_features).

        Raises ``ValueError`` for a wrong shape and ``TypeError`` for an input whose dtype is
        not the weights' (NumPy would silently compute in the wider one).
        """
        W = self.params["W"]
        check_layer_input(x, "Affine", self.in_features, W.dtype)
        self._x = x
        return affine_forward(x, W, self.params["b"])

    def backward(self, dout: np.ndarray, need_input_grad: bool = True) -> np.ndarray | None:
        """(N, out_features) upstream gradient to (N, in_features), filling grads."""
        if self._x is None:
            raise RuntimeError("Affine.backward called before forward")
        return affine_backward(
            dout, self._x, self.params["W"], self.grads["W"], self.grads["b"], need_input_grad
        )

    def output_width(self, input_width: int) -> int:
        if input_width != self.in_features:
            raise ValueError(
                f"Affine expects {self.in_features} input features, got {input_width}"
            )
        return self.out_features

    def extra_repr(self) -> str:
        dtype = self.params["W"].dtype
        return f"in_features={self.in_features}, out_features={self.out_features}, dtype={dtype}"
