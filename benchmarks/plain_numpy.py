"""The baseline: the workbook's iteration as a student writes it, in plain NumPy.

This is the CS231n-style ``neural_net.py`` (``TwoLayerNet.loss`` and the loop body of
``TwoLayerNet.train``) written the usual way: ``np.random.choice`` for the minibatch,
fancy-index gather into a fresh array, ``X.dot(W1.T) + b1``, ReLU with ``np.maximum``,
softmax with the row max subtracted, loss plus ``0.5 * reg * sum(W * W)``, the backward
pass with boolean indexing, fresh gradient arrays, ``param -= lr * grad``. Float64, like
the workbook (its data comes from ``.astype("float")``). It is deliberately not tuned:
it is what minigrad is compared against.
"""

from __future__ import annotations

import numpy as np

__all__ = ["WorkbookNet"]


class WorkbookNet:
    """The workbook's two-layer net, ``W1`` of shape (H, D) as in the workbook."""

    def __init__(
        self, input_size: int, hidden_size: int, output_size: int, std: float = 1e-4
    ) -> None:
        self.params = {
            "W1": std * np.random.randn(hidden_size, input_size),  # noqa: NPY002 (workbook)
            "b1": np.zeros(hidden_size),
            "W2": std * np.random.randn(output_size, hidden_size),  # noqa: NPY002 (workbook)
            "b2": np.zeros(output_size),
        }

    def loss(
        self, X: np.ndarray, y: np.ndarray, reg: float = 0.0
    ) -> tuple[float, dict[str, np.ndarray]]:
        W1, b1 = self.params["W1"], self.params["b1"]
        W2, b2 = self.params["W2"], self.params["b2"]
        N, D = X.shape

        h1 = X.dot(W1.T) + b1
        a1 = np.maximum(0, h1)
        scores = a1.dot(W2.T) + b2

        scores = scores - np.max(scores, axis=1, keepdims=True)
        exp_scores = np.exp(scores)
        probs = exp_scores / np.sum(exp_scores, axis=1, keepdims=True)
        loss = -np.sum(np.log(probs[np.arange(N), y])) / N
        loss += 0.5 * reg * (np.sum(W1 * W1) + np.sum(W2 * W2))

        grads = {}
        dscores = probs.copy()
        dscores[np.arange(N), y] -= 1
        dscores /= N
        grads["W2"] = dscores.T.dot(a1) + reg * W2
        grads["b2"] = np.sum(dscores, axis=0)
        da1 = dscores.dot(W2)
        da1[h1 <= 0] = 0
        grads["W1"] = da1.T.dot(X) + reg * W1
        grads["b1"] = np.sum(da1, axis=0)
        return float(loss), grads

    def train_step(
        self, X: np.ndarray, y: np.ndarray, learning_rate: float, reg: float, batch_size: int
    ) -> float:
        """One iteration of the workbook's ``train`` loop; returns the loss."""
        num_train = X.shape[0]
        sample_indices = np.random.choice(num_train, batch_size)  # noqa: NPY002 (workbook)
        X_batch = X[sample_indices]
        y_batch = y[sample_indices]
        loss, grads = self.loss(X_batch, y=y_batch, reg=reg)
        for name in self.params:
            self.params[name] -= learning_rate * grads[name]
        return loss
