"""After a Trainer step, ``model.grads`` hold d(loss)/d(param) at the pre-step parameters.

Acceptance test of issue 9: whichever of the six optimisers runs the update, the gradients
the step leaves in the model are those of data loss + L2 (``0.5 * reg * sum(W**2)``) at the
parameters the step started from, L2 included. The oracle is a central finite difference of
that loss, written out here, on a second model built the same way and loaded with the
pre-step parameters (the first one has moved on by then).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from minigrad import Trainer, eval_numerical_gradient
from minigrad.affine import Affine
from minigrad.gradcheck import assert_gradients_close
from minigrad.initializers import normal
from minigrad.optim import OPTIMIZERS, make_optimizer
from minigrad.relu import ReLU
from minigrad.sequential import Sequential
from minigrad.softmax_cross_entropy import softmax_cross_entropy
from minigrad.testing import kink_free_arrays, labels, min_abs_preactivation

SIX = ("sgd", "momentum", "nesterov", "rmsprop", "adam", "adagrad")
H = 1e-6  # finite-difference step; preactivations stay > KINK_MARGIN away from ReLU's kink
KINK_MARGIN = 1e-4
RTOL, ATOL = 1e-6, 1e-8  # ATOL only for entries near zero, where a relative error is noise


def build_net(widths: tuple[int, ...], seed: int) -> Sequential:
    """float64 ``Affine -> ReLU -> ... -> Affine`` with the layer sizes ``widths`` (D, ..., C).

    The same ``(widths, seed)`` always builds the same net, weights and non-zero biases.
    """
    rng = np.random.default_rng(seed)
    layers: list[Affine | ReLU] = []
    for i, (fan_in, fan_out) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
        if i:
            layers.append(ReLU())
        layer = Affine(fan_in, fan_out, normal(1.0 / np.sqrt(fan_in), rng))
        layer.params["b"][...] = 0.1 * rng.standard_normal(fan_out)
        layers.append(layer)
    return Sequential(*layers)


def total_loss(model: Sequential, X: np.ndarray, y: np.ndarray, reg: float) -> float:
    """Data loss + ``0.5 * reg * sum(W**2)`` over the weights (not the biases)."""
    data_loss, _ = softmax_cross_entropy(model.forward(X), y)
    weights = [p for name, p in model.params.items() if name.endswith("W")]
    return data_loss + 0.5 * reg * sum(float(np.sum(W**2)) for W in weights)


@st.composite
def problems(
    draw: st.DrawFn,
) -> tuple[tuple[int, ...], int, np.ndarray, np.ndarray, float]:
    """(layer widths D, H..., C; seed; X of shape (N, D); y of shape (N,); reg)."""
    hidden = draw(st.lists(st.integers(1, 6), min_size=0, max_size=2))
    widths = (draw(st.integers(1, 6)), *hidden, draw(st.integers(2, 4)))
    seed = draw(st.integers(0, 2**32 - 1))
    batch = draw(st.integers(1, 5))
    X = draw(kink_free_arrays((batch, widths[0])))
    y = draw(labels(batch, widths[-1]))
    reg = draw(st.one_of(st.just(0.0), st.floats(1e-3, 2.0)))
    return widths, seed, X, y, reg


def test_the_six_optimisers_are_the_registered_ones() -> None:
    assert set(SIX) == set(OPTIMIZERS)


@pytest.mark.parametrize("name", SIX)
@given(problem=problems())
def test_grads_after_a_step_are_the_loss_gradient_at_the_pre_step_parameters(
    name: str, problem: tuple[tuple[int, ...], int, np.ndarray, np.ndarray, float]
) -> None:
    widths, seed, X, y, reg = problem
    model = build_net(widths, seed)
    assume(min_abs_preactivation(model, X) > KINK_MARGIN)
    before = model.state_dict()  # copies

    trainer = Trainer(model, make_optimizer(name), reg=reg, rng=np.random.default_rng(0))
    loss = trainer.step(X, y)

    # The step did update the parameters, so "pre-step" is not the same as "now".
    assert any(not np.array_equal(before[k], p) for k, p in model.params.items())
    reference = build_net(widths, seed + 1)  # same architecture, other values ...
    reference.load_state_dict(before)  # ... then exactly the pre-step parameters
    assert loss == pytest.approx(total_loss(reference, X, y, reg), rel=1e-12, abs=1e-15)

    def loss_of(_: np.ndarray) -> float:  # reads the parameter eval_numerical_gradient moves
        return total_loss(reference, X, y, reg)

    grads = model.grads
    assert grads.keys() == before.keys()
    for key, param in reference.params.items():
        numeric = eval_numerical_gradient(loss_of, param, verbose=False, h=H)
        assert_gradients_close(grads[key], numeric, f"{name}: {key}", RTOL, ATOL)
