"""Minibatches of float rows held in memory: a sampler picks the rows, a buffer gathers them.

This is what ``Trainer.fit(X, y)`` trains on: the rows ``X[idx]`` the sampler draws, gathered
into buffers allocated once. Its state is the sampler's, so a checkpoint of an array run
looks as it always has.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from minigrad.data.batching import MinibatchBuffer
from minigrad.data.sampled_batches import SampledBatches
from minigrad.data.sampling import Sampler

__all__ = ["ArrayBatches"]

SOURCE_KIND = "arrays"
"""The ``"source"`` a state of this kind has (states without a ``"source"`` entry are too)."""


class ArrayBatches(SampledBatches):
    """A :class:`~minigrad.data.batch_source.BatchSource` over rows ``X`` (N, D) and labels ``y``.

    Parameters
    ----------
    X : ndarray of shape (N, D), the training rows (never copied).
    y : int ndarray of shape (N,).
    sampler : a :class:`~minigrad.data.sampling.Sampler` built for N rows; it may outlive
        this object (the trainer keeps one sampler across fits and wraps each fit's arrays).
    """

    def __init__(self, X: np.ndarray, y: np.ndarray, sampler: Sampler) -> None:
        if X.ndim != 2 or len(y) != len(X) or sampler.num_train != len(X):
            raise ValueError(
                f"ArrayBatches needs X (N, D), y (N,) and a sampler for N rows; got X "
                f"{X.shape}, y {y.shape}, a sampler for {sampler.num_train} rows"
            )
        super().__init__(sampler)
        self._rows = MinibatchBuffer(X, y)

    @property
    def num_features(self) -> int:
        return int(self._rows.X.shape[1])

    @property
    def dtype(self) -> np.dtype:
        return self._rows.X.dtype

    @property
    def labels(self) -> np.ndarray:
        return self._rows.y

    def batch(self, iteration: int) -> tuple[np.ndarray, np.ndarray]:
        """``(X[idx], y[idx])`` for the sampler's ``idx``, in buffers the next call reuses."""
        return self._rows.gather(self.sampler.indices(iteration))

    def state_dict(self) -> dict[str, Any]:
        """The sampler's state (its generator and, for shuffled epochs, the permutation)."""
        return self.sampler.state_dict()

    def check_state_dict(self, state: Mapping[str, Any]) -> None:
        check_array_state(state)
        self.sampler.check_state_dict(state)


def is_array_state(state: Any) -> bool:
    """Whether ``state`` is a sampler's state of an array run (not another batch source's)."""
    return isinstance(state, Mapping) and state.get("source", SOURCE_KIND) == SOURCE_KIND


def check_array_state(state: Any) -> None:
    """Raise ``ValueError`` unless ``state`` is the state of an array run's sampler."""
    if not isinstance(state, Mapping):
        raise ValueError(f"sampler state must be a mapping, got {type(state).__name__}")
    if not is_array_state(state):
        raise ValueError(
            f"the state is of a batch source of {state.get('source')!r}, but this run trains "
            "on arrays X, y; resume it with the same kind of batch source"
        )
