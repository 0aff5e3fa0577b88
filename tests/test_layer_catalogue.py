"""The layer catalogue: Dropout, BatchNorm1d, LayerNorm, the activations, the hinge loss.

Acceptance of issue 11, items 1-3 (gradients by finite differences in both modes, inputs
not mutated, dtypes kept; random stacks of the whole catalogue; batch-norm statistics and
dropout rates) and the optional comparison with PyTorch (item 4 of the brief).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from minigrad import (
    GELU,
    Affine,
    BatchNorm1d,
    Dropout,
    Layer,
    LayerNorm,
    LeakyReLU,
    MulticlassHingeLoss,
    ReLU,
    Sequential,
    Sigmoid,
    SoftmaxCrossEntropy,
    Tanh,
    add_l2_gradients,
    check_layer_gradients,
    check_loss_gradients,
    check_model_gradients,
    fixed_masks,
    multiclass_hinge_loss,
)
from minigrad.gradcheck import GradientMismatch
from minigrad.testing import (
    batch_norm_inputs,
    batch_shapes,
    catalogue_nets,
    float64_arrays,
    hinge_loss_inputs,
    kink_free_batches,
    layer_norm_inputs,
    min_abs_preactivation,
    min_hinge_margin,
)

SEEDS = st.integers(0, 2**32 - 1)


def _smooth_inputs() -> st.SearchStrategy[np.ndarray]:
    return batch_shapes().flatmap(lambda shape: float64_arrays(shape, bound=4.0))


def _with_random_affine(layer: BatchNorm1d | LayerNorm, rng: np.random.Generator) -> Layer:
    """Random gamma and beta (and, for batch norm, running statistics for eval mode)."""
    width = layer.num_features
    layer.params["gamma"][...] = rng.uniform(0.5, 2.0, width)
    layer.params["beta"][...] = rng.standard_normal(width)
    if isinstance(layer, BatchNorm1d):
        layer.buffers["running_mean"][...] = rng.standard_normal(width)
        layer.buffers["running_var"][...] = rng.uniform(0.3, 3.0, width)
    return layer


# name -> (make(width, dtype, rng), input strategy, parameter dtype or None)
Maker = Callable[[int, Any, np.random.Generator], Layer]
CATALOGUE: dict[str, tuple[Maker, st.SearchStrategy[np.ndarray]]] = {
    "leaky_relu": (lambda w, d, r: LeakyReLU(0.1), kink_free_batches(bound=3.0)),
    "leaky_relu_default": (lambda w, d, r: LeakyReLU(), kink_free_batches(bound=3.0)),
    "tanh": (lambda w, d, r: Tanh(), _smooth_inputs()),
    "sigmoid": (lambda w, d, r: Sigmoid(), _smooth_inputs()),
    "gelu": (lambda w, d, r: GELU(), _smooth_inputs()),
    "gelu_tanh": (lambda w, d, r: GELU("tanh"), _smooth_inputs()),
    "dropout_0.2": (lambda w, d, r: Dropout(0.2, rng=r), _smooth_inputs()),
    "dropout_0.7": (lambda w, d, r: Dropout(0.7, rng=r), _smooth_inputs()),
    "batchnorm": (
        lambda w, d, r: _with_random_affine(BatchNorm1d(w, dtype=d), r),
        batch_norm_inputs(),
    ),
    "batchnorm_momentum": (
        lambda w, d, r: _with_random_affine(BatchNorm1d(w, eps=1e-3, momentum=0.5, dtype=d), r),
        batch_norm_inputs(),
    ),
    "layernorm": (
        lambda w, d, r: _with_random_affine(LayerNorm(w, dtype=d), r),
        layer_norm_inputs(),
    ),
}
MODES = {"train": True, "eval": False}


# ------------------------------------------------------------------ 1. every layer


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", CATALOGUE)
@given(data=st.data(), seed=SEEDS)
def test_backward_matches_finite_differences(
    name: str, mode: str, data: st.DataObject, seed: int
) -> None:
    """Input and parameter gradients, rtol 1e-6 with an absolute floor of 1e-8 (float64)."""
    make, inputs = CATALOGUE[name]
    x = data.draw(inputs)
    rng = np.random.default_rng(seed)
    layer = make(x.shape[1], np.float64, rng).train(MODES[mode])
    check_layer_gradients(layer, x, rng, rtol=1e-6, atol=1e-8)


def test_gradient_check_catches_a_wrong_batchnorm_gradient() -> None:
    """Checking batch norm as if it were eval mode in train mode must fail: the
    batch-coupled terms are really checked."""
    rng = np.random.default_rng(0)
    layer = BatchNorm1d(3)
    x = rng.standard_normal((4, 3))
    layer.forward(x)
    cached = layer._cache
    assert cached is not None
    layer.backward = lambda dout, need_input_grad=True: dout * (  # type: ignore[method-assign]
        layer.params["gamma"] * cached[2]
    )
    with pytest.raises(GradientMismatch):
        check_layer_gradients(layer, x, rng)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", CATALOGUE)
@given(data=st.data(), seed=SEEDS)
def test_forward_and_backward_do_not_mutate_inputs(
    name: str, mode: str, data: st.DataObject, seed: int
) -> None:
    make, inputs = CATALOGUE[name]
    x = data.draw(inputs)
    rng = np.random.default_rng(seed)
    layer = make(x.shape[1], np.float64, rng).train(MODES[mode])
    x_before = x.copy()
    out = layer.forward(x)
    dout = rng.standard_normal(out.shape)
    dout_before = dout.copy()
    layer.backward(dout)
    np.testing.assert_array_equal(x, x_before)
    np.testing.assert_array_equal(dout, dout_before)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", CATALOGUE)
@given(data=st.data(), seed=SEEDS)
def test_dtype_is_kept(name: str, mode: str, dtype: type, data: st.DataObject, seed: int) -> None:
    make, inputs = CATALOGUE[name]
    x = data.draw(inputs).astype(dtype)
    rng = np.random.default_rng(seed)
    layer = make(x.shape[1], dtype, rng).train(MODES[mode])
    out = layer.forward(x)
    assert out.dtype == dtype and out.shape == x.shape
    dx = layer.backward(np.ones_like(out))
    assert dx is not None and dx.dtype == dtype and dx.shape == x.shape
    for name_, grad in layer.grads.items():
        assert grad.dtype == dtype, name_
    for name_, buffer in layer.buffers.items():
        assert buffer.dtype == dtype, name_


@pytest.mark.parametrize("cls", [BatchNorm1d, LayerNorm])
def test_normalisation_layers_refuse_another_dtype_or_width(cls: type) -> None:
    layer = cls(3)  # float64
    with pytest.raises(TypeError, match="float32.*float64"):
        layer.forward(np.ones((4, 3), np.float32))
    with pytest.raises(ValueError, match=r"\(N, 3\)"):
        layer.forward(np.ones((4, 2)))
    with pytest.raises(ValueError, match="3 input features"):
        layer.output_width(2)
    assert layer.output_width(3) == 3


@pytest.mark.parametrize(
    "layer", [LeakyReLU(), Tanh(), Sigmoid(), GELU(), Dropout(0.5)], ids=repr
)
def test_elementwise_layers_refuse_integer_input(layer: Layer) -> None:
    with pytest.raises(TypeError, match="floating-point"):
        layer.forward(np.ones((2, 3), dtype=np.int64))


@pytest.mark.parametrize(
    "layer",
    [LeakyReLU(), Tanh(), Sigmoid(), GELU(), Dropout(0.5), BatchNorm1d(2), LayerNorm(2)],
    ids=repr,
)
def test_backward_before_forward_is_an_error(layer: Layer) -> None:
    with pytest.raises(RuntimeError, match="before forward"):
        layer.backward(np.ones((3, 2)))


@pytest.mark.parametrize(
    ("make", "error"),
    [
        (lambda: Dropout(1.5), ValueError),
        (lambda: Dropout(-0.1), ValueError),
        (lambda: Dropout(True), TypeError),
        (lambda: Dropout(0.5, rng=0), TypeError),  # type: ignore[arg-type]
        (lambda: BatchNorm1d(0), ValueError),
        (lambda: BatchNorm1d(3, eps=0.0), ValueError),
        (lambda: BatchNorm1d(3, momentum=1.5), ValueError),
        (lambda: BatchNorm1d(3, dtype=np.int32), TypeError),
        (lambda: LayerNorm(2.5), TypeError),  # type: ignore[arg-type]
        (lambda: LayerNorm(3, eps=-1.0), ValueError),
        (lambda: LeakyReLU("0.1"), TypeError),  # type: ignore[arg-type]
        (lambda: LeakyReLU(float("nan")), ValueError),
        (lambda: GELU("exact"), ValueError),  # type: ignore[arg-type]
        (lambda: MulticlassHingeLoss(float("inf")), ValueError),
    ],
)
def test_bad_arguments_are_refused(make: Callable[[], object], error: type) -> None:
    with pytest.raises(error):
        make()


@given(
    x=batch_shapes(max_batch=4, max_features=4).flatmap(
        lambda s: float64_arrays(s, bound=1.0)
    ),
    magnitude=st.sampled_from([1e2, 1e4, 1e30, 1e300]),
)
def test_elementwise_layers_are_stable_for_huge_inputs(x: np.ndarray, magnitude: float) -> None:
    """No overflow, division or invalid-value warnings, and finite results, in both dtypes."""
    for dtype in (np.float64, np.float32):
        scale = min(magnitude, 1e30) if dtype == np.float32 else magnitude
        big = (x * scale).astype(dtype)
        for layer in (LeakyReLU(), Tanh(), Sigmoid(), GELU(), GELU("tanh")):
            with np.errstate(over="raise", invalid="raise", divide="raise"):
                out = layer.forward(big)
                dx = layer.backward(np.ones_like(big))
            assert np.isfinite(out).all() and np.isfinite(dx).all(), layer
            assert out.dtype == dtype and dx.dtype == dtype


def test_activation_values_at_known_points() -> None:
    x = np.array([-1e4, -2.0, 0.0, 2.0, 1e4])
    np.testing.assert_array_equal(LeakyReLU(0.1).forward(x), [-1e3, -0.2, 0.0, 2.0, 1e4])
    np.testing.assert_allclose(Sigmoid().forward(x), [0.0, 1 / (1 + math.e**2), 0.5,
                                                      1 / (1 + math.e**-2), 1.0])
    phi = 0.5 * (1 + math.erf(2 / math.sqrt(2)))
    np.testing.assert_allclose(GELU().forward(x), [0.0, -2 * (1 - phi), 0.0, 2 * phi, 1e4])
    layer = LeakyReLU(0.1)
    layer.forward(np.array([0.0]))
    assert layer.backward(np.array([1.0]))[0] == 0.1  # PyTorch's derivative at 0


# ------------------------------------------------------------------ the hinge loss


@given(inputs=hinge_loss_inputs())
def test_hinge_loss_gradient_matches_finite_differences(
    inputs: tuple[np.ndarray, np.ndarray],
) -> None:
    scores, y = inputs
    check_loss_gradients(MulticlassHingeLoss(), scores, y, rtol=1e-6, atol=1e-8)


@given(data=st.data(), margin=st.sampled_from([0.5, 2.0]))
def test_hinge_loss_gradient_with_other_margins(data: st.DataObject, margin: float) -> None:
    scores, y = data.draw(hinge_loss_inputs(margin=margin))
    check_loss_gradients(MulticlassHingeLoss(margin), scores, y)


@given(inputs=hinge_loss_inputs())
def test_hinge_loss_is_cs231n_svm_loss(inputs: tuple[np.ndarray, np.ndarray]) -> None:
    """The loop of CS231n's svm_loss_naive, and inputs left untouched."""
    scores, y = inputs
    before = (scores.copy(), y.copy())
    loss, dscores = multiclass_hinge_loss(scores, y)
    n, c = scores.shape
    expected = 0.0
    for i in range(n):
        for j in range(c):
            if j != y[i]:
                expected += max(0.0, scores[i, j] - scores[i, y[i]] + 1.0)
    assert loss == pytest.approx(expected / n, rel=1e-12, abs=1e-12)
    np.testing.assert_allclose(dscores.sum(axis=1), 0.0, atol=1e-12)
    np.testing.assert_array_equal(scores, before[0])
    np.testing.assert_array_equal(y, before[1])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@given(inputs=hinge_loss_inputs())
