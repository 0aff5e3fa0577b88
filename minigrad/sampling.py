"""Minibatch samplers: which rows each iteration trains on, and where epochs end."""

from __future__ import annotations

import numpy as np

__all__ = ["Sampler", "WithReplacement", "ShuffledEpochs", "make_sampler"]


class Sampler:
    """Chooses the rows of each minibatch.

    Parameters
    ----------
    num_train : number of training rows N.
    batch_size : rows per minibatch B.
    """

    name = "sampler"

    def __init__(self, num_train: int, batch_size: int) -> None:
        self.num_train = num_train
        self.batch_size = batch_size

    def indices(self, iteration: int) -> np.ndarray:
        """Row indices, shape (B,), for 0-based ``iteration``."""
        raise NotImplementedError

    def is_epoch_end(self, iteration: int) -> bool:
        """Whether ``iteration`` closes an epoch (record accuracies, decay the rate)."""
        raise NotImplementedError


class WithReplacement(Sampler):
    """The workbook's sampling: ``B`` rows drawn uniformly with replacement.

    Epochs follow the workbook: ``iterations_per_epoch = max(N / B, 1)`` (a float) and
    an epoch closes after every iteration ``it`` with ``it % iterations_per_epoch == 0``,
    iteration 0 included.

    Parameters
    ----------
    rng : a ``np.random.Generator``; None draws ``np.random.choice(N, B)`` from NumPy's
        global legacy generator exactly as the workbook does, so seeding with
        ``np.random.seed`` reproduces its numbers.
    """

    name = "replacement"

    def __init__(
        self, num_train: int, batch_size: int, rng: np.random.Generator | None = None
    ) -> None:
        super().__init__(num_train, batch_size)
        self.rng = rng
        self.iterations_per_epoch = max(num_train / batch_size, 1)

    def indices(self, iteration: int) -> np.ndarray:
        if self.rng is None:
            return np.random.choice(self.num_train, self.batch_size)  # noqa: NPY002 (workbook)
        return self.rng.integers(0, self.num_train, size=self.batch_size)

    def is_epoch_end(self, iteration: int) -> bool:
        return iteration % self.iterations_per_epoch == 0


class ShuffledEpochs(Sampler):
    """Shuffled passes without replacement: every row once per epoch.

    Each epoch draws a fresh permutation and walks it in ``N // B`` full batches (the
    remainder rows of that permutation are skipped; the next permutation is new). With
    ``N < B`` a batch is the whole (shuffled) training set.
    """

    name = "shuffle"

    def __init__(self, num_train: int, batch_size: int, rng: np.random.Generator) -> None:
        super().__init__(num_train, batch_size)
        self.rng = rng
        self.iterations_per_epoch = max(num_train // batch_size, 1)
        self._order = np.arange(num_train)

    def indices(self, iteration: int) -> np.ndarray:
        position = iteration % self.iterations_per_epoch
        if position == 0:
            self.rng.shuffle(self._order)
        start = position * self.batch_size
        return self._order[start : start + self.batch_size]

    def is_epoch_end(self, iteration: int) -> bool:
        return (iteration + 1) % self.iterations_per_epoch == 0


def make_sampler(
    kind: str, num_train: int, batch_size: int, rng: np.random.Generator | None
) -> Sampler:
    """Build a sampler by name: ``"replacement"`` (the workbook's) or ``"shuffle"``."""
    if kind == WithReplacement.name:
        return WithReplacement(num_train, batch_size, rng)
    if kind == ShuffledEpochs.name:
        if rng is None:
            raise ValueError("shuffled sampling needs an explicit np.random.Generator")
        return ShuffledEpochs(num_train, batch_size, rng)
    raise ValueError(f"unknown sampling {kind!r}; choose 'replacement' or 'shuffle'")
