"""The fastest iteration we could write in NumPy: no framework, no checks, fewest calls.

It answers one question: how much of minigrad's distance from the floor is minigrad's own
(its layers, trainer, checks and Python), and how much is any NumPy implementation's?

The same math as minigrad's ``Trainer.step`` with plain SGD (3072 -> 50 -> 10, softmax
cross-entropy, L2), rearranged by hand: minigrad computes the gradient ``g = dW + reg * W``
and then ``W -= lr * g``, as the textbook does; this iteration computes the same
``(1 - lr * reg) * W - lr * dW`` in two passes over ``W``, with ``-lr`` folded into the
backward pass so that the weight-gradient product yields ``-lr * dW`` directly. It is one
function body with every trick minigrad uses and a few it does not:

* minibatch drawn with ``Generator.integers`` and gathered with ``np.take(out=)`` into
  buffers allocated once (no range check);
* float32 ``W1`` stored column-major (so ``W1.T`` is row-major, the faster GEMM layout at
  float32 here), row-major at float64 (``minigrad.affine.WEIGHT_ORDER``);
* ReLU applied in place (``h *= mask``) and softmax + cross-entropy on a (C, N) copy with
  ``-lr / N`` folded into the normalisation, so the backward products yield the updates;
* L2 as weight decay (``W *= 1 - lr * reg; W += update``): two passes over each weight
  instead of four, and ``model.grads`` never hold the gradient;
* no finite check, no input validation, no loss history, no epochs.

Its time is a lower bound for a NumPy iteration written this way on this machine, not a
target: minigrad keeps its checks and its readable update, and ``benchmarks.iteration``
checks that they cost at most 15% (float32) and 10% (float64) against this iteration.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from minigrad.data.normalize import RowConverter

__all__ = ["MinimalImageFeed", "MinimalNet"]


class MinimalNet:
    """One hand-fused training iteration of the two-layer net, on ``X``'s dtype.

    Parameters
    ----------
    X : ndarray of shape (N, D), float32 or float64, the training rows
    y : int ndarray of shape (N,)
    hidden_size, num_classes : H and C.
    learning_rate, reg, batch_size : the workbook's hyper-parameters.
    seed : for the weights and the minibatches.
    """

    def __init__(
        self,
        X: np.ndarray,
        y: np.ndarray,
        hidden_size: int,
        num_classes: int,
        *,
        learning_rate: float,
        reg: float,
        batch_size: int,
        seed: int = 0,
    ) -> None:
        dtype = X.dtype
        self.X, self.y = X, y
        self.rng = np.random.default_rng(seed)
        order: Literal["C", "F"] = "F" if dtype == np.float32 else "C"
        std = 1e-4
        self.W1 = np.asarray(std * self.rng.standard_normal((hidden_size, X.shape[1])),
                             dtype=dtype, order=order)
        self.b1 = np.zeros(hidden_size, dtype)
        self.W2 = np.asarray(std * self.rng.standard_normal((num_classes, hidden_size)),
                             dtype=dtype, order=order)
        self.b2 = np.zeros(num_classes, dtype)
        self.dW1, self.dW2 = np.zeros_like(self.W1), np.zeros_like(self.W2)
        self.db1, self.db2 = np.zeros_like(self.b1), np.zeros_like(self.b2)
        self.X_batch = np.empty((batch_size, X.shape[1]), dtype)
        self.y_batch = np.empty(batch_size, y.dtype)
        self.rows = np.arange(batch_size)
        self.lr, self.reg = float(learning_rate), float(reg)

    def step(self, idx: np.ndarray | None = None) -> float:
        """One iteration on rows ``idx`` (drawn with replacement if None); returns the loss.

        The loss is the data loss plus the L2 penalty, before the update.
        """
        if idx is None:
            idx = self.rng.integers(0, len(self.X), len(self.rows))
        np.take(self.X, idx, axis=0, out=self.X_batch, mode="clip")
        np.take(self.y, idx, out=self.y_batch, mode="clip")
        return self.step_on(self.X_batch, self.y_batch)

    def step_on(self, X_batch: np.ndarray, y_batch: np.ndarray) -> float:
        """One iteration on a given minibatch (B, D) in ``X``'s dtype and its labels (B,)."""
        rows = self.rows
        W1, b1, W2, b2 = self.W1, self.b1, self.W2, self.b2
        n, lr, reg = len(rows), self.lr, self.reg

        h = X_batch @ W1.T
        h += b1
        mask = h > 0
        h *= mask
        shifted = (h @ W2.T + b2).T.copy()  # (C, N)
        shifted -= shifted.max(axis=0)
        correct = shifted[y_batch, rows]
        probs = np.exp(shifted, out=shifted)
        sums = probs.sum(axis=0)
        loss = -float((correct - np.log(sums)).sum()) / n
        loss += 0.5 * reg * (float(np.vdot(W1.ravel("K"), W1.ravel("K")))
                             + float(np.vdot(W2.ravel("K"), W2.ravel("K"))))

        probs *= (-lr / n) / sums  # -lr * dscores: the products below yield the updates
        probs[y_batch, rows] += lr / n
        update = probs.T  # (N, C)
        _weight_gradient(update, h, self.dW2)
        np.sum(update, axis=0, out=self.db2)
        dh = update @ W2
        dh *= mask
        _weight_gradient(dh, X_batch, self.dW1)
        np.sum(dh, axis=0, out=self.db1)

        decay = 1.0 - lr * reg
        for param, change, is_weight in ((W1, self.dW1, True), (b1, self.db1, False),
                                         (W2, self.dW2, True), (b2, self.db2, False)):
            if is_weight:
                param *= decay
            param += change
        return loss