def test_hinge_loss_keeps_the_dtype(dtype: type, inputs: tuple[np.ndarray, np.ndarray]) -> None:
    scores, y = inputs
    loss = MulticlassHingeLoss()
    value = loss.forward(scores.astype(dtype), y)
    assert isinstance(value, float) and value >= 0
    assert loss.backward().dtype == dtype


def test_hinge_loss_checks_labels_and_scores() -> None:
    scores = np.zeros((2, 3))
    loss = MulticlassHingeLoss()
    with pytest.raises(RuntimeError, match="before forward"):
        loss.backward()
    for bad in (np.array([0, 3]), np.array([-1, 0]), np.array([[0], [1]]), np.array([0.0, 1.0])):
        with pytest.raises((ValueError, TypeError)):
            loss.forward(scores, bad)
    with pytest.raises(TypeError):
        loss.forward(np.zeros((2, 3), dtype=np.int64), np.array([0, 1]))
    with pytest.raises(ValueError):
        loss.forward(np.zeros(3), np.array([0]))
    assert repr(loss) == "MulticlassHingeLoss(margin=1)"
    assert loss(scores, np.array([0, 1])) == pytest.approx(2.0)  # every margin is exactly 1


# ------------------------------------------------------------------ 2. random stacks


# Cheap (a few ms each) and the space is large (10 kinds, depth 1-5, two modes): more
# examples than the profile's 30, in CI too.
STACK_EXAMPLES = 100


