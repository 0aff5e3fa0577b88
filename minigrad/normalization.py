"""Normalising along one axis: the math batch norm (axis 0) and layer norm (axis 1) share."""

from __future__ import annotations

import numpy as np

__all__ = ["normalize", "normalize_backward", "scale_shift_backward"]


def normalize(
    x: np.ndarray, axis: int, eps: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(x - mean) / sqrt(var + eps)`` with the mean and *biased* variance along ``axis``.

    Parameters
    ----------
    x : float ndarray of shape (N, D)
    axis : 0 normalises each feature over the batch (batch norm), 1 each row over its
        features (layer norm).
    eps : added to the variance, a Python float (so a float32 ``x`` stays float32).

    Returns
    -------
    x_hat : ndarray of shape (N, D), the normalised input
    mean, var : ndarrays with ``axis`` kept as length 1, ``(1, D)`` or ``(N, 1)``;
        ``var = mean((x - mean)**2)`` divides by the count, not the count minus 1
    inv_std : ``1 / sqrt(var + eps)``, same shape as ``mean``
    """
    mean = x.mean(axis=axis, keepdims=True)
    centred = x - mean
    var = np.mean(centred * centred, axis=axis, keepdims=True)
    inv_std = 1.0 / np.sqrt(var + eps)
    return centred * inv_std, mean, var, inv_std


def normalize_backward(
    dx_hat: np.ndarray, x_hat: np.ndarray, inv_std: np.ndarray, axis: int
) -> np.ndarray:
    """Gradient through :func:`normalize`, with the mean and variance depending on ``x``.

    Every entry along ``axis`` moves the mean and the variance, so the gradient is coupled:
    ``dx = inv_std * (dx_hat - mean(dx_hat) - x_hat * mean(dx_hat * x_hat))``, the means
    taken along ``axis``.

    Parameters
    ----------
    dx_hat : ndarray of shape (N, D), gradient with respect to ``x_hat``
    x_hat, inv_std : from :func:`normalize`
    axis : the axis :func:`normalize` used.

    Returns
    -------
    dx : ndarray of shape (N, D)
    """
    mean_dx_hat = dx_hat.mean(axis=axis, keepdims=True)
    mean_dx_hat_x_hat = np.mean(dx_hat * x_hat, axis=axis, keepdims=True)
    return inv_std * (dx_hat - mean_dx_hat - x_hat * mean_dx_hat_x_hat)


def scale_shift_backward(
    dout: np.ndarray, x_hat: np.ndarray, dgamma: np.ndarray, dbeta: np.ndarray
) -> None:
    """Gradients of ``gamma * x_hat + beta`` for gamma and beta, summed over the rows.

    Parameters
    ----------
    dout, x_hat : ndarrays of shape (N, D)
    dgamma, dbeta : ndarrays of shape (D,), overwritten with ``sum(dout * x_hat)`` and
        ``sum(dout)`` over the N rows (batch norm and layer norm share them)
    """
    np.sum(dout * x_hat, axis=0, out=dgamma)
    np.sum(dout, axis=0, out=dbeta)