def _weight_gradient(dout: np.ndarray, x: np.ndarray, out: np.ndarray) -> None:
    """``out = dout.T @ x`` with BLAS writing a row-major array (``out`` or ``out.T``)."""
    if out.flags.c_contiguous:
        np.matmul(dout.T, x, out=out)
    else:
        np.matmul(x.T, dout, out=out.T)


class MinimalImageFeed:
    """The image pipeline's data path with nothing around it, to feed :meth:`MinimalNet.step_on`.

    Shuffled epochs (one permutation per pass, contiguous slices of it), the uint8 images
    gathered with ``np.take(out=)`` into a buffer allocated once, then converted and
    normalised by minigrad's own :class:`~minigrad.data.normalize.RowConverter` (the
    library's fastest conversion, so this measures the data path itself, not a rival to
    it). With :class:`MinimalNet` it is the lower bound for an iteration fed from uint8
    images: no framework, no checks, no augmentation.

    Parameters
    ----------
    images : uint8 ndarray (N, H, W, C); labels : int ndarray (N,).
    converter : a ``RowConverter`` for at least ``batch_size`` rows.
    batch_size : B; seed : for the permutations.
    """

    def __init__(self, images: np.ndarray, labels: np.ndarray, converter: RowConverter,
                 batch_size: int, seed: int = 0) -> None:
        self.images, self.labels, self.converter = images, labels, converter
        self.batch_size = batch_size
        self.rng = np.random.default_rng(seed)
        self.order = np.arange(len(images))
        self.position = len(images)  # the first batch shuffles
        self.image_batch = np.empty((batch_size, *images.shape[1:]), images.dtype)
        self.label_batch = np.empty(batch_size, labels.dtype)

    def batch(self) -> tuple[np.ndarray, np.ndarray]:
        """The next shuffled minibatch: rows (B, H*W*C) in the converter's dtype, labels (B,)."""
        b = self.batch_size
        if self.position + b > len(self.order):
            self.rng.shuffle(self.order)
            self.position = 0
        idx = self.order[self.position : self.position + b]
        self.position += b
        np.take(self.images, idx, axis=0, out=self.image_batch, mode="clip")
        np.take(self.labels, idx, out=self.label_batch, mode="clip")
        return self.converter.convert(self.image_batch), self.label_batch
