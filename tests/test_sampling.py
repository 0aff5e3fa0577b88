"""Samplers: the rows they draw, where epochs end, and exact save/restore of their state."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from minigrad.data.sampling import ShuffledEpochs, WithReplacement, make_sampler


def _draws(sampler: object, start: int, count: int) -> list[np.ndarray]:
    return [sampler.indices(it).copy() for it in range(start, start + count)]  # type: ignore[attr-defined]


@given(
    num_train=st.integers(1, 60),
    batch_size=st.integers(1, 25),
    epochs=st.integers(1, 4),
    seed=st.integers(0, 2**32 - 1),
)
def test_shuffled_epochs_use_every_row_once_per_epoch(
    num_train: int, batch_size: int, epochs: int, seed: int
) -> None:
    sampler = ShuffledEpochs(num_train, batch_size, np.random.default_rng(seed))
    per_epoch = sampler.iterations_per_epoch
    for epoch in range(epochs):
        its = range(epoch * per_epoch, (epoch + 1) * per_epoch)
        rows = np.concatenate([sampler.indices(it) for it in its])
        # No row twice in an epoch; all but the N % B remainder rows are used.
        assert len(np.unique(rows)) == len(rows) == min(num_train, per_epoch * batch_size)
        assert [sampler.is_epoch_end(it) for it in its] == [False] * (per_epoch - 1) + [True]


@given(
    kind=st.sampled_from(["shuffle", "replacement"]),
    num_train=st.integers(1, 50),
    batch_size=st.integers(1, 20),
    before=st.integers(0, 30),
    after=st.integers(1, 30),
    seed=st.integers(0, 2**32 - 1),
)
def test_a_restored_sampler_draws_the_same_rows(
    kind: str, num_train: int, batch_size: int, before: int, after: int, seed: int
) -> None:
    original = make_sampler(kind, num_train, batch_size, np.random.default_rng(seed))
    _draws(original, 0, before)
    state = original.state_dict()
    expected = _draws(original, before, after)
    # A fresh sampler with a differently seeded generator, given the state.
    resumed = make_sampler(kind, num_train, batch_size, np.random.default_rng(seed + 1))
    resumed.load_state_dict(state)
    for want, got in zip(expected, _draws(resumed, before, after), strict=True):
        np.testing.assert_array_equal(want, got)


def test_state_dict_is_a_copy() -> None:
    sampler = ShuffledEpochs(10, 3, np.random.default_rng(0))
    sampler.indices(0)
    state = sampler.state_dict()
    order = state["order"].copy()
    sampler.indices(3)  # reshuffles in place
    np.testing.assert_array_equal(state["order"], order)


def test_workbook_sampler_restores_numpys_global_generator() -> None:
    sampler = WithReplacement(100, 7, rng=None)
    np.random.seed(3)
    sampler.indices(0)
    state = sampler.state_dict()
    expected = _draws(sampler, 1, 5)
    np.random.seed(99)  # someone else moves the global generator
    np.random.random(17)
    WithReplacement(100, 7, rng=None).load_state_dict(state)
    for want, got in zip(expected, _draws(sampler, 1, 5), strict=True):
        np.testing.assert_array_equal(want, got)


def test_mersenne_twister_generators_round_trip() -> None:
    # Its state holds an array (the key), unlike PCG64's integers.
    rng = np.random.Generator(np.random.MT19937(5))
    sampler = WithReplacement(50, 4, rng)
    state = sampler.state_dict()
    expected = _draws(sampler, 0, 3)
    fresh = WithReplacement(50, 4, np.random.Generator(np.random.MT19937(0)))
    fresh.load_state_dict(state)
    for want, got in zip(expected, _draws(fresh, 0, 3), strict=True):
        np.testing.assert_array_equal(want, got)


def test_workbook_epochs_close_on_multiples_of_n_over_b() -> None:
    sampler = WithReplacement(10, 4)  # 2.5 iterations per epoch
    assert [it for it in range(11) if sampler.is_epoch_end(it)] == [0, 5, 10]
    assert sampler.iterations_for_epochs(2) == 5


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"kind": "replacement"}, "'replacement' sampling"),
        ({"num_train": 11}, "num_train = 11"),
        ({"batch_size": 4}, "batch_size = 4"),
        ({"order": np.zeros(10, dtype=np.int64)}, "not a permutation"),
        ({"order": np.arange(9)}, r"shape \(10,\)"),
        ({"order": np.arange(10.0)}, "must be integers"),
        ({"generator": {"bit_generator": "MT19937", "state": {}}}, "invalid random-generator"),
    ],
)
def test_bad_sampler_state_is_named_and_changes_nothing(change: dict, message: str) -> None:
    sampler = ShuffledEpochs(10, 3, np.random.default_rng(0))
    sampler.indices(0)
    before = sampler.state_dict()
    state = {**before, **change}
    with pytest.raises(ValueError, match=message):
        sampler.load_state_dict(state)
    after = sampler.state_dict()
    np.testing.assert_array_equal(after["order"], before["order"])
    assert after["generator"] == before["generator"]


def test_generator_state_cannot_go_to_the_global_generator_or_back() -> None:
    with_generator = WithReplacement(10, 2, np.random.default_rng(0)).state_dict()
    global_state = WithReplacement(10, 2, None).state_dict()
    with pytest.raises(ValueError, match="global generator"):
        WithReplacement(10, 2, None).load_state_dict(with_generator)
    with pytest.raises(ValueError, match="rng=None to resume"):
        WithReplacement(10, 2, np.random.default_rng(0)).load_state_dict(global_state)


def test_unknown_sampling_and_shuffle_without_generator_are_named() -> None:
    with pytest.raises(ValueError, match="unknown sampling 'random'"):
        make_sampler("random", 10, 2, np.random.default_rng(0))
    with pytest.raises(ValueError, match="needs an explicit np.random.Generator"):
        make_sampler("shuffle", 10, 2, None)
