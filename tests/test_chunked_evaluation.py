"""Evaluation in chunks: memory bounded by the chunk, results identical to one big pass."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from minigrad import Affine, ReLU, Sequential, accuracy, predict_labels
from minigrad.initializers import normal

FLOATS = (np.float32, np.float64)


def net(dtype: type, sizes: list[int], seed: int) -> Sequential:
    rng = np.random.default_rng(seed)
    layers: list = []
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        if i:
            layers.append(ReLU())
        layers.append(Affine(fan_in, fan_out, normal(1.0 / np.sqrt(fan_in), rng), dtype=dtype))
        layers[-1].params["b"][...] = 0.1 * rng.standard_normal(fan_out)
    return Sequential(*layers)


@given(
    dtype=st.sampled_from(FLOATS),
    sizes=st.lists(st.integers(1, 9), min_size=2, max_size=4),
    rows=st.integers(1, 60),
    chunk_size=st.integers(1, 70),
    seed=st.integers(0, 2**32 - 1),
)
def test_chunked_equals_unchunked(
    dtype: type, sizes: list[int], rows: int, chunk_size: int, seed: int
) -> None:
    model = net(dtype, sizes, seed)
    rng = np.random.default_rng(seed)
    X: np.ndarray = rng.standard_normal((rows, sizes[0])).astype(dtype)
    y = rng.integers(0, sizes[-1], rows)
    expected = np.argmax(model.forward(X), axis=1)  # one pass over every row
    labels = predict_labels(model.forward, X, chunk_size)
    np.testing.assert_array_equal(labels, expected)
    assert labels.shape == (rows,) and labels.dtype == np.int64
    assert accuracy(model.forward, X, y, chunk_size) == float(np.mean(expected == y))
    # The scores of a chunk are the rows of the full pass (rows are independent).
    first = model.forward(X[:chunk_size])
    np.testing.assert_allclose(first, model.forward(X)[:chunk_size],
                               rtol=1e-5 if dtype == np.float32 else 1e-12, atol=1e-6)


@given(rows=st.integers(0, 50), chunk_size=st.integers(1, 60))
def test_forward_sees_at_most_a_chunk_and_every_row_once_in_order(
    rows: int, chunk_size: int
) -> None:
    X: np.ndarray = np.arange(rows * 3, dtype=np.float32).reshape(rows, 3)
    seen: list[np.ndarray] = []

    def forward(batch: np.ndarray) -> np.ndarray:
        assert 1 <= len(batch) <= chunk_size
        assert np.shares_memory(batch, X), "a chunk should be a view, not a copy"
        seen.append(batch[:, 0].copy())
        return np.stack([batch[:, 0], -batch[:, 0]], axis=1)

    labels = predict_labels(forward, X, chunk_size)
    assert len(seen) == -(-rows // chunk_size)
    np.testing.assert_array_equal(np.concatenate(seen) if seen else np.empty(0), X[:, 0])
    np.testing.assert_array_equal(labels, np.zeros(rows, np.int64) if rows else labels)


def test_chunk_size_must_be_positive() -> None:
    with pytest.raises(ValueError, match="chunk_size must be a positive integer, got 0"):
        predict_labels(lambda x: x, np.zeros((3, 2)), 0)
