"""The training loop: sample, forward, loss, backward, L2, step; epochs decay the rate."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from minigrad.callbacks import Callback
from minigrad.evaluation import accuracy
from minigrad.history import History
from minigrad.regularization import add_l2_gradients
from minigrad.sampling import Sampler, make_sampler
from minigrad.sequential import Sequential
from minigrad.softmax_cross_entropy import SoftmaxCrossEntropy
from minigrad.validation import check_features, check_labels, check_positive_int

__all__ = ["Trainer", "DivergenceError"]


class DivergenceError(FloatingPointError):
    """The loss or a gradient became NaN or inf; the parameters are left finite."""


def _all_finite(arrays: Iterable[np.ndarray]) -> bool:
    # One reduction per array: a NaN or inf anywhere makes the sum non-finite.
    return all(math.isfinite(float(np.sum(a))) for a in arrays)


class Trainer:
    """Trains a model with an optimiser on integer-labelled data.

    Parameters
    ----------
    model : a :class:`Sequential` (anything with forward, backward, params, grads,
        weight_names).
    optimizer : an ``optim`` optimiser: ``step(params, grads)``, ``advance_epoch()``.
    loss : the loss layer; softmax cross-entropy by default.
    reg : L2 strength on the model's weights (``0.5 * reg * sum(W**2)``).
    batch_size : rows per minibatch.
    sampling : ``"shuffle"`` (epochs without replacement, the default) or
        ``"replacement"`` (the workbook's).
    rng : the generator for sampling; ``None`` with ``"replacement"`` uses NumPy's
        global legacy generator like the workbook.
    callbacks : hooks for progress, logging and stopping.
    eval_chunk_size : rows per forward pass when measuring accuracy.
    """

    def __init__(
        self,
        model: Sequential,
        optimizer: Any,
        *,
        loss: SoftmaxCrossEntropy | None = None,
        reg: float = 0.0,
        batch_size: int = 200,
        sampling: str = "shuffle",
        rng: np.random.Generator | None = None,
        callbacks: Iterable[Callback] = (),
        eval_chunk_size: int = 1000,
    ) -> None:
        if not (isinstance(reg, (int, float)) and math.isfinite(reg) and reg >= 0):
            raise ValueError(f"reg must be a finite number >= 0, got {reg!r}")
        self.model = model
        self.optimizer = optimizer
        self.loss = SoftmaxCrossEntropy() if loss is None else loss
        self.reg = float(reg)
        self.batch_size = check_positive_int(batch_size, "batch_size")
        self.sampling = sampling
        self.rng = rng
        self.callbacks = list(callbacks)
        self.eval_chunk_size = eval_chunk_size
        self.history = History()
        self.iteration = 0
        self.stop_training = False
        self.sampler: Sampler | None = None

    def _check_data(
        self, X: np.ndarray, y: np.ndarray, X_val: np.ndarray | None, y_val: np.ndarray | None
    ) -> None:
        width, classes, dtype = self.model.in_features, self.model.out_features, self.model.dtype
        pairs = [("X", "y", X, y)]
        if X_val is not None or y_val is not None:
            if X_val is None or y_val is None:
                raise ValueError("give both X_val and y_val, or neither")
            pairs.append(("X_val", "y_val", X_val, y_val))
        for x_name, y_name, features, labels in pairs:
            check_features(features, width, x_name)
            check_labels(labels, features.shape[0], classes, y_name)
            if dtype is not None and features.dtype != dtype:
                raise TypeError(
                    f"{x_name} is {features.dtype} but the model's parameters are {dtype}; "
                    f"convert the data once, e.g. {x_name}.astype(np.{dtype})"
                )

    def step(self, X_batch: np.ndarray, y_batch: np.ndarray) -> float:
        """One iteration on a minibatch: loss, gradients, L2, update. Returns the loss.

        Raises :class:`DivergenceError` before updating if the loss or a gradient is
        not finite, so the parameters keep their last finite values.
        """
        model = self.model
        data_loss = self.loss.forward(model.forward(X_batch), y_batch)
        model.backward(self.loss.backward(), need_input_grad=False)
        params, grads = model.params, model.grads
        loss = data_loss + add_l2_gradients(params, grads, model.weight_names, self.reg)
        if not math.isfinite(loss):
            what = f"the loss is {loss}"
        elif not _all_finite(grads.values()):
            what = "a gradient holds NaN or inf"
        else:
            self.optimizer.step(params, grads)
            return loss
        raise DivergenceError(
            f"training diverged at iteration {self.iteration}: {what}; the parameters keep "
            "their last finite values (try a smaller learning rate)"
        )

    def fit(
        self,
        X: np.ndarray,
        y: np.ndarray,
        X_val: np.ndarray | None = None,
        y_val: np.ndarray | None = None,
        num_iters: int = 100,
    ) -> History:
        """Run ``num_iters`` iterations (continuing from :attr:`iteration`).

        Parameters
        ----------
        X : ndarray of shape (N, D), the model's dtype
        y : int ndarray of shape (N,)
        X_val, y_val : optional validation rows (M, D) and labels (M,)
        num_iters : iterations to run in this call.

        Returns
        -------
        History, also kept as :attr:`history`.
        """
        num_iters = check_positive_int(num_iters, "num_iters")
        self._check_data(X, y, X_val, y_val)
        if self.sampler is None:
            self.sampler = make_sampler(self.sampling, X.shape[0], self.batch_size, self.rng)
        sampler = self.sampler
        self.stop_training = False
        for callback in self.callbacks:
            callback.on_train_begin(self)
        end = self.iteration + num_iters
        while self.iteration < end and not self.stop_training:
            it = self.iteration
            idx = sampler.indices(it)
            X_batch, y_batch = np.take(X, idx, axis=0), y[idx]
            loss = self.step(X_batch, y_batch)
            self.history.loss.append(loss)
            for callback in self.callbacks:
                callback.on_iteration_end(self, it, loss)
            if sampler.is_epoch_end(it):
                self._end_epoch(it, X_batch, y_batch, X_val, y_val)
            self.iteration += 1
        for callback in self.callbacks:
            callback.on_train_end(self)
        return self.history

    def _end_epoch(
        self,
        iteration: int,
        X_batch: np.ndarray,
        y_batch: np.ndarray,
        X_val: np.ndarray | None,
        y_val: np.ndarray | None,
    ) -> None:
        forward = self.model.forward
        train_acc = accuracy(forward, X_batch, y_batch, self.eval_chunk_size)
        val_acc = None
        if X_val is not None and y_val is not None:
            val_acc = accuracy(forward, X_val, y_val, self.eval_chunk_size)
            self.history.val_acc.append(val_acc)
        self.history.train_acc.append(train_acc)
        self.history.epoch_iterations.append(iteration)
        epoch = len(self.history.epoch_iterations) - 1
        for callback in self.callbacks:
            callback.on_epoch_end(self, epoch, train_acc, val_acc)
        self.optimizer.advance_epoch()
