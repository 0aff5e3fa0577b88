"""Softmax followed by cross-entropy, fused for stability and a simple gradient."""

from __future__ import annotations

import numpy as np

__all__ = ["SoftmaxCrossEntropy", "softmax_cross_entropy", "log_softmax"]


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

    Returns
    -------
    loss : float, ``-mean(log softmax(scores)[i, y[i]])``
    dscores : ndarray of shape (N, C), ``(softmax(scores) - onehot(y)) / N``
    """
    n = scores.shape[0]
    rows = np.arange(n)
    log_probs = log_softmax(scores)
    loss = -float(log_probs[rows, y].sum()) / n
    dscores = np.exp(log_probs, out=log_probs)
    dscores[rows, y] -= 1
    dscores /= n
    return loss, dscores


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
