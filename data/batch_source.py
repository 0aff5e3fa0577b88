"""What the trainer needs from its training data: the batch-source contract.

A batch source yields each iteration's minibatch as rows in the model's dtype, says where
epochs end, and saves and restores everything its future batches depend on. The trainer
uses nothing else, whatever the data is: float rows in memory
(:class:`~minigrad.data.array_batches.ArrayBatches`, what ``Trainer.fit(X, y)`` builds) or
``uint8`` images converted batch by batch
(:class:`~minigrad.data.image_batches.ImageBatches`).

Evaluation data has a smaller contract, :class:`EvaluationRows`: rows handed out a chunk at
a time, so a large uint8 test set is never converted to floats whole.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Protocol, runtime_checkable

import numpy as np

__all__ = ["BatchSource", "EvaluationRows"]


@runtime_checkable
class BatchSource(Protocol):
    """Training minibatches by iteration number, with epochs and an exact saved state.

    Attributes
    ----------
    num_train : rows (images) in the training set, N.
    batch_size : rows per minibatch, B.
    sampling : ``"shuffle"`` (epochs without replacement) or ``"replacement"`` (the
        workbook's); recorded in the trainer's state.
    iterations_per_epoch : iterations in one epoch (a float for the workbook's sampling).
    num_features : D, the width of a row (the model's ``in_features``).
    dtype : the rows' dtype (the model's).
    labels : int ndarray of shape (N,), the training labels (checked once by the trainer).

    Notes
    -----
    The trainer calls :meth:`batch` with consecutive iteration numbers, starting from its
    own ``iteration``, and saves :meth:`state_dict` only between two calls. The arrays a
    batch returns may be buffers that the next call overwrites.
    """

    @property
    def num_train(self) -> int: ...

    @property
    def batch_size(self) -> int: ...

    @property
    def sampling(self) -> str: ...

    @property
    def iterations_per_epoch(self) -> float: ...

    @property
    def num_features(self) -> int: ...

    @property
    def dtype(self) -> np.dtype: ...

    @property
    def labels(self) -> np.ndarray: ...

    def batch(self, iteration: int) -> tuple[np.ndarray, np.ndarray]:
        """``(X_batch, y_batch)`` of shapes (B, D) in :attr:`dtype` and (B,) for ``iteration``."""
        ...

    def is_epoch_end(self, iteration: int) -> bool:
        """Whether ``iteration`` closes an epoch (accuracies recorded, the schedule advances)."""
        ...

    def iterations_for_epochs(self, num_epochs: int) -> int:
        """Iterations in ``num_epochs`` epochs."""
        ...

    def state_dict(self) -> dict[str, Any]:
        """What the next batches depend on (generator states, the current permutation ...),
        as JSON-able scalars and ndarray copies."""
        ...

    def check_state_dict(self, state: Mapping[str, Any]) -> None:
        """Raise ``ValueError`` naming the first problem if ``state`` cannot be loaded here;
        change nothing."""
        ...

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore a :meth:`state_dict` (checked first; nothing changes if the check fails)."""
        ...


@runtime_checkable
class EvaluationRows(Protocol):
    """Rows for evaluation, converted a chunk at a time (never augmented).

    Attributes
    ----------
    num_rows : M, the rows in the set.
    num_features : D.
    dtype : the rows' dtype.
    """

    @property
    def num_rows(self) -> int: ...

    @property
    def num_features(self) -> int: ...

    @property
    def dtype(self) -> np.dtype: ...

    def chunks(self, chunk_size: int) -> Iterator[tuple[slice, np.ndarray]]:
        """``(rows, X_chunk)`` pairs covering ``range(num_rows)`` in order; ``X_chunk`` has
        shape (len of ``rows``, D) and may be a buffer the next chunk overwrites."""
        ...
