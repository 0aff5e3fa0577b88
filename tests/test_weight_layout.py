"""Column-major float32 weights (minigrad.affine.WEIGHT_ORDER): same numbers, any layout."""

from __future__ import annotations

import numpy as np
import pytest

from minigrad import Trainer
from minigrad.affine import Affine, affine_backward
from minigrad.models import two_layer_net
from minigrad.optim.registry import OPTIMIZERS, make_optimizer
from minigrad.regularization import l2_penalty


@pytest.mark.parametrize(("dtype", "column_major"), [(np.float32, True), (np.float64, False)])
def test_weight_and_gradient_order(dtype: type, column_major: bool) -> None:
    layer = Affine(7, 5, dtype=dtype)
    W, dW = layer.params["W"], layer.grads["W"]
    assert W.shape == dW.shape == (5, 7)
    assert W.flags.f_contiguous == dW.flags.f_contiguous == column_major
    assert W.flags.c_contiguous == dW.flags.c_contiguous == (not column_major)


def test_backward_writes_a_column_major_gradient() -> None:
    rng = np.random.default_rng(0)
    x, dout = rng.standard_normal((6, 7)), rng.standard_normal((6, 5))
    W = rng.standard_normal((5, 7))
    dW_c, db_c = np.empty((5, 7)), np.empty(5)
    dW_f, db_f = np.empty((5, 7), order="F"), np.empty(5)
    dx_c = affine_backward(dout, x, W, dW_c, db_c)
    dx_f = affine_backward(dout, x, np.asfortranarray(W), dW_f, db_f)
    np.testing.assert_allclose(dW_f, dout.T @ x, rtol=1e-12)
    np.testing.assert_allclose(dW_f, dW_c, rtol=1e-12)
    np.testing.assert_array_equal(db_f, db_c)
    assert dx_c is not None and dx_f is not None
    np.testing.assert_allclose(dx_f, dx_c, rtol=1e-12)


def test_l2_penalty_of_a_column_major_weight() -> None:
    W = np.asfortranarray(np.arange(12.0).reshape(3, 4))
    assert l2_penalty([W], 2.0) == float(np.sum(W**2))


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_optimizer_state_takes_the_parameter_order(name: str) -> None:
    rng = np.random.default_rng(1)
    params = {"W": np.asfortranarray(rng.standard_normal((50, 300)).astype(np.float32))}
    grads = {"W": np.asfortranarray(rng.standard_normal((50, 300)).astype(np.float32))}
    optimizer = make_optimizer(name, learning_rate=1e-2)
    optimizer.step(params, grads)
    for value in optimizer.state.get("W", {}).values():
        assert value.flags.f_contiguous and not value.flags.c_contiguous
    fresh = make_optimizer(name, learning_rate=1e-2)
    fresh.load_state_dict(optimizer.state_dict(), params)
    for value in fresh.state.get("W", {}).values():
        assert value.flags.f_contiguous and not value.flags.c_contiguous
    # the same steps on row-major copies give the same numbers
    params_c = {"W": np.ascontiguousarray(params["W"])}
    other = make_optimizer(name, learning_rate=1e-2)
    other.load_state_dict(optimizer.state_dict(), params_c)
    other.step(params_c, {"W": np.ascontiguousarray(grads["W"])})
    fresh.step(params, grads)
    np.testing.assert_allclose(params["W"], params_c["W"], rtol=1e-5, atol=1e-7)


def test_float32_training_matches_a_row_major_run() -> None:
    """The same iterations with every float32 array row-major give nearly the same weights."""
    rng = np.random.default_rng(2)
    X = rng.standard_normal((300, 20)).astype(np.float32)
    y = rng.integers(0, 4, 300)
    initial = two_layer_net(20, 8, 4, std=0.1, dtype=np.float32).params
    runs = []
    for layout in ("F", "C"):
        model = two_layer_net(20, 8, 4, dtype=np.float32)
        for i, layer in enumerate(model):
            for key in layer.params:
                layer.params[key] = np.array(initial[f"{i}.{key}"], order=layout)
                layer.grads[key] = np.zeros_like(layer.params[key])
        trainer = Trainer(model, make_optimizer("sgd", learning_rate=0.1), reg=0.1,
                          batch_size=50, rng=np.random.default_rng(3))
        trainer.fit(X, y, num_iters=30)
        runs.append((model.params, trainer.history.loss))
    (params_f, loss_f), (params_c, loss_c) = runs
    assert params_f["0.W"].flags.f_contiguous and params_c["0.W"].flags.c_contiguous
    np.testing.assert_allclose(loss_f, loss_c, rtol=1e-4)
    for name in params_f:
        np.testing.assert_allclose(params_f[name], params_c[name], rtol=1e-3, atol=1e-6)
