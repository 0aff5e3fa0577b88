"""The dtype goes in and stays: float32 in, float32 everywhere, no silent upcast in an iteration.

Every array of a model (parameters, gradients, the data) is replaced by a view of
:class:`Watched`, an ndarray subclass that checks the result of every NumPy operation it takes
part in: a floating-point result of another dtype is recorded as a violation. Results are
watched in turn, so temporaries derived from the model's arrays are checked too, through
forward, loss, backward, L2, the finite check and the optimiser's update.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, ClassVar

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from minigrad import Affine, ReLU, Sequential, SoftmaxCrossEntropy, Trainer, predict_labels
from minigrad.initializers import normal
from minigrad.models import TwoLayerNet, two_layer_net
from minigrad.optim import OPTIMIZERS, SGD, ExponentialDecay, make_optimizer
from minigrad.regularization import add_l2_gradients, l2_penalty

FLOATS = (np.float32, np.float64)


class Watched(np.ndarray):
    """An ndarray that records every floating-point result whose dtype is not ``expected``."""

    expected: ClassVar[np.dtype] = np.dtype(np.float32)
    violations: ClassVar[list[str]] = []

    def __array_ufunc__(self, ufunc: np.ufunc, method: str, *inputs: Any, **kwargs: Any) -> Any:
        out = kwargs.get("out")
        if out is not None:
            kwargs["out"] = tuple(_plain(o) for o in out)
        result = getattr(ufunc, method)(*(_plain(x) for x in inputs), **kwargs)
        _check(f"{ufunc.__name__}.{method}", result)
        if out is not None:
            return out[0] if len(out) == 1 else out
        return _watch(result)

    def __array_function__(self, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
        result = super().__array_function__(func, types, args, kwargs)
        _check(func.__name__, result)
        return result


def _plain(x: Any) -> Any:
    return x.view(np.ndarray) if isinstance(x, Watched) else x


def _watch(result: Any) -> Any:
    if isinstance(result, tuple):
        return tuple(_watch(r) for r in result)
    return result.view(Watched) if type(result) is np.ndarray else result


def _check(name: str, result: Any) -> None:
    for r in result if isinstance(result, tuple) else (result,):
        dtype = getattr(r, "dtype", None)
        if dtype is not None and dtype.kind == "f" and dtype != Watched.expected:
            Watched.violations.append(f"{name} -> {dtype}")


@contextmanager
def watching(dtype: type) -> Iterator[list[str]]:
    """Record violations of ``dtype`` while the block runs; yields the list."""
    Watched.expected, Watched.violations = np.dtype(dtype), []
    try:
        yield Watched.violations
    finally:
        Watched.violations = []


def watch_model(model: Sequential) -> None:
    """Swap every parameter and gradient for a watched view (before anything holds them)."""
    for layer in model:
        for store in (layer.params, layer.grads):
            for key, value in store.items():
                store[key] = value.view(Watched)


def random_net(
    dtype: type, widths: list[int], num_classes: int, seed: int
) -> Sequential:
    rng = np.random.default_rng(seed)
    sizes = [*widths, num_classes]
    layers: list[Any] = []
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        if i:
            layers.append(ReLU())
        layers.append(Affine(fan_in, fan_out, normal(1.0 / np.sqrt(fan_in), rng), dtype=dtype))
    return Sequential(*layers)


# ------------------------------------------------------------------------------ the watcher


def test_the_watcher_catches_an_upcast() -> None:
    W = np.ones((3, 4), np.float32).view(Watched)
    with watching(np.float32) as violations:
        _ = 0.5 * W  # a Python float takes W's dtype (NEP 50)
        _ = W @ W.T
        assert violations == []
        _ = np.float64(0.5) * W  # a NumPy float64 scalar upcasts
        _ = W + np.ones(4)  # so does a float64 array
    assert violations == ["multiply.__call__ -> float64", "add.__call__ -> float64"]


# ------------------------------------------------------------------------------ layers, loss


@given(
    dtype=st.sampled_from(FLOATS),
    widths=st.lists(st.integers(1, 8), min_size=1, max_size=4),
    num_classes=st.integers(2, 5),
    batch=st.integers(1, 6),
    reg=st.sampled_from([0.0, 0.3]),
    seed=st.integers(0, 2**32 - 1),
)
def test_every_layer_loss_and_l2_keep_the_dtype(
    dtype: type, widths: list[int], num_classes: int, batch: int, reg: float, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    model = random_net(dtype, widths, num_classes, seed)
    watch_model(model)
    X = rng.standard_normal((batch, widths[0])).astype(dtype).view(Watched)
    y = rng.integers(0, num_classes, batch)
    loss_layer = SoftmaxCrossEntropy()
    with watching(dtype) as violations:
        x: np.ndarray = X
        for layer in model:
            x = layer.forward(x)
            assert x.dtype == dtype, f"{layer!r} forward gave {x.dtype}"
        loss = loss_layer.forward(x, y)
        dscores = loss_layer.backward()
        assert dscores.dtype == dtype and dscores.shape == x.shape
        grad = dscores
        for layer in reversed(model.layers):
            dx = layer.backward(grad)
            assert dx is not None and dx.dtype == dtype, f"{layer!r} backward gave {dx}"
            grad = dx
        penalty = add_l2_gradients(model.params, model.grads, model.weight_names, reg)
        assert penalty == pytest.approx(l2_penalty(
            (model.params[name] for name in model.weight_names), reg), rel=1e-6)
        assert isinstance(loss, float) and isinstance(penalty, float)
        assert violations == []
    for name, value in [*model.params.items(), *model.grads.items()]:
        assert value.dtype == dtype, name


# ------------------------------------------------------------------------------ a training run


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_training_iterations_keep_the_dtype_with_every_optimiser(dtype: type, name: str) -> None:
    rng = np.random.default_rng(0)
    X = (50.0 * rng.standard_normal((60, 12))).astype(dtype).view(Watched)
    y = rng.integers(0, 3, 60)
    np.random.seed(0)
    model = two_layer_net(12, 7, 3, std=1e-2, dtype=dtype)
    watch_model(model)
    optimizer = make_optimizer(name, learning_rate=ExponentialDecay(1e-3, 0.9))
    trainer = Trainer(model, optimizer, reg=0.3, batch_size=16, sampling="replacement",
                      rng=np.random.default_rng(1))
    with watching(dtype) as violations:
        history = trainer.fit(X, y, X[:20], y[:20], num_iters=9)  # 3 epochs: the decay runs
        assert violations == []
    assert all(isinstance(loss, float) and np.isfinite(loss) for loss in history.loss)
    for key, value in [*model.params.items(), *model.grads.items()]:
        assert value.dtype == dtype, key
    for key, slots in optimizer.state.items():
        for slot, value in slots.items():
            assert value.dtype == dtype, f"{key}/{slot}"


def test_a_float32_run_never_allocates_float64_arrays_of_parameter_size() -> None:
    # The training loop's own buffers (minibatch, gradients, optimiser scratch) are float32.
    rng = np.random.default_rng(0)
    X = rng.standard_normal((400, 300), dtype=np.float32)
    y = rng.integers(0, 10, 400)
    model = two_layer_net(300, 50, 10, dtype=np.float32)
    trainer = Trainer(model, make_optimizer("sgd", learning_rate=1e-3), reg=0.1,
                      batch_size=200, rng=np.random.default_rng(1))
    trainer.fit(X, y, num_iters=2)
    arrays = [*model.params.values(), *model.grads.values(),
              *trainer.optimizer._scratch.values()]
    assert all(a.dtype == np.float32 for a in arrays)


# ------------------------------------------------------------------------------ the workbook


def test_the_workbook_api_stays_float64_by_default() -> None:
    np.random.seed(0)
    net = TwoLayerNet(4, 10, 3, std=1e-1)
    X = np.random.randn(5, 4)
    y = np.array([0, 1, 2, 2, 1])
    assert all(net.params[k].dtype == np.float64 for k in ("W1", "b1", "W2", "b2"))
    scores = net.loss(X)
    assert isinstance(scores, np.ndarray) and scores.dtype == np.float64
    _, grads = net.loss(X, y, reg=0.05)
    assert all(g.dtype == np.float64 for g in grads.values())
    net.train(X, y, X, y, learning_rate=1e-1, reg=5e-6, num_iters=3)
    assert all(net.params[k].dtype == np.float64 for k in ("W1", "b1", "W2", "b2"))


def test_float32_model_rejects_float64_data_instead_of_upcasting() -> None:
    model = two_layer_net(4, 5, 3, dtype=np.float32)
    trainer = Trainer(model, make_optimizer("sgd"), rng=np.random.default_rng(0))
    with pytest.raises(TypeError, match="float64 but the model's parameters are float32"):
        trainer.fit(np.zeros((10, 4)), np.zeros(10, np.int64), num_iters=1)


def test_predictions_of_a_float32_model_match_float64_on_the_same_weights() -> None:
    rng = np.random.default_rng(3)
    X = rng.standard_normal((300, 20))
    model64 = two_layer_net(20, 16, 4, std=0.3, dtype=np.float64)
    model32 = two_layer_net(20, 16, 4, dtype=np.float32)
    for name, value in model64.params.items():
        model32.params[name][...] = value
    scores32 = model32.forward(X.astype(np.float32))
    assert scores32.dtype == np.float32
    labels32 = predict_labels(model32.forward, X.astype(np.float32))
    labels64 = predict_labels(model64.forward, X)
    assert np.mean(labels32 == labels64) > 0.97


# ------------------------------------------------------------------ plain SGD's fast path


class GenericSGD(SGD):
    """Plain SGD without the fast path: the trainer takes the generic ``step`` route."""

    def gradient_scale(self) -> None:
        return None


@pytest.mark.parametrize("dtype", FLOATS)
def test_plain_sgd_fast_path_equals_the_generic_step(dtype: type) -> None:
    rng = np.random.default_rng(4)
    X: np.ndarray = rng.standard_normal((300, 20)).astype(dtype)
    y = rng.integers(0, 4, 300)
    runs = []
    for optimizer_class in (SGD, GenericSGD):
        np.random.seed(1)
        model = two_layer_net(20, 16, 4, std=0.1, dtype=dtype)
        optimizer = optimizer_class(learning_rate=ExponentialDecay(0.05, 0.9))
        trainer = Trainer(model, optimizer, reg=0.3, batch_size=32, sampling="replacement",
                          rng=np.random.default_rng(2))
        history = trainer.fit(X, y, num_iters=40)  # 4 epochs: the rate decays
        runs.append((model.params, history.loss, optimizer.step_count))
    (fast, fast_loss, fast_steps), (generic, generic_loss, generic_steps) = runs
    rtol = 1e-4 if dtype == np.float32 else 1e-10
    np.testing.assert_allclose(fast_loss, generic_loss, rtol=rtol)
    for name in fast:
        assert fast[name].dtype == dtype
        np.testing.assert_allclose(fast[name], generic[name], rtol=rtol, atol=rtol * 1e-2)
    assert fast_steps == generic_steps == 40