def _stack_check(
    net: tuple[Sequential, np.ndarray, np.ndarray], train: bool, reg: float, hinge: bool
) -> None:
    model, X, y = net
    model.train(train)
    loss = MulticlassHingeLoss() if hinge else SoftmaxCrossEntropy()
    with fixed_masks(model):  # the kink checks and the gradient check see the same masks
        assume(min_abs_preactivation(model, X, ignore_zeros=True) > 1e-4)
        if hinge:
            scores = model.forward(X)
            assume(min_hinge_margin(scores, y) > 1e-4)
        check_model_gradients(model, X, y, reg=reg, loss=loss)


@settings(max_examples=STACK_EXAMPLES)
@given(
    net=catalogue_nets(max_depth=5, max_width=6, max_batch=5),
    train=st.booleans(),
    reg=st.floats(0.01, 1.0),
)
def test_random_catalogue_stacks_with_l2_softmax(
    net: tuple[Sequential, np.ndarray, np.ndarray], train: bool, reg: float
) -> None:
    _stack_check(net, train, reg, hinge=False)


@settings(max_examples=STACK_EXAMPLES)
@given(
    net=catalogue_nets(max_depth=5, max_width=6, max_batch=5),
    train=st.booleans(),
    reg=st.floats(0.01, 1.0),
)
def test_random_catalogue_stacks_with_l2_hinge(
    net: tuple[Sequential, np.ndarray, np.ndarray], train: bool, reg: float
) -> None:
    _stack_check(net, train, reg, hinge=True)


