"""Bad input raises ValueError or TypeError naming the problem; divergence stops cleanly."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minigrad import DivergenceError, Trainer
from minigrad.models import TwoLayerNet, two_layer_net
from minigrad.optim import SGD
from minigrad.validation import check_features, count_non_finite


@pytest.fixture
def net() -> TwoLayerNet:
    np.random.seed(0)
    return TwoLayerNet(4, 10, 3, std=1e-1)


@pytest.fixture
def toy() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.standard_normal((5, 4)), np.array([0, 1, 2, 2, 1])


@pytest.mark.parametrize(
    ("X", "error", "message"),
    [
        (np.zeros(4), ValueError, "2-D"),
        (np.zeros((2, 3, 4)), ValueError, "2-D"),
        (np.zeros((5, 7)), ValueError, "expects 4"),
        (np.zeros((0, 4)), ValueError, "empty batch"),
        (np.full((5, 4), np.nan), ValueError, "NaN or inf"),
        (np.array([[0, 1, np.inf, 2]] * 5), ValueError, "NaN or inf"),
        ([[0.0] * 4] * 5, TypeError, "numpy array"),
        (np.array([["a"] * 4] * 5), TypeError, "real numbers"),
    ],
)
def test_bad_features_are_named(net: TwoLayerNet, X: object, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        net.loss(X)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("y", "error", "message"),
    [
        (np.array([0, 1, 2, 3, 1]), ValueError, "out of range"),
        (np.array([0, 1, -1, 2, 1]), ValueError, "negative label"),
        (np.array([0.0, 1.0, 2.0, 2.0, 1.0]), TypeError, "integer class labels"),
        (np.array([0, 1, 2]), ValueError, "3 labels but X has 5 rows"),
        (np.array([[0, 1, 2, 2, 1]]), ValueError, "1-D"),
    ],
)
def test_bad_labels_are_named(
    net: TwoLayerNet, toy: tuple[np.ndarray, np.ndarray], y: np.ndarray, error: type, message: str
) -> None:
    X, _ = toy
    with pytest.raises(error, match=message):
        net.loss(X, y)
    with pytest.raises(error, match=message):
        net.train(X, y, X, np.array([0, 1, 2, 2, 1]), num_iters=1)


@pytest.mark.parametrize("hidden_size", [0, -3])
def test_non_positive_hidden_size(hidden_size: int) -> None:
    with pytest.raises(ValueError, match="hidden_size must be a positive integer"):
        TwoLayerNet(4, hidden_size, 3)


def test_non_integer_hidden_size() -> None:
    with pytest.raises(TypeError, match="hidden_size must be an integer"):
        TwoLayerNet(4, 2.5, 3)  # type: ignore[arg-type]


def test_mismatched_dtype_is_named(toy: tuple[np.ndarray, np.ndarray]) -> None:
    X, y = toy
    model = two_layer_net(4, 5, 3, dtype=np.float32)
    trainer = Trainer(model, SGD(0.1), rng=np.random.default_rng(0))
    with pytest.raises(TypeError, match="float64 but the model's parameters are float32"):
        trainer.fit(X, y, num_iters=1)


def test_divergence_stops_with_finite_parameters(toy: tuple[np.ndarray, np.ndarray]) -> None:
    X, y = toy
    X = X * 1e3
    np.random.seed(0)
    net = TwoLayerNet(4, 10, 3, std=1e-1)
    with pytest.raises(DivergenceError, match="diverged at iteration"):
        net.train(X, y, X, y, learning_rate=1e30, num_iters=50)
    for name, param in net.params.items():
        assert np.isfinite(param).all(), name


def test_assigning_params_keeps_layers_in_sync(net: TwoLayerNet) -> None:
    layer_W1 = net.model[0].params["W"]
    net.params["W1"] = np.ones((10, 4))
    assert net.params["W1"] is layer_W1
    assert (layer_W1 == 1).all()
    with pytest.raises(ValueError, match="cannot assign shape"):
        net.params["W1"] = np.ones((4, 10))


@settings(max_examples=60)
@given(
    shape=st.tuples(st.integers(0, 40), st.integers(1, 9)),
    chunk=st.integers(1, 50),
    data=st.data(),
)
def test_non_finite_values_are_counted_block_by_block(
    shape: tuple[int, int], chunk: int, data: st.DataObject
) -> None:
    X = np.zeros(shape, np.float32)
    positions = data.draw(st.lists(st.integers(0, X.size - 1), max_size=8)) if X.size else []
    for position, value in zip(positions, [np.nan, np.inf, -np.inf] * 3, strict=False):
        X.flat[position] = value
    assert count_non_finite(X, chunk_elements=chunk) == int(np.count_nonzero(~np.isfinite(X)))


def test_a_nan_in_the_last_row_of_a_large_set_is_found() -> None:
    X = np.zeros((3000, 300), np.float32)  # more than one block of 2**18 values
    X[-1, -1] = np.nan
    with pytest.raises(ValueError, match="1 NaN or inf"):
        check_features(X)
