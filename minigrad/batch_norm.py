"""Batch normalisation of (N, D) activations, with PyTorch's ``BatchNorm1d`` conventions."""

from __future__ import annotations

import numpy as np
from numpy.typing import DTypeLike

from minigrad.layer import Layer
from minigrad.normalization import normalize, normalize_backward, scale_shift_backward
from minigrad.validation import check_layer_input, check_positive_int, check_real

__all__ = [
    "BatchNorm1d",
    "batchnorm_backward_eval",
    "batchnorm_backward_train",
    "batchnorm_forward_eval",
    "batchnorm_forward_train",
    "update_running_statistics",
]


def batchnorm_forward_train(
    x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Train-mode batch norm: normalise each feature with the batch's own statistics.

    Parameters
    ----------
    x : ndarray of shape (N, D), N >= 2
    gamma, beta : ndarrays of shape (D,), scale and shift
    eps : added to the variance

    Returns
    -------
    out : ndarray of shape (N, D), ``gamma * x_hat + beta``
    x_hat : ndarray of shape (N, D), ``(x - mean) / sqrt(var + eps)``
    inv_std : ndarray of shape (1, D), ``1 / sqrt(var + eps)``
    mean : ndarray of shape (D,), the batch mean
    var : ndarray of shape (D,), the *biased* batch variance (divided by N), the one used
        to normalise
    """
    x_hat, mean, var, inv_std = normalize(x, axis=0, eps=eps)
    return gamma * x_hat + beta, x_hat, inv_std, mean[0], var[0]


def batchnorm_forward_eval(
    x: np.ndarray,
    gamma: np.ndarray,
    beta: np.ndarray,
    running_mean: np.ndarray,
    running_var: np.ndarray,
    eps: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Eval-mode batch norm: a fixed affine map per feature, from the running statistics.

    Parameters
    ----------
    x : ndarray of shape (N, D), any N >= 1 (rows are independent)
    gamma, beta, running_mean, running_var : ndarrays of shape (D,)
    eps : added to the variance

    Returns
    -------
    out : ndarray of shape (N, D)
    x_hat : ndarray of shape (N, D), ``(x - running_mean) / sqrt(running_var + eps)``
    inv_std : ndarray of shape (D,), ``1 / sqrt(running_var + eps)``
    """
    inv_std = 1.0 / np.sqrt(running_var + eps)
    x_hat = (x - running_mean) * inv_std
    return gamma * x_hat + beta, x_hat, inv_std


def update_running_statistics(
    running_mean: np.ndarray,
    running_var: np.ndarray,
    batch_mean: np.ndarray,
    batch_var: np.ndarray,
    batch_size: int,
    momentum: float,
) -> None:
    """``running = (1 - momentum) * running + momentum * batch``, in place.

    As ``torch.nn.BatchNorm1d``, the variance that enters the running average is the
    *unbiased* one, ``batch_var * N / (N - 1)``, although the batch is normalised with the
    biased one.

    Parameters
    ----------
    running_mean, running_var : ndarrays of shape (D,), updated in place
    batch_mean, batch_var : ndarrays of shape (D,), from :func:`batchnorm_forward_train`
        (``batch_var`` biased)
    batch_size : N >= 2
    momentum : weight of the new batch, in [0, 1]
    """
    unbiased = batch_var * (batch_size / (batch_size - 1))
    running_mean *= 1.0 - momentum
    running_mean += momentum * batch_mean
    running_var *= 1.0 - momentum
    running_var += momentum * unbiased


def batchnorm_backward_train(
    dout: np.ndarray,
    x_hat: np.ndarray,
    inv_std: np.ndarray,
    gamma: np.ndarray,
    dgamma: np.ndarray,
    dbeta: np.ndarray,
    need_input_grad: bool = True,
) -> np.ndarray | None:
    """Gradients of train-mode batch norm, the full batch-coupled one for ``x``.

    Parameters
    ----------
    dout : ndarray of shape (N, D), upstream gradient
    x_hat, inv_std : from :func:`batchnorm_forward_train`
    gamma : ndarray of shape (D,)
    dgamma, dbeta : ndarrays of shape (D,), overwritten with ``sum(dout * x_hat)`` and
        ``sum(dout)`` over the batch
    need_input_grad : compute ``dx`` only when asked.

    Returns
    -------
    dx : ndarray of shape (N, D), or None. Every row of the batch enters the mean and the
        variance, so ``dx`` depends on the whole batch (:func:`normalize_backward`).
    """
    scale_shift_backward(dout, x_hat, dgamma, dbeta)
    if not need_input_grad:
        return None
    return normalize_backward(dout * gamma, x_hat, inv_std, axis=0)


def batchnorm_backward_eval(
    dout: np.ndarray,
    x_hat: np.ndarray,
    inv_std: np.ndarray,
    gamma: np.ndarray,
    dgamma: np.ndarray,
    dbeta: np.ndarray,
    need_input_grad: bool = True,
) -> np.ndarray | None:
    """Gradients of eval-mode batch norm: the running statistics are constants.

    Parameters
    ----------
    dout : ndarray of shape (N, D)
    x_hat, inv_std : from :func:`batchnorm_forward_eval`
    gamma : ndarray of shape (D,)
    dgamma, dbeta : ndarrays of shape (D,), overwritten
    need_input_grad : compute ``dx`` only when asked.

    Returns
    -------
    dx : ndarray of shape (N, D), ``dout * gamma / sqrt(running_var + eps)``, or None
    """
    scale_shift_backward(dout, x_hat, dgamma, dbeta)
    return dout * (gamma * inv_std) if need_input_grad else None


class BatchNorm1d(Layer):
    """Batch normalisation over the batch axis of (N, D) inputs, as ``torch.nn.BatchNorm1d``.

    - **Parameters** ``gamma`` (ones) and ``beta`` (zeros), shape (D,): PyTorch's ``weight``
      and ``bias``. Neither is in ``weight_names``, so L2 does not touch them (CS231n's
      convention; both are still trained).
    - **Buffers** ``running_mean`` (zeros) and ``running_var`` (ones), shape (D,): in
      :meth:`state_dict`, never seen by an optimiser or L2.
    - **Train mode** normalises each feature with the batch mean and the *biased* batch
      variance, then updates ``running = (1 - momentum) * running + momentum * batch`` with
      the *unbiased* batch variance, as PyTorch does. The backward pass is the full
      batch-coupled gradient. A batch of one row is refused (``ValueError``), as PyTorch
      refuses it: its variance is 0 and the unbiased one undefined.
    - **Eval mode** uses the running statistics; the output of each row depends only on that
      row, and the backward pass is the affine map's.

    Unlike PyTorch there is no ``momentum=None`` (cumulative average), no
    ``num_batches_tracked`` buffer and no (N, C, L) input.

    Parameters
    ----------
    num_features : D.
    eps : added to the variance, > 0.
    momentum : weight of each new batch in the running statistics, in [0, 1].
    dtype : float dtype of the parameters, the buffers and the computation.
    """

    weight_names = ()

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float = 0.1,
        dtype: DTypeLike = np.float64,
    ) -> None:
        super().__init__()
        self.num_features = check_positive_int(num_features, "num_features")
        self.eps = check_real(eps, "eps", low=0.0, low_open=True)
        self.momentum = check_real(momentum, "momentum", low=0.0, high=1.0)
        dtype = np.dtype(dtype)
        if dtype.kind != "f":
            raise TypeError(f"dtype must be a floating-point type, got {dtype}")
        self.params["gamma"] = np.ones(self.num_features, dtype)
        self.params["beta"] = np.zeros(self.num_features, dtype)
        self.grads = {name: np.zeros_like(value) for name, value in self.params.items()}
        self.buffers["running_mean"] = np.zeros(self.num_features, dtype)
        self.buffers["running_var"] = np.ones(self.num_features, dtype)
        # (train mode at forward time, x_hat, inv_std): backward follows the forward's mode.
        self._cache: tuple[bool, np.ndarray, np.ndarray] | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Normalise (N, D) to (N, D); in train mode also update the running statistics."""
        gamma, beta = self.params["gamma"], self.params["beta"]
        check_layer_input(x, "BatchNorm1d", self.num_features, gamma.dtype)
        if not self.training:
            out, x_hat, inv_std = batchnorm_forward_eval(
                x, gamma, beta, self.buffers["running_mean"], self.buffers["running_var"],
                self.eps,
            )
            self._cache = (False, x_hat, inv_std)
            return out
        if x.shape[0] < 2:
            raise ValueError(
                f"BatchNorm1d in train mode needs more than 1 row per batch, got shape "
                f"{x.shape}: one row has no batch variance (PyTorch refuses it too); use "
                "eval mode or a larger batch"
            )
        out, x_hat, inv_std, mean, var = batchnorm_forward_train(x, gamma, beta, self.eps)
        update_running_statistics(
            self.buffers["running_mean"], self.buffers["running_var"], mean, var,
            x.shape[0], self.momentum,
        )
        self._cache = (True, x_hat, inv_std)
        return out

    def backward(self, dout: np.ndarray, need_input_grad: bool = True) -> np.ndarray | None:
        """(N, D) upstream gradient to (N, D), filling ``grads``; in the forward's mode."""
        if self._cache is None:
            raise RuntimeError("BatchNorm1d.backward called before forward")
        trained, x_hat, inv_std = self._cache
        backward = batchnorm_backward_train if trained else batchnorm_backward_eval
        return backward(
            dout, x_hat, inv_std, self.params["gamma"], self.grads["gamma"],
            self.grads["beta"], need_input_grad,
        )

    def output_width(self, input_width: int) -> int:
        if input_width != self.num_features:
            raise ValueError(
                f"BatchNorm1d expects {self.num_features} input features, got {input_width}"
            )
        return input_width

    def extra_repr(self) -> str:
        return (
            f"{self.num_features}, eps={self.eps:g}, momentum={self.momentum:g}, "
            f"dtype={self.params['gamma'].dtype}"
        )