def test_l2_sees_only_affine_weights_and_state_dict_holds_buffers() -> None:
    model = Sequential(Affine(3, 4), BatchNorm1d(4), ReLU(), Dropout(0.5), Affine(4, 2),
                       LayerNorm(2))
    assert model.weight_names == ("0.W", "4.W")
    assert set(model.params) == {"0.W", "0.b", "1.gamma", "1.beta", "4.W", "4.b",
                                 "5.gamma", "5.beta"}
    assert set(model.buffers) == {"1.running_mean", "1.running_var"}
    state = model.state_dict()
    assert set(state) == set(model.params) | set(model.buffers)
    grads = {name: np.zeros_like(p) for name, p in model.params.items()}
    add_l2_gradients(model.params, grads, model.weight_names, 1.0)
    assert not grads["1.gamma"].any() and not grads["5.gamma"].any()


def test_sequential_passes_modes_to_the_new_layers() -> None:
    inner = Sequential(BatchNorm1d(2), Dropout(0.5))
    model = Sequential(Affine(2, 2), inner)
    model.eval()
    assert not any(layer.training for layer in [*model.layers, *inner.layers])
    model.train()
    assert all(layer.training for layer in [*model.layers, *inner.layers])


# ------------------------------------------------------------------ 3. batch norm statistics


