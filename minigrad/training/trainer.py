"""The training loop: batch, forward, loss, backward, L2, step; epochs decay the rate.

The loop takes its minibatches from a batch source (:mod:`minigrad.data.batch_source`):
``fit(X, y)`` wraps float rows in an :class:`~minigrad.data.array_batches.ArrayBatches`
(the trainer's sampler + gathered rows: the same draws and numbers as always), and
``fit(source)`` uses any other, e.g. uint8 images with augmentation
(:class:`~minigrad.data.image_batches.ImageBatches`). Validation data is an (M, D) array or
rows converted a chunk at a time (:class:`~minigrad.data.image_rows.ImageRows`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any, NoReturn

import numpy as np

from minigrad.data.array_batches import ArrayBatches, is_array_state
from minigrad.data.batch_source import BatchSource, EvaluationRows
from minigrad.data.sampling import (
    SAMPLING_KINDS,
    Sampler,
    apply_generator_state,
    check_generator_state,
    generator_state,
    make_sampler,
)
from minigrad.evaluation import Model, accuracy, eval_mode
from minigrad.loss import Loss
from minigrad.regularization import add_l2_gradients
from minigrad.sequential import Sequential
from minigrad.softmax_cross_entropy import SoftmaxCrossEntropy
from minigrad.training.callbacks import Callback
from minigrad.training.history import History
from minigrad.validation import (
    check_choice,
    check_features,
    check_int,
    check_labels,
    check_positive_int,
    check_real,
    describe,
)

__all__ = ["Trainer", "DivergenceError", "EvaluationData", "evaluate_accuracy"]

TRAINER_STATE_ENTRIES = ("iteration", "config", "model", "optimizer", "sampler", "history")

EvaluationData = np.ndarray | EvaluationRows
"""Validation or test data: rows (M, D), or rows converted a chunk at a time."""

DEFAULT_BATCH_SIZE = 200
DEFAULT_SAMPLING = "shuffle"


class DivergenceError(FloatingPointError):
    """The loss or a gradient became NaN or inf; the parameters are left finite."""


def _all_finite(arrays: Iterable[np.ndarray]) -> bool:
    # One reduction per array: a NaN or inf anywhere makes the squared norm non-finite (so
    # does a norm beyond the dtype's range: divergence too). np.vdot is a single pass without
    # a temporary, 2.5x faster than np.sum on a (50, 3072) float32 array; ravel("K") is a
    # flat view of a contiguous array in either order (a column-major one would be copied).
    return all(math.isfinite(float(np.vdot(a.ravel("K"), a.ravel("K")))) for a in arrays)


def evaluate_accuracy(
    model: Model, X: EvaluationData, y: np.ndarray, chunk_size: int = 1000
) -> float:
    """Fraction of rows whose predicted class is ``y``, in eval mode, ``chunk_size`` rows at a time.

    Parameters
    ----------
    model : a layer or model (evaluated in eval mode), or a function from rows to scores.
    X : rows (M, D), or an :class:`~minigrad.data.batch_source.EvaluationRows` such as
        ``ImageRows(test_images, normalization, dtype)`` (uint8 images normalised a chunk at
        a time, never augmented, never converted whole).
    y : int ndarray of shape (M,).
    """
    if isinstance(X, np.ndarray):
        return accuracy(model, X, y, chunk_size)
    if not isinstance(X, EvaluationRows):
        raise TypeError(
            f"X must be rows (an ndarray) or EvaluationRows (e.g. ImageRows), got "
            f"{type(X).__name__}"
        )
    chunk_size = check_positive_int(chunk_size, "chunk_size")
    correct = 0
    with eval_mode(model) as forward:
        for rows, chunk in X.chunks(chunk_size):
            scores = forward(chunk)
            if rows.start == 0:
                check_labels(y, X.num_rows, scores.shape[1])
            correct += int(np.count_nonzero(np.argmax(scores, axis=1) == y[rows]))
    return correct / X.num_rows


class Trainer:
    """Trains a model with an optimiser on integer-labelled data.

    Parameters
    ----------
    model : a :class:`Sequential` (anything with forward, backward, params, grads,
        weight_names).
    optimizer : an ``optim`` optimiser: ``step(params, grads)``, ``advance_epoch()``.
    loss : the loss layer (any :class:`~minigrad.loss.Loss`: ``forward(scores, y) -> float``,
        ``backward() -> dscores``); softmax cross-entropy by default.
    reg : L2 strength on the model's weights (``0.5 * reg * sum(W**2)``).
    batch_size : rows per minibatch when training on arrays (default 200).
    sampling : ``"shuffle"`` (epochs without replacement, the default; needs ``rng``) or
        ``"replacement"`` (the workbook's), when training on arrays.
    rng : the generator for sampling arrays; ``None`` with ``"replacement"`` uses NumPy's
        global legacy generator like the workbook.
    batches : a batch source to train from (it brings its own batch size, sampling and
        generator, so ``batch_size``, ``sampling`` and ``rng`` must then be left out).
        A source can also be given to the first :meth:`fit` instead; given here, a
        checkpoint loaded before that fit is checked against it at once.
    callbacks : hooks for progress, logging and stopping.
    eval_chunk_size : rows per forward pass when measuring accuracy.

    Attributes
    ----------
    iteration : iterations run so far (0-based index of the next one).
    history : the curves recorded so far.
    batch_size, sampling : the arrays' settings, or the batch source's once it is bound.
    batches : the batch source this trainer trains from (None for arrays, or before the
        first ``fit(source)``).
    sampler : for arrays, built on the first :meth:`fit` for the training set's size.
    stop_training : a callback sets it to end :meth:`fit` after the current iteration.
    """

    def __init__(
        self,
        model: Sequential,
        optimizer: Any,
        *,
        loss: Loss | None = None,
        reg: float = 0.0,
        batch_size: int | None = None,
        sampling: str | None = None,
        rng: np.random.Generator | None = None,
        batches: BatchSource | None = None,
        callbacks: Iterable[Callback] = (),
        eval_chunk_size: int = 1000,
    ) -> None:
        self._array_settings = not (batch_size is None and sampling is None and rng is None)
        kind = DEFAULT_SAMPLING if sampling is None else sampling
        check_choice(kind, "sampling", SAMPLING_KINDS)
        if sampling == "shuffle" and rng is None:
            raise ValueError(
                "shuffled sampling needs an explicit np.random.Generator (rng=...); "
                "rng=None is only for the workbook's sampling='replacement'"
            )
        self.model = model
        self.optimizer = optimizer
        self.loss = SoftmaxCrossEntropy() if loss is None else loss
        self.reg = check_real(reg, "reg", low=0.0)
        self.batch_size = check_positive_int(
            DEFAULT_BATCH_SIZE if batch_size is None else batch_size, "batch_size"
        )
        self.sampling = kind
        self.rng = rng
        self.callbacks = list(callbacks)
        self.eval_chunk_size = check_positive_int(eval_chunk_size, "eval_chunk_size")
        self.history = History()
        self.iteration = 0
        self.stop_training = False
        self.sampler: Sampler | None = None
        self.batches: BatchSource | None = None
        # A batch source's state loaded before the source was given (applied when it is).
        self._saved_source_state: Mapping[str, Any] | None = None
        if batches is not None:
            self._check_bindable(batches)
            self._bind(batches)

    # ------------------------------------------------------------------ data checks

    def _check_bindable(self, source: Any) -> None:
        if not isinstance(source, BatchSource):
            raise TypeError(
                f"batches must be a batch source (minigrad.data.batch_source.BatchSource), "
                f"got {type(source).__name__}"
            )
        if self.sampler is not None:
            raise ValueError(
                "this trainer has trained on arrays X, y (its sampler is theirs); continue "
                "with arrays, or train the batch source with a new Trainer"
            )
        if self._array_settings:
            raise ValueError(
                "batch_size, sampling and rng are the batch source's settings: give them to "
                "the source, and build the Trainer without them"
            )
        if self.batches is not None and source is not self.batches:
            raise ValueError(
                "this trainer trains from another batch source; continue with the same "
                "source object (a new one can take over with "
                "new.load_state_dict(old.state_dict()))"
            )
        if self._saved_source_state is not None:
            source.check_state_dict(self._saved_source_state)

    def _bind(self, source: BatchSource) -> None:
        if self._saved_source_state is not None:
            source.load_state_dict(self._saved_source_state)
            self._saved_source_state = None
        self.batches = source
        self.batch_size = source.batch_size
        self.sampling = source.sampling

    def _check_training_data(self, X: Any, y: Any) -> BatchSource | None:
        """Check ``fit``'s training data; the batch source to bind (None for arrays)."""
        width, classes, dtype = self.model.in_features, self.model.out_features, self.model.dtype
        if isinstance(X, np.ndarray) or y is not None:
            if self.batches is not None or self._saved_source_state is not None:
                raise ValueError(
                    "this trainer trains from a batch source; call fit(X_val=..., ...) or "
                    "fit(source, ...) without arrays"
                )
            check_features(X, width, "X")
            check_labels(y, X.shape[0], classes, "y")
            self._check_dtype("X", X.dtype, f"convert the data once, e.g. X.astype(np.{dtype})")
            return None
        source = self.batches if X is None else X
        if source is None:
            raise ValueError("give training data: arrays X and y, or a batch source")
        self._check_bindable(source)
        if source.num_features != width:
            raise ValueError(
                f"the batch source's rows have {source.num_features} features, but the model "
                f"expects {width}"
            )
        self._check_dtype("the batch source's dtype", source.dtype,
                          f"build the source with dtype=np.{dtype}")
        check_labels(source.labels, source.num_train, classes, "the batch source's labels")
        return source

    def _check_validation_data(self, X_val: Any, y_val: Any) -> None:
        if X_val is None and y_val is None:
            return
        if X_val is None or y_val is None:
            raise ValueError("give both X_val and y_val, or neither")
        width, classes = self.model.in_features, self.model.out_features
        if isinstance(X_val, EvaluationRows) and not isinstance(X_val, np.ndarray):
            if X_val.num_features != width:
                raise ValueError(
                    f"X_val has {X_val.num_features} features per row, but the model expects "
                    f"{width}"
                )
            check_labels(y_val, X_val.num_rows, classes, "y_val")
            self._check_dtype("X_val", X_val.dtype, "build it with the model's dtype")
            return
        check_features(X_val, width, "X_val")
        check_labels(y_val, X_val.shape[0], classes, "y_val")
        self._check_dtype("X_val", X_val.dtype,
                          f"convert the data once, e.g. X_val.astype(np.{self.model.dtype})")

    def _check_dtype(self, name: str, dtype: np.dtype, advice: str) -> None:
        ours = self.model.dtype
        if ours is not None and dtype != ours:
            raise TypeError(f"{name} is {dtype} but the model's parameters are {ours}; {advice}")

    def step(self, X_batch: np.ndarray, y_batch: np.ndarray) -> float:
        """One iteration on a minibatch: forward, loss, backward, L2, update. Returns the loss.

        After the step ``model.grads`` hold d(loss)/d(param) at the parameters the step
        started from, L2 included, whichever optimiser ran. Raises :class:`DivergenceError`
        before updating if the loss or a gradient is not finite, or if the optimiser's step
        would overflow (a float32 model with a huge rate), so the parameters keep their last
        finite values (an optimiser's state slots, e.g. Adam's moments, have then moved on).
        """
        model = self.model
        scores = model.forward(X_batch)
        data_loss = self.loss.forward(scores, y_batch)
        model.backward(self.loss.backward(), need_input_grad=False)
        params, grads = model.params, model.grads
        loss = data_loss + add_l2_gradients(params, grads, model.weight_names, self.reg)
        if not math.isfinite(loss):
            self._diverged(f"the loss is {loss}")
        # A NaN or inf gradient makes its step non-finite under every update rule, and the
        # optimiser checks every step before changing any parameter: one pass over the
        # gradients fewer than checking them here too.
        try:
            self.optimizer.step(params, grads)
        except FloatingPointError as err:
            if not _all_finite(grads.values()):  # only now, to name the cause
                self._diverged("a gradient holds NaN or inf")
            self._diverged(str(err))
        return loss

    def _diverged(self, what: str) -> NoReturn:
        raise DivergenceError(
            f"training diverged at iteration {self.iteration}: {what}; the parameters keep "
            "their last finite values (try a smaller learning rate)"
        ) from None

    def fit(
        self,
        X: np.ndarray | BatchSource | None = None,
        y: np.ndarray | None = None,
        X_val: EvaluationData | None = None,
        y_val: np.ndarray | None = None,
        num_iters: int | None = None,
        *,
        num_epochs: int | None = None,
    ) -> History:
        """Run ``num_iters`` iterations or ``num_epochs`` epochs, continuing from :attr:`iteration`.

        Parameters
        ----------
        X : the training data: rows (N, D) in the model's dtype (with ``y``), or a batch
            source (without ``y``), or None for the source the trainer already has.
        y : int ndarray of shape (N,), the labels of rows ``X``.
        X_val, y_val : optional validation data, rows (M, D) or an
            :class:`~minigrad.data.batch_source.EvaluationRows` (e.g.
            ``source.evaluation_rows(val_images)``), and labels (M,); evaluated in eval
            mode, ``eval_chunk_size`` rows at a time, at every epoch end.
        num_iters : iterations to run in this call (100 if neither count is given).
        num_epochs : or this many epochs: ``ceil(num_epochs * iterations_per_epoch)``
            iterations of the source.

        Returns
        -------
        History, also kept as :attr:`history`.
        """
        if num_iters is not None and num_epochs is not None:
            raise ValueError("give num_iters or num_epochs, not both")
        source_to_bind = self._check_training_data(X, y)
        self._check_validation_data(X_val, y_val)
        if num_epochs is not None:
            num_epochs = check_positive_int(num_epochs, "num_epochs")
        if num_iters is not None:
            num_iters = check_positive_int(num_iters, "num_iters")
        # Everything is checked: from here on the trainer changes.
        source: BatchSource
        if source_to_bind is None:
            assert isinstance(X, np.ndarray) and y is not None
            source = ArrayBatches(X, y, self._sampler_for(X.shape[0]))
        else:
            if source_to_bind is not self.batches:
                self._bind(source_to_bind)
            source = source_to_bind
        if num_epochs is not None:
            num_iters = source.iterations_for_epochs(num_epochs)
        num_iters = 100 if num_iters is None else num_iters
        self.stop_training = False
        self.model.train()
        for callback in self.callbacks:
            callback.on_train_begin(self)
        end = self.iteration + num_iters
        while self.iteration < end and not self.stop_training:
            it = self.iteration
            X_batch, y_batch = source.batch(it)  # buffers, overwritten by the next batch
            loss = self.step(X_batch, y_batch)
            self.history.loss.append(loss)
            if source.is_epoch_end(it):
                self._end_epoch(it, X_batch, y_batch, X_val, y_val)
            self.iteration = it + 1
            for callback in self.callbacks:
                callback.on_iteration_end(self, it, loss)
        for callback in self.callbacks:
            callback.on_train_end(self)
        return self.history

    def _sampler_for(self, num_train: int) -> Sampler:
        if self.sampler is None:
            self.sampler = make_sampler(self.sampling, num_train, self.batch_size, self.rng)
        elif self.sampler.num_train != num_train:
            raise ValueError(
                f"this trainer's sampler was built for {self.sampler.num_train} training rows "
                f"but X has {num_train}; continue with the same training set (or a new Trainer)"
            )
        return self.sampler

    def _end_epoch(
        self,
        iteration: int,
        X_batch: np.ndarray,
        y_batch: np.ndarray,
        X_val: EvaluationData | None,
        y_val: np.ndarray | None,
    ) -> None:
        # Both evaluate in eval mode and put the model back in train mode. The minibatch is
        # the one just trained on (augmented, if the source augments).
        train_acc = accuracy(self.model, X_batch, y_batch, self.eval_chunk_size)
        val_acc = None
        if X_val is not None and y_val is not None:
            val_acc = evaluate_accuracy(self.model, X_val, y_val, self.eval_chunk_size)
            self.history.val_acc.append(val_acc)
        self.history.train_acc.append(train_acc)
        self.history.epoch_iterations.append(iteration)
        epoch = len(self.history.epoch_iterations) - 1
        for callback in self.callbacks:
            callback.on_epoch_end(self, epoch, train_acc, val_acc)
        self.optimizer.advance_epoch()

    # ------------------------------------------------------------------ save / resume

    def state_dict(self) -> dict[str, Any]:
        """Everything a resumed run needs, as JSON-able scalars and ndarray copies.

        Returns
        -------
        dict with ``iteration``; ``config`` (reg, batch_size, sampling); ``model``
        (``model.state_dict()``: parameters and buffers by name); ``model_extra`` (the
        layers' random-generator states, ``model.extra_state()``); ``optimizer`` (its
        ``state_dict()``); ``sampler``: the batch source's ``state_dict()`` (for arrays,
        the sampler's, whose format is unchanged; for another source, its own, marked with
        a ``"source"`` entry), or None before the first fit; ``rng`` (before the first fit
        on arrays, the random generator's state, else None); ``history`` (curves as
        arrays); ``callbacks`` (class name -> state, for callbacks with a ``state_dict``).
        """
        source_state: Any = None
        if self.batches is not None:
            source_state = self.batches.state_dict()
        elif self._saved_source_state is not None:
            source_state = dict(self._saved_source_state)
        elif self.sampler is not None:
            source_state = self.sampler.state_dict()
        draws_arrays = self.rng is not None or self.sampling == "replacement"
        return {
            "iteration": self.iteration,
            "config": {"reg": self.reg, "batch_size": self.batch_size, "sampling": self.sampling},
            "model": self.model.state_dict(),
            "model_extra": self.model.extra_state(),
            "optimizer": self.optimizer.state_dict(),
            "sampler": source_state,
            "rng": generator_state(self.rng)
            if source_state is None and self.batches is None and draws_arrays
            else None,
            "history": self.history.state_dict(),
            "callbacks": {
                key: callback.state_dict() for key, callback in self._stateful_callbacks().items()
            },
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Continue the run :meth:`state_dict` saved: bit-identical to never stopping.

        The trainer must be configured like the saved one (same model architecture,
        optimiser type, reg, batch size, sampling, and callbacks with state); the
        optimiser's hyper-parameters and schedule are taken from the state. A run from a
        batch source resumes with a source built like the saved one: given as ``batches=``
        (its state is checked here) or to the next :meth:`fit` (checked there, before
        anything changes).

        Raises
        ------
        ValueError
            Naming the first mismatch or malformed entry. Everything is validated before
            anything changes, so a failed load leaves the trainer as it was.
        """
        missing = [entry for entry in TRAINER_STATE_ENTRIES if entry not in state]
        if missing:
            raise ValueError(f"trainer state has no {missing} entries")
        saved = state["sampler"]
        saved_kind = "none" if saved is None else "arrays" if is_array_state(saved) else "source"
        ours = "arrays" if self.batches is None else "source"
        self._check_config(
            state["config"],
            batching=saved_kind == ours or (saved_kind == "none" and ours == "arrays"),
        )
        iteration = _checked_iteration(state["iteration"])
        model_state = self.model.check_state_dict(state["model"])
        model_extra = state.get("model_extra") or {}
        self.model.check_extra_state(model_extra)
        history = History.from_state_dict(state["history"])
        callbacks = self._stateful_callbacks()
        saved_callbacks = state.get("callbacks") or {}
        if not isinstance(saved_callbacks, Mapping):
            raise ValueError(
                f"trainer state 'callbacks' must be a mapping, got {describe(saved_callbacks)}"
            )
        if set(saved_callbacks) != set(callbacks):
            raise ValueError(
                f"the state has callback states for {sorted(saved_callbacks)} but this trainer's "
                f"callbacks with state are {sorted(callbacks)}"
            )
        sampler: Sampler | None = None
        if saved is None and iteration > 0:
            raise ValueError(
                f"trainer state is at iteration {iteration} but has no sampler state "
                "(every run that has trained has one)"
            )
        if saved is not None and state.get("rng") is not None:
            raise ValueError("trainer state has both a sampler state and an 'rng' state")
        if saved is None:
            self._check_rng_state(state.get("rng"))
        elif self.batches is not None:
            self.batches.check_state_dict(saved)
        elif saved_kind == "arrays":
            sampler = self._sampler_from(saved)
        elif self._array_settings:
            raise ValueError(
                f"the state is of a batch source of {saved.get('source')!r}, but this trainer "
                "was built for arrays (batch_size, sampling or rng); build it without them and "
                "give it the source"
            )
        # Callbacks and the optimiser validate their own states as they load; undo the
        # callbacks if a later one fails, so a failed load changes nothing.
        before = {key: callback.state_dict() for key, callback in callbacks.items()}
        try:
            for key, callback in callbacks.items():
                callback.load_state_dict(saved_callbacks[key])
            self.optimizer.load_state_dict(state["optimizer"], self.model.params)
        except BaseException:
            for key, callback in callbacks.items():
                callback.load_state_dict(before[key])
            raise
        if self.batches is not None:
            if saved is not None:
                self.batches.load_state_dict(saved)
        else:
            if sampler is not None:
                sampler.load_state_dict(saved)
            elif saved is None and state.get("rng") is not None:
                apply_generator_state(self.rng, state["rng"])
            self.sampler = sampler
            self._saved_source_state = saved if saved_kind == "source" else None
        self.model.load_state_dict(model_state)
        self.model.load_extra_state(model_extra)
        self.history = history
        self.iteration = iteration
        self.stop_training = False

    def _check_rng_state(self, rng_state: Any) -> None:
        if rng_state is None:
            return
        if not isinstance(rng_state, Mapping):
            raise ValueError(f"trainer state 'rng' must be a mapping, got {rng_state!r}")
        check_generator_state(self.rng, rng_state)

    def _sampler_from(self, saved: Mapping[str, Any]) -> Sampler:
        """A new sampler that ``saved`` (an array run's sampler state) checks out against."""
        if "num_train" not in saved:
            raise ValueError("the sampler state has no 'num_train' entry")
        num_train = check_positive_int(saved["num_train"], "sampler num_train")
        sampler = make_sampler(self.sampling, num_train, self.batch_size, self.rng)
        sampler.check_state_dict(saved)
        return sampler

    def _check_config(self, config: Any, *, batching: bool = True) -> None:
        """Check the saved reg (and, with ``batching``, batch size and sampling) against ours.

        A batch source checks its own batch size and sampling in its state, so they are
        left out when the state is a source's and this trainer has none yet.
        """
        if not isinstance(config, Mapping):
            raise ValueError(f"trainer state 'config' must be a mapping, got {config!r}")
        ours: dict[str, Any] = {"reg": self.reg}
        if batching:
            ours.update(batch_size=self.batch_size, sampling=self.sampling)
        for key, value in ours.items():
            if key not in config:
                raise ValueError(f"trainer state 'config' has no {key!r} entry")
            if config[key] != value:
                raise ValueError(
                    f"the state was saved with {key}={config[key]!r} but this trainer has "
                    f"{key}={value!r}; build the trainer with the saved settings"
                )

    def _stateful_callbacks(self) -> dict[str, Any]:
        """Callbacks with a state, keyed by class name (``"Name#2"`` for a second one).

        Stateless callbacks (progress bars, periodic savers) may differ between the saving
        and the loading trainer without changing the keys.
        """
        keyed: dict[str, Any] = {}
        for callback in self.callbacks:
            if hasattr(callback, "state_dict") and hasattr(callback, "load_state_dict"):
                name = type(callback).__name__
                count = sum(key.split("#")[0] == name for key in keyed)
                keyed[name if count == 0 else f"{name}#{count + 1}"] = callback
        return keyed


def _checked_iteration(value: Any) -> int:
    try:
        return check_int(value, "trainer state 'iteration'", low=0)
    except TypeError as err:
        raise ValueError(str(err)) from None
