"""Minibatch samplers: which rows each iteration trains on, and where epochs end.

A sampler's ``state_dict()`` holds everything its future draws depend on (the random
generator's state and, for shuffled epochs, the current permutation), as JSON-able scalars
and ndarrays, so a run resumed with ``load_state_dict`` draws exactly the same rows. The
position inside an epoch is not stored: it is the trainer's iteration counter.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = [
    "Sampler",
    "WithReplacement",
    "ShuffledEpochs",
    "make_sampler",
    "SAMPLING_KINDS",
    "apply_generator_state",
    "check_generator_state",
    "generator_state",
]


def generator_state(rng: np.random.Generator | None) -> dict[str, Any]:
    """The state of ``rng``, or of NumPy's global legacy generator when ``rng`` is None.

    Returns
    -------
    dict, ``{"generator": <bit generator state>}`` or ``{"legacy_global": <np.random state>}``;
    the values are JSON-able scalars plus (for Mersenne Twister) one uint32 key array.
    """
    if rng is None:
        # The workbook draws from the global generator; its state is process-wide.
        return {"legacy_global": np.random.get_state(legacy=False)}  # noqa: NPY002 (workbook)
    return {"generator": rng.bit_generator.state}


def check_generator_state(rng: np.random.Generator | None, saved: Mapping[str, Any]) -> None:
    """Check that ``saved`` (from :func:`generator_state`) fits ``rng``, on a throwaway probe.

    Raises
    ------
    ValueError
        If the saved state is for the global generator but ``rng`` is a Generator (or the
        reverse), or is not a valid state for ``rng``'s bit generator.
    """
    if rng is None:
        if "legacy_global" not in saved:
            raise ValueError(
                "the sampler state was saved from a np.random.Generator, but this sampler "
                "draws from NumPy's global generator (rng=None); pass a Generator"
            )
        try:
            np.random.RandomState().set_state(_legacy_tuple(saved["legacy_global"]))
        except (TypeError, ValueError, KeyError) as err:
            raise ValueError(f"invalid state for NumPy's global generator: {err}") from None
        return
    if "generator" not in saved:
        raise ValueError(
            "the sampler state was saved from NumPy's global generator (rng=None), but this "
            "sampler draws from a np.random.Generator; use rng=None to resume it"
        )
    probe = type(rng.bit_generator)()
    try:
        probe.state = saved["generator"]
    except (TypeError, ValueError, KeyError) as err:
        kind = type(rng.bit_generator).__name__
        raise ValueError(f"invalid random-generator state for a {kind} generator: {err}") from None


def apply_generator_state(rng: np.random.Generator | None, saved: Mapping[str, Any]) -> None:
    """Set ``rng`` (or the global generator) to a state :func:`check_generator_state` passed."""
    if rng is None:
        np.random.set_state(_legacy_tuple(saved["legacy_global"]))  # noqa: NPY002 (workbook)
    else:
        rng.bit_generator.state = saved["generator"]


def _legacy_tuple(state: Any) -> tuple[Any, ...]:
    """``np.random.get_state(legacy=False)``'s dict as the tuple ``set_state`` accepts."""
    if not isinstance(state, Mapping) or not isinstance(state.get("state"), Mapping):
        raise ValueError(f"expected the dict of np.random.get_state(legacy=False), got {state!r}")
    inner = state["state"]
    key = np.asarray(inner["key"], dtype=np.uint32)
    return (state["bit_generator"], key, int(inner["pos"]), int(state["has_gauss"]),
            float(state["gauss"]))


