"""Softmax followed by cross-entropy, fused for stability and a simple gradient."""

from __future__ import annotations

import numpy as np

from minigrad.validation import check_labels, check_scores

__all__ = ["SoftmaxCrossEntropy", "log_softmax", "softmax_cross_entropy"]


def log_softmax(scores: np.ndarray) -> np.ndarray:
    """Row-wise log of the softmax, computed stably (shift by the row max).

    Parameters
    ----------
    scores : ndarray of shape (N, C)

    Returns
    -------
    ndarray of shape (N, C), finite for finite scores of any magnitude
    """
    shifted = scores - scores.max(axis=1, keepdims=True)
    shifted -= np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return shifted


def softmax_cross_entropy(scores: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean cross-entropy of softmax(scores) against integer labels, and its gradient.

    Parameters
    ----------
    scores : ndarray of shape (N, C), unnormalised class scores (logits)
    y : int ndarray of shape (N,), labels in ``[0, C)``

    Raises
    ------
    ValueError, TypeError
        ``scores`` is not (N, C) floating point, or ``y`` is not N integer labels in
        ``[0, C)`` (a label of -1 would pick the last class; labels of shape (N, 1)
        would broadcast into an N x N block).

    Returns
    -------
    loss : float, ``-mean(log softmax(scores)[i, y[i]])``
    dscores : ndarray of shape (N, C), ``(softmax(scores) - onehot(y)) / N``, dtype of
        ``scores`` (a transposed view of a (C, N) array)

    Notes
    -----
    The work is done on a (C, N) copy: the reductions over the few classes then run along
    its columns, several times faster than NumPy's per-row reductions of an (N, C) array
    with C = 10 (about 1.5 us instead of 10 us each for N = 200).
    """
    check_scores(scores)
    n = scores.shape[0]
    check_labels(y, n, scores.shape[1])
    rows = np.arange(n)
    shifted = scores.T.copy(order="C")  # (C, N); shifting by the max keeps exp finite
    shifted -= shifted.max(axis=0)
    correct = shifted[y, rows]
    probs = np.exp(shifted, out=shifted)
    sums = probs.sum(axis=0)
    loss = -float((correct - np.log(sums)).sum()) / n  # the log-probabilities of the labels
    probs /= sums * n  # softmax / N
    probs[y, rows] -= 1.0 / n
    return loss, probs.T


class SoftmaxCrossEntropy:
    """Loss layer: ``forward(scores, y) -> loss``, then ``backward() -> dscores``."""

    def __init__(self) -> None:
        self._dscores: np.ndarray | None = None

    def forward(self, scores: np.ndarray, y: np.ndarray) -> float:
        """Mean loss over the batch; (N, C) scores, (N,) labels."""
        loss, self._dscores = softmax_cross_entropy(scores, y)
        return loss

    def backward(self) -> np.ndarray:
        """Gradient with respect to the scores, shape (N, C)."""
        if self._dscores is None:
            raise RuntimeError("SoftmaxCrossEntropy.backward called before forward")
        return self._dscores

    def __call__(self, scores: np.ndarray, y: np.ndarray) -> float:
        return self.forward(scores, y)

    def __repr__(self) -> str:
        return "SoftmaxCrossEntropy()"
