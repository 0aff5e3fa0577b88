"""Models behave like modules: nesting, state dicts, modes, sizes and summaries."""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from minigrad import Affine, ReLU, Sequential, check_model_gradients, softmax_cross_entropy
from minigrad.layer import Layer
from minigrad.models import TwoLayerNet, two_layer_net
from minigrad.regularization import add_l2_gradients
from minigrad.testing import min_abs_preactivation, sequential_nets


def _loss_and_grads(
    model: Sequential, X: np.ndarray, y: np.ndarray, reg: float
) -> tuple[float, dict[str, np.ndarray]]:
    loss, dscores = softmax_cross_entropy(model.forward(X), y)
    model.backward(dscores)
    loss += add_l2_gradients(model.params, model.grads, model.weight_names, reg)
    return loss, {name: grad.copy() for name, grad in model.grads.items()}


def _nest(layers: list[Layer], start: int, stop: int) -> Sequential:
    """The same layer objects, with ``layers[start:stop]`` inside an inner Sequential."""
    return Sequential(*layers[:start], Sequential(*layers[start:stop]), *layers[stop:])


@given(sequential_nets(max_depth=4), st.data(), st.floats(0.0, 0.5))
def test_a_nested_sequential_computes_what_the_flat_one_does(
    net: tuple[Sequential, np.ndarray, np.ndarray], data: st.DataObject, reg: float
) -> None:
    flat, X, y = net
    assume(min_abs_preactivation(flat, X) > 1e-4)
    layers = list(flat)
    start = data.draw(st.integers(0, len(layers) - 1))
    stop = data.draw(st.integers(start + 1, len(layers)))
    nested = _nest(layers, start, stop)

    flat_loss, flat_grads = _loss_and_grads(flat, X, y, reg)
    nested_loss, nested_grads = _loss_and_grads(nested, X, y, reg)
    assert nested_loss == flat_loss
    assert len(nested_grads) == len(flat_grads)
    # Path names differ ("1.0.W" for flat "1.W"), but the arrays are the same objects.
    flat_by_id = {id(p): name for name, p in flat.params.items()}
    for name, param in nested.params.items():
        assert np.array_equal(nested_grads[name], flat_grads[flat_by_id[id(param)]]), name
    assert {flat_by_id[id(nested.params[w])] for w in nested.weight_names} == set(
        flat.weight_names
    )
    check_model_gradients(nested, X, y, reg)


def test_nested_parameters_are_named_by_path() -> None:
    net = Sequential(Affine(4, 5), Sequential(ReLU(), Affine(5, 3), Sequential(Affine(3, 2))))
    assert list(net.params) == ["0.W", "0.b", "1.1.W", "1.1.b", "1.2.0.W", "1.2.0.b"]
    assert net.weight_names == ("0.W", "1.1.W", "1.2.0.W")
    assert net.params["1.2.0.W"] is net[1][2][0].params["W"]  # type: ignore[index]
    assert (net.in_features, net.out_features, net.output_width(4)) == (4, 2, 2)


def _build(seed: int, sizes: list[int]) -> Sequential:
    rng = np.random.default_rng(seed)
    layers: list[Layer] = []
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        if i:
            layers.append(ReLU())
        affine = Affine(fan_in, fan_out)
        affine.params["W"][...] = rng.standard_normal((fan_out, fan_in))
        affine.params["b"][...] = rng.standard_normal(fan_out)
        layers.append(affine)
    return Sequential(*layers)


sizes_strategy = st.lists(st.integers(1, 6), min_size=2, max_size=5)


@given(sizes_strategy, st.integers(0, 2**31), st.integers(0, 2**31))
def test_state_dict_round_trips_bit_for_bit_into_a_fresh_model(
    sizes: list[int], seed: int, other_seed: int
) -> None:
    trained = _build(seed, sizes)
    state = trained.state_dict()
    fresh = _build(other_seed, sizes)
    fresh.load_state_dict(state)
    assert fresh.state_dict().keys() == state.keys()
    for name, value in fresh.state_dict().items():
        assert value.tobytes() == state[name].tobytes() and value.dtype == state[name].dtype
    # copies both ways: changing the model does not change the state it gave, and back
    for array in trained.params.values():
        array += 1.0
    assert all(np.array_equal(fresh.params[n], state[n]) for n in state)
    state["0.W"] += 1.0
    assert not np.array_equal(fresh.params["0.W"], state["0.W"])


@given(sizes_strategy, sizes_strategy)
def test_a_state_from_another_architecture_names_the_first_mismatch(
    sizes: list[int], other: list[int]
) -> None:
    assume(sizes != other)
    model, saved = _build(0, sizes), _build(1, other).state_dict()
    before = model.state_dict()
    expected = model.state_dict()
    first = next(
        (name for name in expected if name not in saved), None
    ) or next((name for name in saved if name not in expected), None)
    if first is None:  # same names: the first shape that differs
        first = next(n for n in expected if expected[n].shape != saved[n].shape)
    with pytest.raises(ValueError, match=re.escape(repr(first))):
        model.load_state_dict(saved)
    for name, value in model.state_dict().items():  # nothing was changed
        assert np.array_equal(value, before[name])


def test_dtype_and_finiteness_mismatches_are_refused() -> None:
    model = _build(0, [3, 4, 2])
    state = model.state_dict()
    with pytest.raises(ValueError, match="'0.W' is float32 but this model's is float64"):
        model.load_state_dict({**state, "0.W": state["0.W"].astype(np.float32)})
    broken = state["2.b"].copy()
    broken[0] = np.nan
    with pytest.raises(ValueError, match="'2.b' holds NaN or inf"):
        model.load_state_dict({**state, "2.b": broken})
    with pytest.raises(ValueError, match="must be an ndarray"):
        model.load_state_dict({**state, "0.b": [0.0] * 4})


def test_the_workbook_net_reports_154160_parameters_and_a_summary() -> None:
    net = TwoLayerNet(3072, 50, 10)
    assert net.num_parameters() == 154_160
    text = net.summary()
    assert text.splitlines()[-1].split()[-1] == "154,160"
    rows = {line.split()[0]: line.split() for line in text.splitlines()[2:-2]}
    assert rows["0"][-2:] == ["50", "153,650"]
    assert rows["1"][-2:] == ["50", "0"]
    assert rows["2"][-2:] == ["10", "510"]
    assert two_layer_net(3072, 50, 10).num_parameters() == 154_160


def test_summary_rejects_a_width_the_first_layer_cannot_take() -> None:
    with pytest.raises(ValueError, match="expects 3072 input features, got 100"):
        two_layer_net(3072, 50, 10).summary(100)


def test_modes_reach_every_nested_layer() -> None:
    inner = Sequential(ReLU(), Affine(3, 2))
    net = Sequential(Affine(4, 3), inner)
    assert net.eval() is net
    assert not any(layer.training for layer in (net, inner, *inner, net[0]))
    net.train()
    assert all(layer.training for layer in (net, inner, *inner, net[0]))


def test_one_layer_object_at_two_positions_is_refused() -> None:
    shared = Affine(3, 3)
    with pytest.raises(ValueError, match="layer 2 .* is the same object as layer 0"):
        Sequential(shared, ReLU(), shared)
    with pytest.raises(ValueError, match=r"layer 1\.1 .* same object as layer 0"):
        Sequential(shared, Sequential(ReLU(), shared))
    relu = ReLU()
    with pytest.raises(ValueError, match="same object"):
        Sequential(Affine(3, 3), relu, Affine(3, 3), relu)