class Sampler:
    """Chooses the rows of each minibatch.

    Parameters
    ----------
    num_train : number of training rows N.
    batch_size : rows per minibatch B.

    Attributes
    ----------
    iterations_per_epoch : iterations in one epoch (a float for the workbook's sampler).
    """

    name = "sampler"
    iterations_per_epoch: float

    def __init__(self, num_train: int, batch_size: int) -> None:
        self.num_train = num_train
        self.batch_size = batch_size

    def indices(self, iteration: int) -> np.ndarray:
        """Row indices, shape (B,), for 0-based ``iteration``."""
        raise NotImplementedError

    def is_epoch_end(self, iteration: int) -> bool:
        """Whether ``iteration`` closes an epoch (record accuracies, decay the rate)."""
        raise NotImplementedError

    def iterations_for_epochs(self, num_epochs: int) -> int:
        """Iterations in ``num_epochs`` epochs: ``ceil(num_epochs * iterations_per_epoch)``."""
        return max(math.ceil(num_epochs * self.iterations_per_epoch), 1)

    def state_dict(self) -> dict[str, Any]:
        """What the next draws depend on: JSON-able scalars and ndarrays (copies)."""
        return {"kind": self.name, "num_train": self.num_train, "batch_size": self.batch_size}

    def check_state_dict(self, state: Mapping[str, Any]) -> None:
        """Raise ``ValueError`` naming the problem if ``state`` cannot be loaded; change nothing."""
        self._check_kind_and_sizes(state)

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict`'s output; ``ValueError`` naming any mismatch.

        Nothing is changed when validation fails.
        """
        self.check_state_dict(state)
        self._apply_state(state)

    def _apply_state(self, state: Mapping[str, Any]) -> None:
        raise NotImplementedError

    def _check_kind_and_sizes(self, state: Mapping[str, Any]) -> None:
        if not isinstance(state, Mapping):
            raise ValueError(f"sampler state must be a mapping, got {type(state).__name__}")
        for field in ("kind", "num_train", "batch_size"):
            if field not in state:
                raise ValueError(f"sampler state has no {field!r} entry")
        if state["kind"] != self.name:
            raise ValueError(
                f"sampler state is for {state['kind']!r} sampling, but this trainer uses "
                f"{self.name!r}"
            )
        for field in ("num_train", "batch_size"):
            if state[field] != getattr(self, field):
                raise ValueError(
                    f"sampler state has {field} = {state[field]}, but this sampler has "
                    f"{getattr(self, field)} (different training data or batch size?)"
                )


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

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), **generator_state(self.rng)}

    def check_state_dict(self, state: Mapping[str, Any]) -> None:
        self._check_kind_and_sizes(state)
        check_generator_state(self.rng, state)

    def _apply_state(self, state: Mapping[str, Any]) -> None:
        apply_generator_state(self.rng, state)


class ShuffledEpochs(Sampler):
    """Shuffled passes without replacement: every row once per epoch.

    Each epoch shuffles the previous permutation in place and walks it in ``N // B`` full
    batches (the remainder rows of that permutation are skipped; the next permutation is
    new). With ``N < B`` a batch is the whole (shuffled) training set.
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

    def state_dict(self) -> dict[str, Any]:
        # The next shuffle permutes the current order, so the order is part of the state.
        return {**super().state_dict(), **generator_state(self.rng), "order": self._order.copy()}

    def check_state_dict(self, state: Mapping[str, Any]) -> None:
        self._check_kind_and_sizes(state)
        if "order" not in state:
            raise ValueError("shuffled-sampler state has no 'order' entry")
        order = np.asarray(state["order"])
        if order.shape != (self.num_train,) or order.dtype.kind not in "iu":
            raise ValueError(
                f"sampler 'order' must be integers of shape ({self.num_train},), got "
                f"{order.dtype} {order.shape}"
            )
        if not np.array_equal(np.sort(order), np.arange(self.num_train)):
            raise ValueError(f"sampler 'order' is not a permutation of range({self.num_train})")
        check_generator_state(self.rng, state)

    def _apply_state(self, state: Mapping[str, Any]) -> None:
        apply_generator_state(self.rng, state)
        np.copyto(self._order, np.asarray(state["order"]), casting="same_kind")


SAMPLING_KINDS = (ShuffledEpochs.name, WithReplacement.name)
"""The names :func:`make_sampler` accepts."""


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