@given(
    k=st.integers(1, 6),
    shape=st.tuples(st.integers(2, 8), st.integers(1, 5)),
    momentum=st.sampled_from([0.0, 0.1, 0.5, 1.0]),
    seed=SEEDS,
)
def test_running_statistics_follow_the_formula(
    k: int, shape: tuple[int, int], momentum: float, seed: int
) -> None:
    """After k train-mode steps: running = (1 - m) running + m batch, unbiased variance."""
    rng = np.random.default_rng(seed)
    layer = BatchNorm1d(shape[1], momentum=momentum)
    mean, var = np.zeros(shape[1]), np.ones(shape[1])
    for _ in range(k):
        x = rng.normal(rng.uniform(-3, 3), rng.uniform(0.1, 3), shape)
        out = layer.forward(x)
        mean = (1 - momentum) * mean + momentum * x.mean(axis=0)
        var = (1 - momentum) * var + momentum * x.var(axis=0, ddof=1)
        # the batch itself is normalised with the *biased* variance
        expected = (x - x.mean(axis=0)) / np.sqrt(x.var(axis=0) + layer.eps)
        np.testing.assert_allclose(out, expected, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(layer.buffers["running_mean"], mean, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(layer.buffers["running_var"], var, rtol=1e-12, atol=1e-14)


@given(x=batch_norm_inputs(), seed=SEEDS)
def test_eval_mode_is_deterministic_and_uses_running_statistics(x: np.ndarray, seed: int) -> None:
    rng = np.random.default_rng(seed)
    layer = _with_random_affine(BatchNorm1d(x.shape[1]), rng)
    layer.eval()
    before = layer.state_dict()
    out = layer.forward(x)
    np.testing.assert_array_equal(layer.forward(x), out)  # bit for bit
    for name, value in layer.state_dict().items():
        np.testing.assert_array_equal(value, before[name])  # eval mode updates nothing
    b = layer.buffers
    expected = (x - b["running_mean"]) / np.sqrt(b["running_var"] + layer.eps)
    expected = layer.params["gamma"] * expected + layer.params["beta"]
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(layer.forward(x[:1]), out[:1])  # rows are independent


def test_batchnorm_refuses_one_row_in_train_mode_only() -> None:
    layer = BatchNorm1d(3)
    with pytest.raises(ValueError, match="more than 1 row"):
        layer.forward(np.ones((1, 3)))
    layer.eval()
    assert layer.forward(np.ones((1, 3))).shape == (1, 3)


def test_backward_follows_the_mode_of_its_forward() -> None:
    rng = np.random.default_rng(1)
    layer = _with_random_affine(BatchNorm1d(3), rng)
    x, dout = rng.standard_normal((5, 3)), rng.standard_normal((5, 3))
    layer.forward(x)
    train_dx = layer.backward(dout)
    layer.forward(x)
    layer.eval()  # switching after the forward pass does not change its backward
    np.testing.assert_array_equal(layer.backward(dout), train_dx)
    assert layer.backward(dout, need_input_grad=False) is None


def test_gradient_checks_leave_the_running_statistics_alone() -> None:
    rng = np.random.default_rng(2)
    layer = BatchNorm1d(3)
    before = layer.state_dict()
    check_layer_gradients(layer, rng.standard_normal((4, 3)), rng)
    for name, value in layer.state_dict().items():
        np.testing.assert_array_equal(value, before[name])


# ------------------------------------------------------------------ 3. dropout rates

UNITS = 100_000


@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dropout_keep_rate_and_mean_in_train_mode(p: float, dtype: type) -> None:
    """Keep rate within 4 standard errors of 1 - p; mean within 4 standard errors too.

    The output's mean differs from the input's by ``(1/n) sum x_i (m_i / (1-p) - 1)``,
    whose standard error is ``sqrt(sum x_i**2 * p / (1-p)) / n``.
    """
    rng = np.random.default_rng(12345)
    x = rng.uniform(0.5, 1.5, (100, UNITS // 100)).astype(dtype)
    layer = Dropout(p, rng=np.random.default_rng(7))
    out = layer.forward(x)
    kept = out != 0
    keep_rate = kept.mean()
    keep_se = math.sqrt(p * (1 - p) / UNITS)
    assert abs(keep_rate - (1 - p)) < 4 * keep_se
    np.testing.assert_allclose(out[kept], x[kept] / np.float64(1 - p).astype(dtype), rtol=1e-6)
    x64 = x.astype(np.float64)
    mean_se = math.sqrt(float((x64**2).sum()) * p / (1 - p)) / UNITS
    assert abs(out.astype(np.float64).mean() - x64.mean()) < 4 * mean_se  # 0.6% of 1 at p=0.5
    assert out.dtype == dtype


def test_dropout_in_eval_mode_and_at_the_ends_of_p() -> None:
    x = np.random.default_rng(0).standard_normal((3, 4))
    layer = Dropout(0.5).eval()
    assert layer.forward(x) is x and layer.mask is None
    dout = np.ones_like(x)
    assert layer.backward(dout) is dout
    state = layer.extra_state()
    zero = Dropout(0.0).train()
    assert zero.forward(x) is x
    none_kept = Dropout(1.0)
    np.testing.assert_array_equal(none_kept.forward(x), np.zeros_like(x))
    np.testing.assert_array_equal(none_kept.backward(dout), np.zeros_like(x))
    assert layer.extra_state() == state  # eval mode draws nothing


def test_dropout_masks_are_fixed_on_request() -> None:
    x = np.ones((4, 5))
    layer = Dropout(0.5, rng=np.random.default_rng(3))
    first = layer.forward(x)
    assert not np.array_equal(layer.forward(x), first)  # a new mask each time
    layer.fix_mask()
    fixed = layer.forward(x)
    np.testing.assert_array_equal(layer.forward(x), fixed)
    assert layer.mask_fixed
    layer.release_mask()
    assert not layer.mask_fixed
    mask = np.zeros((4, 5), dtype=bool)
    mask[0] = True
    layer.fix_mask(mask)
    np.testing.assert_array_equal(layer.forward(x), np.where(mask, 2.0, 0.0))
    np.testing.assert_array_equal(layer.backward(x), np.where(mask, 2.0, 0.0))
    with pytest.raises(ValueError, match="fixed mask has shape"):
        layer.forward(np.ones((2, 5)))
    with pytest.raises(TypeError):
        layer.fix_mask(np.ones((4, 5)))
    with fixed_masks(layer):  # a mask fixed by the user stays fixed after the block
        pass
    np.testing.assert_array_equal(layer.forward(x), np.where(mask, 2.0, 0.0))


def test_float32_and_float64_nets_drop_the_same_units() -> None:
    x = np.ones((6, 7))
    a = Dropout(0.3, rng=np.random.default_rng(5)).forward(x)
    b = Dropout(0.3, rng=np.random.default_rng(5)).forward(x.astype(np.float32))
    np.testing.assert_array_equal(a != 0, b != 0)


# ------------------------------------------------------------------ generator states


def _random_model(seed: int) -> Sequential:
    rng = np.random.default_rng(seed)
    return Sequential(
        Affine(3, 4), Dropout(0.5, rng=np.random.default_rng(rng.integers(2**63))), ReLU(),
        Sequential(Affine(4, 4), Dropout(0.3, rng=np.random.default_rng(rng.integers(2**63)))),
    )


def test_extra_state_resumes_the_masks_exactly() -> None:
    x = np.ones((5, 3))
    model = _random_model(1)
    model.forward(x)
    states = model.extra_state()
    assert set(states) == {"1", "3"} and set(states["3"]) == {"1"}
    assert set(states["1"]) == {"generator"}
    expected = [model.forward(x) for _ in range(3)]
    other = _random_model(2)  # other generators, same architecture
    other.load_state_dict(model.state_dict())
    other.load_extra_state(states)
    for out in expected:
        np.testing.assert_array_equal(other.forward(x), out)


def test_extra_state_is_checked_before_anything_changes() -> None:
    model = _random_model(1)
    states = model.extra_state()
    before = model.extra_state()
    with pytest.raises(ValueError, match="layer 3: layer 1: Dropout's extra state must be"):
        model.load_extra_state({"1": states["1"]})  # a model without the second dropout
    with pytest.raises(ValueError, match="'7'"):
        model.check_extra_state({**states, "7": states["1"]})
    mt = {"generator": {"bit_generator": "MT19937", "state": {}}}
    with pytest.raises(ValueError, match="layer 1: .*PCG64.*'MT19937'"):
        model.load_extra_state({**states, "1": mt})
    broken = {"generator": {**states["1"]["generator"], "state": {"state": "x"}}}
    with pytest.raises(ValueError, match="layer 1: invalid PCG64 state"):
        model.load_extra_state({**states, "1": broken})
    with pytest.raises(ValueError):
        model.check_extra_state([])  # type: ignore[arg-type]
    assert model.extra_state() == before
    assert Sequential(Affine(2, 2), BatchNorm1d(2)).extra_state() == {}


def test_a_mersenne_twister_generator_state_round_trips() -> None:
    layer = Dropout(0.5, rng=np.random.Generator(np.random.MT19937(4)))
    state = layer.extra_state()
    first = layer.forward(np.ones((3, 3)))
    layer.load_extra_state(state)
    np.testing.assert_array_equal(layer.forward(np.ones((3, 3))), first)


# ------------------------------------------------------------------ 4. against PyTorch


@pytest.fixture(scope="module")
def torch() -> Any:
    return pytest.importorskip("torch")


def test_batchnorm_matches_torch(torch: Any) -> None:
    rng = np.random.default_rng(0)
    ours = BatchNorm1d(4, eps=1e-3, momentum=0.2)
    theirs = torch.nn.BatchNorm1d(4, eps=1e-3, momentum=0.2).double()
    for _ in range(4):
        x = rng.normal(2.0, 3.0, (6, 4))
        xt = torch.tensor(x, requires_grad=True)
        out_t = theirs(xt)
        dout = rng.standard_normal((6, 4))
        out_t.backward(torch.tensor(dout))
        np.testing.assert_allclose(ours.forward(x), out_t.detach().numpy(), rtol=1e-10,
                                   atol=1e-12)
        np.testing.assert_allclose(ours.backward(dout), xt.grad.numpy(), rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(ours.grads["gamma"], theirs.weight.grad.numpy(), rtol=1e-10)
        theirs.weight.grad = None
        theirs.bias.grad = None
        np.testing.assert_allclose(ours.buffers["running_mean"], theirs.running_mean.numpy(),
                                   rtol=1e-12)
        np.testing.assert_allclose(ours.buffers["running_var"], theirs.running_var.numpy(),
                                   rtol=1e-12)
    ours.eval()
    theirs.eval()
    x = rng.normal(2.0, 3.0, (3, 4))
    np.testing.assert_allclose(ours.forward(x), theirs(torch.tensor(x)).detach().numpy(),
                               rtol=1e-10, atol=1e-12)


def test_layernorm_matches_torch(torch: Any) -> None:
    rng = np.random.default_rng(1)
    ours = _with_random_affine(LayerNorm(5), rng)
    theirs = torch.nn.LayerNorm(5).double()
    with torch.no_grad():
        theirs.weight.copy_(torch.tensor(ours.params["gamma"]))
        theirs.bias.copy_(torch.tensor(ours.params["beta"]))
    x = rng.normal(1.0, 2.0, (4, 5))
    dout = rng.standard_normal((4, 5))
    xt = torch.tensor(x, requires_grad=True)
    out_t = theirs(xt)
    out_t.backward(torch.tensor(dout))
    np.testing.assert_allclose(ours.forward(x), out_t.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ours.backward(dout), xt.grad.numpy(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(ours.grads["gamma"], theirs.weight.grad.numpy(), rtol=1e-10)
    np.testing.assert_allclose(ours.grads["beta"], theirs.bias.grad.numpy(), rtol=1e-10)


@pytest.mark.parametrize(
    ("ours", "name", "kwargs"),
    [
        (GELU(), "gelu", {"approximate": "none"}),
        (GELU("tanh"), "gelu", {"approximate": "tanh"}),
        (LeakyReLU(), "leaky_relu", {}),
        (LeakyReLU(0.2), "leaky_relu", {"negative_slope": 0.2}),
        (Tanh(), "tanh", {}),
        (Sigmoid(), "sigmoid", {}),
    ],
    ids=repr,
)
def test_activations_match_torch(torch: Any, ours: Layer, name: str, kwargs: dict) -> None:
    x = np.concatenate([np.linspace(-8, 8, 33), [-1e3, 1e3]])[None, :]
    xt = torch.tensor(x, requires_grad=True)
    out_t = getattr(torch.nn.functional, name)(xt, **kwargs)
    out_t.sum().backward()
    np.testing.assert_allclose(ours.forward(x), out_t.detach().numpy(), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(ours.backward(np.ones_like(x)), xt.grad.numpy(), rtol=1e-12,
                               atol=1e-15)


def test_hinge_loss_is_torch_multimargin_times_classes(torch: Any) -> None:
    rng = np.random.default_rng(3)
    scores, y = rng.standard_normal((7, 4)), rng.integers(0, 4, 7)
    for margin in (1.0, 0.5):
        st_ = torch.tensor(scores, requires_grad=True)
        theirs = 4 * torch.nn.MultiMarginLoss(margin=margin)(st_, torch.tensor(y))
        theirs.backward()
        loss, dscores = multiclass_hinge_loss(scores, y, margin)
        assert loss == pytest.approx(theirs.item(), rel=1e-12)
        np.testing.assert_allclose(dscores, st_.grad.numpy(), rtol=1e-12, atol=1e-15)


def test_dropout_scales_like_torch(torch: Any) -> None:
    x = np.random.default_rng(4).uniform(1, 2, (50, 40))
    theirs = torch.nn.functional.dropout(torch.tensor(x), p=0.3, training=True).numpy()
    ours = Dropout(0.3, rng=np.random.default_rng(4)).forward(x)
    for out in (ours, theirs):
        kept = out != 0
        np.testing.assert_allclose(out[kept], x[kept] / 0.7, rtol=1e-12)
