"""Inputs that used to give a wrong number without an error now give a clear error.

Issue 10, section 4: labels are checked wherever they enter, one layer object cannot sit at
two positions, ReLU is exact at +-inf, NumPy scalars are accepted as hyper-parameters,
mixed dtypes below the trainer are refused, and saved states with NaN are refused.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from minigrad import (
    Affine,
    DivergenceError,
    ReLU,
    Sequential,
    SoftmaxCrossEntropy,
    Trainer,
    accuracy,
    softmax_cross_entropy,
)
from minigrad.models import TwoLayerNet, two_layer_net
from minigrad.optim import SGD, make_optimizer
from minigrad.relu import relu_backward, relu_forward

SCORES = np.random.default_rng(0).standard_normal((4, 3))
X = np.random.default_rng(1).standard_normal((4, 5))

BAD_LABELS = {
    "minus one": (np.array([0, 1, 2, -1]), ValueError, "negative label"),
    "column": (np.array([[0], [1], [2], [1]]), ValueError, r"1-D \(N,\), got shape \(4, 1\)"),
    "too large": (np.array([0, 1, 2, 3]), ValueError, "label 3, out of range for 3 classes"),
    "floats": (np.array([0.0, 1.0, 2.0, 1.0]), TypeError, "integer class labels"),
    "bools": (np.array([True, False, True, True]), TypeError, "integer class labels"),
    "list": ([0, 1, 2, 1], TypeError, "numpy array of integer labels"),
    "too few": (np.array([0, 1, 2]), ValueError, "3 labels but X has 4 rows"),
}


def _loss_layer(y: object) -> object:
    return SoftmaxCrossEntropy().forward(SCORES, y)  # type: ignore[arg-type]


def _loss_function(y: object) -> object:
    return softmax_cross_entropy(SCORES, y)  # type: ignore[arg-type]


def _trainer_step(y: object) -> object:
    trainer = Trainer(two_layer_net(5, 4, 3), SGD(0.1), rng=np.random.default_rng(0))
    return trainer.step(X, y)  # type: ignore[arg-type]


def _accuracy(y: object) -> object:
    return accuracy(two_layer_net(5, 4, 3), X, y)  # type: ignore[arg-type]


def _workbook_loss(y: object) -> object:
    return TwoLayerNet(5, 4, 3).loss(X, y)  # type: ignore[arg-type]


ENTRY_POINTS: dict[str, Callable[[object], object]] = {
    "loss layer": _loss_layer,
    "softmax_cross_entropy": _loss_function,
    "Trainer.step": _trainer_step,
    "accuracy": _accuracy,
    "TwoLayerNet.loss": _workbook_loss,
}


@pytest.mark.parametrize("entry", sorted(ENTRY_POINTS))
@pytest.mark.parametrize("case", sorted(BAD_LABELS))
def test_bad_labels_are_refused_wherever_they_enter(entry: str, case: str) -> None:
    labels, error, message = BAD_LABELS[case]
    with pytest.raises(error, match=message):
        ENTRY_POINTS[entry](labels)


def test_good_labels_of_any_integer_dtype_still_work() -> None:
    for dtype in (np.int8, np.uint8, np.int32, np.int64, np.uint64):
        loss, _ = softmax_cross_entropy(SCORES, np.array([0, 1, 2, 1], dtype=dtype))
        assert np.isfinite(loss)


def test_scores_that_are_not_a_float_matrix_are_refused() -> None:
    with pytest.raises(ValueError, match=r"shape \(N, C\)"):
        softmax_cross_entropy(np.zeros(3), np.array([0, 1, 2]))
    with pytest.raises(TypeError, match="floating-point"):
        softmax_cross_entropy(np.zeros((3, 2), dtype=np.int64), np.array([0, 1, 1]))


def test_relu_is_exact_at_infinity_and_stops_inf_at_inactive_units() -> None:
    x = np.array([-np.inf, -2.0, 0.0, 3.0, np.inf])
    out, mask = relu_forward(x)
    assert out.tolist() == [0.0, 0.0, 0.0, 3.0, np.inf]
    dout = np.array([np.inf, np.nan, -np.inf, 1.0, 2.0])
    assert relu_backward(dout, mask).tolist() == [0.0, 0.0, 0.0, 1.0, 2.0]
    for dtype in (np.float32, np.float64):
        assert relu_forward(x.astype(dtype))[0].dtype == dtype
        assert relu_backward(dout.astype(dtype), mask).dtype == dtype


def test_numpy_scalars_are_accepted_as_hyper_parameters() -> None:
    trainer = Trainer(
        two_layer_net(5, 4, 3), SGD(np.float32(0.1)), reg=np.float32(0.1),
        batch_size=np.int64(2), eval_chunk_size=np.int32(3), rng=np.random.default_rng(0),
    )
    assert trainer.reg == pytest.approx(0.1) and isinstance(trainer.reg, float)
    assert trainer.batch_size == 2 and isinstance(trainer.batch_size, int)
    with pytest.raises(TypeError, match="reg must be a real number, got bool"):
        Trainer(two_layer_net(5, 4, 3), SGD(0.1), reg=True, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="reg must be a finite number >= 0, got nan"):
        Trainer(two_layer_net(5, 4, 3), SGD(0.1), reg=float("nan"), rng=np.random.default_rng(0))


def test_mixed_dtypes_below_the_trainer_name_both() -> None:
    net = two_layer_net(5, 4, 3, dtype=np.float32)
    with pytest.raises(TypeError, match="input is float64 but its parameters are float32"):
        net.forward(X)
    with pytest.raises(TypeError, match="input is float32 but its parameters are float64"):
        Affine(5, 4).forward(X.astype(np.float32))
    with pytest.raises(ValueError, match=r"shape \(N, 5\) with N >= 1, got \(4, 6\)"):
        Affine(5, 4).forward(np.zeros((4, 6)))
    assert net.forward(X.astype(np.float32)).dtype == np.float32


def test_one_layer_object_twice_would_double_its_update_and_is_refused() -> None:
    shared = Affine(3, 3)
    with pytest.raises(ValueError, match="same object"):
        Sequential(shared, ReLU(), shared)


def test_a_trainer_state_with_nan_parameters_is_refused_and_changes_nothing() -> None:
    trainer = Trainer(two_layer_net(5, 4, 3), SGD(0.1), rng=np.random.default_rng(0))
    trainer.step(X, np.array([0, 1, 2, 1]))
    state = trainer.state_dict()
    state["model"]["0.W"][0, 0] = np.nan
    before = trainer.model.state_dict()
    with pytest.raises(ValueError, match="'0.W' holds NaN or inf"):
        trainer.load_state_dict(state)
    for name, value in trainer.model.state_dict().items():
        assert np.array_equal(value, before[name])


@pytest.mark.parametrize("name", ["sgd", "momentum", "nesterov", "rmsprop", "adam", "adagrad"])
@pytest.mark.parametrize("learning_rate", [1e30, 3e38])
def test_an_update_that_overflows_float32_leaves_every_parameter_as_it_was(
    name: str, learning_rate: float
) -> None:
    model = two_layer_net(5, 4, 3, std=0.5, dtype=np.float32)
    trainer = Trainer(model, make_optimizer(name, learning_rate=learning_rate),
                      rng=np.random.default_rng(0))
    before = model.state_dict()
    with pytest.raises(DivergenceError, match="not finite.*no parameter was changed"):
        trainer.step(X.astype(np.float32), np.array([0, 1, 2, 1]))
    for key, value in model.state_dict().items():
        assert value.tobytes() == before[key].tobytes(), key


@pytest.mark.parametrize("name", ["sgd", "momentum", "nesterov", "rmsprop", "adam", "adagrad"])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_a_non_finite_gradient_with_a_finite_loss_changes_no_parameter(
    name: str, bad: float
) -> None:
    # The trainer leaves the gradients' check to the optimiser's check of every step: a
    # NaN or inf gradient must still stop the step before any parameter moves, named.
    model = two_layer_net(5, 4, 3, std=0.5, dtype=np.float64)
    trainer = Trainer(model, make_optimizer(name, learning_rate=1e-3),
                      rng=np.random.default_rng(0))
    upstream = trainer.loss.backward

    def poisoned() -> np.ndarray:
        dscores = upstream().copy()
        dscores[0, 0] = bad
        return dscores

    trainer.loss.backward = poisoned  # type: ignore[method-assign]
    before = model.state_dict()
    with pytest.raises(DivergenceError, match="a gradient holds NaN or inf"):
        trainer.step(X, np.array([0, 1, 2, 1]))
    for key, value in model.state_dict().items():
        assert value.tobytes() == before[key].tobytes(), key
