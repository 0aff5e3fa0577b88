"""minigrad.models.fully_connected_net: CS231n's FullyConnectedNet as a Sequential."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from minigrad import (
    GELU,
    Affine,
    BatchNorm1d,
    Dropout,
    LayerNorm,
    LeakyReLU,
    MulticlassHingeLoss,
    ReLU,
    Sequential,
    Sigmoid,
    SoftmaxCrossEntropy,
    Tanh,
    add_l2_gradients,
    check_model_gradients,
    fixed_masks,
    normal,
)
from minigrad.models import ACTIVATIONS, NORMALIZATIONS, fully_connected_net
from minigrad.testing import min_abs_preactivation, min_hinge_margin


def _kinds(model: Sequential) -> list[type]:
    return [type(layer) for layer in model]


@pytest.mark.parametrize("normalization", [None, *NORMALIZATIONS])
@pytest.mark.parametrize("dropout", [0.0, 0.25])
def test_block_order_is_cs231n(normalization: str | None, dropout: float) -> None:
    """affine, [norm], activation, [dropout] per hidden layer, then a final affine."""
    model = fully_connected_net(5, [4, 3], 2, normalization=normalization, dropout=dropout,
                                rng=np.random.default_rng(0))
    norm = {None: [], "batchnorm": [BatchNorm1d], "layernorm": [LayerNorm]}[normalization]
    drop = [Dropout] if dropout else []
    block = [Affine, *norm, ReLU, *drop]
    assert _kinds(model) == [*block, *block, Affine]
    affines = [layer for layer in model if isinstance(layer, Affine)]
    assert [(a.in_features, a.out_features) for a in affines] == [(5, 4), (4, 3), (3, 2)]
    assert model.output_width(5) == 2
    assert all(layer.p == dropout for layer in model if isinstance(layer, Dropout))
    assert model.weight_names == tuple(f"{i}.W" for i, layer in enumerate(model)
                                       if isinstance(layer, Affine))
    assert model.training


@pytest.mark.parametrize(
    ("name", "kind"),
    [("relu", ReLU), ("leaky_relu", LeakyReLU), ("tanh", Tanh), ("sigmoid", Sigmoid),
     ("gelu", GELU), ("gelu_tanh", GELU)],
)
def test_each_activation(name: str, kind: type) -> None:
    model = fully_connected_net(3, [4], 2, activation=name)
    assert _kinds(model) == [Affine, kind, Affine]
    if name.startswith("gelu"):
        assert model[1].approximate == ("tanh" if name == "gelu_tanh" else "none")
    assert set(ACTIVATIONS) == {"relu", "leaky_relu", "tanh", "sigmoid", "gelu", "gelu_tanh"}


def test_no_hidden_layer_is_a_linear_classifier() -> None:
    assert _kinds(fully_connected_net(6, [], 3, normalization="batchnorm", dropout=0.5)) == [
        Affine
    ]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_reaches_every_array(dtype: type) -> None:
    model = fully_connected_net(4, [5, 3], 2, normalization="batchnorm", dropout=0.2,
                                dtype=dtype, rng=np.random.default_rng(1))
    for name, array in model.state_dict().items():
        assert array.dtype == dtype, name
    scores = model.forward(np.ones((3, 4), dtype))
    assert scores.dtype == dtype and scores.shape == (3, 2)
    model.eval()
    assert model.forward(np.ones((1, 4), dtype)).dtype == dtype


def test_a_seed_fixes_weights_and_masks() -> None:
    def build(dropout: float) -> Sequential:
        return fully_connected_net(4, [6, 5], 3, normalization="layernorm", dropout=dropout,
                                   rng=np.random.default_rng(42))

    a, b, plain = build(0.5), build(0.5), build(0.0)
    for name, value in a.state_dict().items():
        np.testing.assert_array_equal(value, b.state_dict()[name])
    X = np.random.default_rng(0).standard_normal((8, 4))
    np.testing.assert_array_equal(a.forward(X), b.forward(X))
    states = a.extra_state()
    assert set(states) == {"3", "7"} and states["3"] != states["7"]  # independent generators
    # Dropout layers take their generators by spawning, which draws nothing: the weights
    # are those of the same net without dropout.
    np.testing.assert_array_equal(a.params["0.W"], plain.params["0.W"])
    np.testing.assert_array_equal(a.params["4.W"], plain.params["3.W"])


def test_default_init_is_he_normal_and_weight_init_overrides_it() -> None:
    model = fully_connected_net(1000, [500], 10, rng=np.random.default_rng(0))
    assert model.params["0.W"].std() == pytest.approx(np.sqrt(2 / 1000), rel=0.02)
    assert not model.params["0.b"].any()
    init = normal(1e-2, np.random.default_rng(0))
    scaled = fully_connected_net(1000, [500], 10, weight_init=init)
    assert scaled.params["0.W"].std() == pytest.approx(1e-2, rel=0.02)


def test_without_rng_the_weights_follow_the_global_generator() -> None:
    np.random.seed(3)
    a = fully_connected_net(3, [4], 2)
    np.random.seed(3)
    b = fully_connected_net(3, [4], 2)
    np.testing.assert_array_equal(a.params["0.W"], b.params["0.W"])


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"normalization": "batch"}, ValueError, "normalization"),
        ({"dropout": 1.0}, ValueError, "dropout"),
        ({"dropout": -0.1}, ValueError, "dropout"),
        ({"dropout": "0.1"}, TypeError, "dropout"),
        ({"activation": "swish"}, ValueError, "activation"),
        ({"hidden_dims": "512"}, TypeError, "hidden_dims"),
        ({"hidden_dims": 512}, TypeError, "hidden_dims"),
        ({"hidden_dims": [4, 0]}, ValueError, r"hidden_dims\[1\]"),
        ({"hidden_dims": [4.0]}, TypeError, r"hidden_dims\[0\]"),
        ({"input_size": 0}, ValueError, "input_size"),
        ({"num_classes": True}, TypeError, "num_classes"),
        ({"dtype": np.int64}, TypeError, "dtype"),
        ({"rng": 0}, TypeError, "rng"),
    ],
)
def test_bad_arguments_are_refused(kwargs: dict[str, Any], error: type, match: str) -> None:
    arguments: dict[str, Any] = {"input_size": 4, "hidden_dims": [3], "num_classes": 2, **kwargs}
    with pytest.raises(error, match=match):
        fully_connected_net(**arguments)


@given(
    normalization=st.sampled_from([None, "batchnorm", "layernorm"]),
    dropout=st.sampled_from([0.0, 0.3]),
    activation=st.sampled_from(sorted(ACTIVATIONS)),
    hinge=st.booleans(),
    train=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_gradients_match_finite_differences(
    normalization: str | None, dropout: float, activation: str, hinge: bool, train: bool,
    seed: int,
) -> None:
    rng = np.random.default_rng(seed)
    model = fully_connected_net(4, [5, 3], 3, normalization=normalization, dropout=dropout,
                                activation=activation, rng=rng).train(train)
    for layer in model:
        for name in ("b", "beta"):
            if name in layer.params:
                layer.params[name][...] = 0.1 * rng.standard_normal(layer.params[name].shape)
    X = rng.standard_normal((6, 4))
    y = rng.integers(0, 3, 6)
    loss = MulticlassHingeLoss() if hinge else SoftmaxCrossEntropy()
    with fixed_masks(model):
        assume(min_abs_preactivation(model, X, ignore_zeros=True) > 1e-4)
        assume(min_hinge_margin(model.forward(X), y) > 1e-4 or not hinge)
        check_model_gradients(model, X, y, reg=0.1, loss=loss)


def test_a_deep_normalised_net_learns_a_toy_problem() -> None:
    """Plain SGD on 3 Gaussian blobs: train mode to learn, eval mode to score."""
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((3, 10)) * 3
    y = rng.integers(0, 3, 300)
    X = centres[y] + rng.standard_normal((300, 10))
    model = fully_connected_net(10, [32, 32, 32], 3, normalization="batchnorm", dropout=0.1,
                                rng=rng)
    loss = SoftmaxCrossEntropy()
    for _ in range(150):
        rows = rng.integers(0, 300, 32)
        loss.forward(model.forward(X[rows]), y[rows])
        model.backward(loss.backward(), need_input_grad=False)
        add_l2_gradients(model.params, model.grads, model.weight_names, 1e-4)
        for name, param in model.params.items():
            param -= 0.1 * model.grads[name]
    model.eval()
    assert np.mean(np.argmax(model.forward(X), axis=1) == y) > 0.95
