"""Layer normalisation of (N, D) activations: each row over its own features."""

from __future__ import annotations

import numpy as np
from numpy.typing import DTypeLike

from minigrad.layer import Layer
from minigrad.normalization import normalize, normalize_backward, scale_shift_backward
from minigrad.validation import check_layer_input, check_positive_int, check_real

__all__ = ["LayerNorm", "layernorm_backward", "layernorm_forward"]


def layernorm_forward(
    x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Normalise each row with its own mean and biased variance, then scale and shift.

    Parameters
    ----------
    x : ndarray of shape (N, D)
    gamma, beta : ndarrays of shape (D,), per feature
    eps : added to the variance

    Returns
    -------
    out : ndarray of shape (N, D), ``gamma * x_hat + beta``
    x_hat : ndarray of shape (N, D), ``(x - mean_row) / sqrt(var_row + eps)``
    inv_std : ndarray of shape (N, 1), ``1 / sqrt(var_row + eps)``
    """
    x_hat, _, _, inv_std = normalize(x, axis=1, eps=eps)
    return gamma * x_hat + beta, x_hat, inv_std


def layernorm_backward(
    dout: np.ndarray,
    x_hat: np.ndarray,
    inv_std: np.ndarray,
    gamma: np.ndarray,
    dgamma: np.ndarray,
    dbeta: np.ndarray,
    need_input_grad: bool = True,
) -> np.ndarray | None:
    """Gradients of layer norm; each row's ``dx`` is coupled across that row's features.

    Parameters
    ----------
    dout : ndarray of shape (N, D), upstream gradient
    x_hat, inv_std : from :func:`layernorm_forward`
    gamma : ndarray of shape (D,)
    dgamma, dbeta : ndarrays of shape (D,), overwritten with ``sum(dout * x_hat)`` and
        ``sum(dout)`` over the rows
    need_input_grad : compute ``dx`` only when asked.

    Returns
    -------
    dx : ndarray of shape (N, D), or None
    """
    scale_shift_backward(dout, x_hat, dgamma, dbeta)
    if not need_input_grad:
        return None
    return normalize_backward(dout * gamma, x_hat, inv_std, axis=1)


class LayerNorm(Layer):
    """Layer normalisation over the last axis of (N, D) inputs, as ``torch.nn.LayerNorm(D)``.

    Each row is normalised with its own mean and *biased* variance, then scaled by
    ``gamma`` (ones) and shifted by ``beta`` (zeros), both of shape (D,) (PyTorch's
    ``weight`` and ``bias``). Neither is in ``weight_names``, so L2 does not touch them. No
    buffers: train and eval mode compute the same thing, and the rows of a batch are
    independent.

    Parameters
    ----------
    num_features : D (PyTorch's ``normalized_shape``, here one int).
    eps : added to the variance, > 0.
    dtype : float dtype of the parameters and the computation.
    """

    weight_names = ()

    def __init__(
        self, num_features: int, eps: float = 1e-5, dtype: DTypeLike = np.float64
    ) -> None:
        super().__init__()
        self.num_features = check_positive_int(num_features, "num_features")
        self.eps = check_real(eps, "eps", low=0.0, low_open=True)
        dtype = np.dtype(dtype)
        if dtype.kind != "f":
            raise TypeError(f"dtype must be a floating-point type, got {dtype}")
        self.params["gamma"] = np.ones(self.num_features, dtype)
        self.params["beta"] = np.zeros(self.num_features, dtype)
        self.grads = {name: np.zeros_like(value) for name, value in self.params.items()}
        self._cache: tuple[np.ndarray, np.ndarray] | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Normalise (N, D) to (N, D), each row on its own."""
        gamma = self.params["gamma"]
        check_layer_input(x, "LayerNorm", self.num_features, gamma.dtype)
        out, x_hat, inv_std = layernorm_forward(x, gamma, self.params["beta"], self.eps)
        self._cache = (x_hat, inv_std)
        return out

    def backward(self, dout: np.ndarray, need_input_grad: bool = True) -> np.ndarray | None:
        """(N, D) upstream gradient to (N, D), filling ``grads``."""
        if self._cache is None:
            raise RuntimeError("LayerNorm.backward called before forward")
        x_hat, inv_std = self._cache
        return layernorm_backward(
            dout, x_hat, inv_std, self.params["gamma"], self.grads["gamma"],
            self.grads["beta"], need_input_grad,
        )

    def output_width(self, input_width: int) -> int:
        if input_width != self.num_features:
            raise ValueError(
                f"LayerNorm expects {self.num_features} input features, got {input_width}"
            )
        return input_width

    def extra_repr(self) -> str:
        return f"{self.num_features}, eps={self.eps:g}, dtype={self.params['gamma'].dtype}"
