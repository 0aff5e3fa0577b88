"""Property tests: every analytic gradient matches central finite differences (float64)."""

from __future__ import annotations

import numpy as np
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from minigrad import (
    Affine,
    ReLU,
    Sequential,
    assert_gradients_close,
    check_directional_derivative,
    check_layer_gradients,
    check_model_gradients,
    eval_numerical_gradient,
    softmax_cross_entropy,
)
from minigrad.initializers import normal
from minigrad.testing import (
    batch_shapes,
    float64_arrays,
    kink_free_arrays,
    labels,
    min_abs_preactivation,
    sequential_nets,
)

SEEDS = st.integers(0, 2**32 - 1)


@given(shape=batch_shapes(), out_features=st.integers(1, 8), seed=SEEDS)
def test_affine_backward_matches_finite_differences(
    shape: tuple[int, int], out_features: int, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    layer = Affine(shape[1], out_features, normal(1.0, rng))
    layer.params["b"][...] = rng.standard_normal(out_features)
    x = rng.uniform(-1, 1, shape)
    check_layer_gradients(layer, x, rng)


@given(data=st.data(), shape=batch_shapes(), seed=SEEDS)
def test_relu_backward_matches_finite_differences(
    data: st.DataObject, shape: tuple[int, int], seed: int
) -> None:
    x = data.draw(kink_free_arrays(shape))
    check_layer_gradients(ReLU(), x, np.random.default_rng(seed))


@given(data=st.data(), shape=batch_shapes(max_features=6))
def test_loss_gradient_matches_finite_differences(
    data: st.DataObject, shape: tuple[int, int]
) -> None:
    n, c = shape
    scores = data.draw(float64_arrays((n, c), bound=5.0))
    y = data.draw(labels(n, c))
    _, dscores = softmax_cross_entropy(scores, y)
    numeric = eval_numerical_gradient(
        lambda s: softmax_cross_entropy(s, y)[0], scores.copy(), verbose=False, h=1e-6
    )
    assert_gradients_close(dscores, numeric, "dscores")


@given(net=sequential_nets(max_depth=4, max_width=8, max_batch=6), reg=st.floats(0.0, 1.0))
def test_whole_sequential_gradient_with_l2(
    net: tuple[Sequential, np.ndarray, np.ndarray], reg: float
) -> None:
    model, X, y = net
    assume(min_abs_preactivation(model, X) > 1e-4)
    check_model_gradients(model, X, y, reg=reg)


@settings(max_examples=5)
@given(seed=SEEDS)
def test_directional_derivative_on_a_larger_net(seed: int) -> None:
    rng = np.random.default_rng(seed)
    sizes = [64, 48, 32, 10]
    layers = []
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers += [ReLU()] if i else []
        layers.append(Affine(fan_in, fan_out, normal(1.0 / np.sqrt(fan_in), rng)))
    model = Sequential(*layers)
    X = rng.standard_normal((32, sizes[0]))
    y = rng.integers(0, sizes[-1], 32)
    # A step of h moves each pre-activation by about 1e-6 here; stay clear of the kink.
    assume(min_abs_preactivation(model, X) > 1e-5)
    analytic, numeric = check_directional_derivative(model, X, y, rng, reg=0.1, h=1e-5)
    assert abs(analytic - numeric) <= 1e-6 * (abs(analytic) + abs(numeric))


@given(net=sequential_nets(), seed=SEEDS)
def test_forward_and_backward_do_not_mutate_inputs(
    net: tuple[Sequential, np.ndarray, np.ndarray], seed: int
) -> None:
    model, X, y = net
    X_before = X.copy()
    scores = model.forward(X)
    dout = np.random.default_rng(seed).standard_normal(scores.shape)
    dout_before = dout.copy()
    model.backward(dout)
    np.testing.assert_array_equal(X, X_before)
    np.testing.assert_array_equal(dout, dout_before)
    y_before = y.copy()
    _, dscores = softmax_cross_entropy(scores, y)
    np.testing.assert_array_equal(y, y_before)
    assert dscores is not scores


@given(
    data=st.data(),
    shape=batch_shapes(max_features=10),
    magnitude=st.floats(1.0, 1e4),
)
def test_loss_is_finite_for_huge_logits(
    data: st.DataObject, shape: tuple[int, int], magnitude: float
) -> None:
    n, c = shape
    scores = data.draw(float64_arrays((n, c))) * magnitude
    y = data.draw(labels(n, c))
    loss, dscores = softmax_cross_entropy(scores, y)
    assert np.isfinite(loss) and loss >= 0
    assert np.isfinite(dscores).all()
    # Each row of the gradient sums to zero: softmax sums to 1, the one-hot to 1.
    np.testing.assert_allclose(dscores.sum(axis=1), 0.0, atol=1e-12)


def test_loss_of_extreme_logits_is_exact() -> None:
    scores = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 0.0]])
    loss, _ = softmax_cross_entropy(scores, np.array([1, 1]))
    assert loss == 1e4  # row 0 misses by 2e4 nats, row 1 is certain: mean 1e4


def test_ci_profile_is_deterministic_without_deadline() -> None:
    ci = settings.get_profile("ci")
    assert ci.deadline is None
    assert ci.derandomize is True
    assert 0 < ci.max_examples <= 100


@given(
    st.lists(st.sampled_from([-2.5, -0.0, 0.0, 1.5, 3.0e38, np.inf, -np.inf, np.nan]),
             min_size=1, max_size=40),
    st.lists(st.booleans(), min_size=40, max_size=40),
    st.sampled_from([np.float32, np.float64]),
    st.sampled_from([0.0, 0.2, 0.5, 1.0]),
)
def test_relu_and_dropout_pass_gradients_only_where_the_mask_keeps_them(
    upstream: list[float], kept: list[bool], dtype: type, p: float
) -> None:
    """Where the mask drops an entry the result is 0 even for an inf or NaN there (the product
    values * mask would give NaN); where it keeps one, the value itself, bit for bit."""
    from minigrad.dropout import dropout_backward, dropout_forward
    from minigrad.relu import relu_backward

    values = np.array(upstream, dtype=dtype)
    mask = np.array(kept[: len(upstream)])
    scale = dtype(0.0 if p == 1.0 else 1.0 / (1.0 - p))
    with np.errstate(over="ignore", invalid="ignore"):
        scaled = values * scale
    for name, got, want in (
        ("relu", relu_backward(values, mask), np.where(mask, values, 0)),
        ("dropout forward", dropout_forward(values, mask, p), np.where(mask, scaled, 0)),
        ("dropout backward", dropout_backward(values, mask, p), np.where(mask, scaled, 0)),
    ):
        assert got.dtype == dtype, name
        np.testing.assert_array_equal(got, want, err_msg=name)
