"""Prediction and accuracy, evaluated in chunks so memory stays bounded."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from minigrad.validation import check_positive_int

__all__ = ["predict_labels", "accuracy"]

DEFAULT_CHUNK_SIZE = 1000


def predict_labels(
    forward: Callable[[np.ndarray], np.ndarray],
    X: np.ndarray,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> np.ndarray:
    """Arg-max class of ``forward(X)``, computed ``chunk_size`` rows at a time.

    Parameters
    ----------
    forward : maps (n, D) rows to (n, C) scores; rows are independent.
    X : ndarray of shape (N, D)
    chunk_size : rows per forward call; the result does not depend on it.

    Returns
    -------
    ndarray of shape (N,), int64
    """
    chunk_size = check_positive_int(chunk_size, "chunk_size")
    labels = np.empty(X.shape[0], dtype=np.int64)
    for start in range(0, X.shape[0], chunk_size):
        stop = start + chunk_size
        labels[start:stop] = np.argmax(forward(X[start:stop]), axis=1)
    return labels


def accuracy(
    forward: Callable[[np.ndarray], np.ndarray],
    X: np.ndarray,
    y: np.ndarray,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> float:
    """Fraction of rows of ``X`` (N, D) whose predicted class equals ``y`` (N,)."""
    return float(np.mean(predict_labels(forward, X, chunk_size) == y))
