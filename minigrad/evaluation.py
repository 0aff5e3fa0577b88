"""Prediction and accuracy, in eval mode and in chunks so memory stays bounded."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np

from minigrad.layer import Layer
from minigrad.validation import check_features, check_labels, check_positive_int

__all__ = ["accuracy", "eval_mode", "predict_labels"]

DEFAULT_CHUNK_SIZE = 1000

Model = Layer | Callable[[np.ndarray], np.ndarray]
"""A layer (or model), a layer's ``forward``, or any function from rows (n, D) to scores (n, C)."""


@contextmanager
def eval_mode(model: Model) -> Iterator[Callable[[np.ndarray], np.ndarray]]:
    """Yield the forward function of ``model`` with the layer in eval mode meanwhile.

    A :class:`Layer`, or the bound ``forward`` of one, is switched to eval mode (dropout
    off, batch norm on its running statistics) and back to its previous mode afterwards;
    any other callable is used as it is.
    """
    layer = model if isinstance(model, Layer) else getattr(model, "__self__", None)
    if not isinstance(layer, Layer):
        yield model
        return
    was_training = layer.training
    layer.eval()
    try:
        yield layer.forward
    finally:
        layer.train(was_training)


def _scores_in_chunks(
    forward: Callable[[np.ndarray], np.ndarray], X: np.ndarray, chunk_size: int
) -> Iterator[tuple[slice, np.ndarray]]:
    for start in range(0, X.shape[0], chunk_size):
        rows = slice(start, start + chunk_size)
        yield rows, forward(X[rows])


def predict_labels(model: Model, X: np.ndarray, chunk_size: int = DEFAULT_CHUNK_SIZE) -> np.ndarray:
    """Arg-max class of the model's scores for each row, ``chunk_size`` rows at a time.

    Parameters
    ----------
    model : a layer or model (evaluated in eval mode), or a function from (n, D) rows to
        (n, C) scores; rows are independent.
    X : ndarray of shape (N, D), finite (N = 0 gives an empty result).
    chunk_size : rows per forward call; the result does not depend on it.

    Returns
    -------
    ndarray of shape (N,), int64
    """
    chunk_size = check_positive_int(chunk_size, "chunk_size")
    if isinstance(X, np.ndarray) and X.ndim == 2 and X.shape[0] == 0:
        return np.empty(0, dtype=np.int64)  # no rows, no predictions
    check_features(X)
    labels = np.empty(X.shape[0], dtype=np.int64)
    with eval_mode(model) as forward:
        for rows, scores in _scores_in_chunks(forward, X, chunk_size):
            labels[rows] = np.argmax(scores, axis=1)
    return labels


def accuracy(
    model: Model, X: np.ndarray, y: np.ndarray, chunk_size: int = DEFAULT_CHUNK_SIZE
) -> float:
    """Fraction of rows of ``X`` (N, D) whose predicted class equals ``y`` (N,).

    The labels are checked like everywhere else (integers, shape (N,), in ``[0, C)`` for the
    model's C classes), so a label of -1 or an (N, 1) column is an error, not a wrong number.
    """
    chunk_size = check_positive_int(chunk_size, "chunk_size")
    check_features(X)
    correct = 0
    with eval_mode(model) as forward:
        for rows, scores in _scores_in_chunks(forward, X, chunk_size):
            if rows.start == 0:
                check_labels(y, X.shape[0], scores.shape[1])
            correct += int(np.count_nonzero(np.argmax(scores, axis=1) == y[rows]))
    return correct / X.shape[0]
