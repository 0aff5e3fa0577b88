"""Splitting a fit, and saving and resuming between the pieces, changes nothing.

Also for a net with batch norm (buffers) and dropout (its own generators), split mid-epoch.

One uninterrupted ``fit`` and the same iterations cut at random points, some of the cuts
going through a checkpoint on disk and a freshly built trainer, must end bit for bit in
the same place: parameters, optimiser state, curves and the best state kept so far.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minigrad import KeepBest, Sequential, Trainer
from minigrad.data import make_spiral
from minigrad.initializers import normal
from minigrad.models import fully_connected_net, two_layer_net
from minigrad.optim import OPTIMIZERS, make_optimizer
from minigrad.training.checkpoint import load_checkpoint, save_checkpoint

X, Y = make_spiral(40, 3, rng=np.random.default_rng(0))  # 120 rows
X_VAL, Y_VAL = make_spiral(15, 3, rng=np.random.default_rng(1))
TOTAL = 45
BATCH = 25  # 4 full batches per shuffled epoch: many epoch ends inside TOTAL
LEARNING_RATES = {"sgd": 0.5, "momentum": 0.2, "nesterov": 0.2, "rmsprop": 0.01,
                  "adam": 0.01, "adagrad": 0.1}


def _model(kind: str) -> Sequential:
    if kind == "batchnorm+dropout":  # buffers and a layer generator to resume too
        return fully_connected_net(
            2, [12, 8], 3, normalization="batchnorm", dropout=0.3,
            rng=np.random.default_rng(7),
        )
    return two_layer_net(2, 12, 3, weight_init=normal(0.5, np.random.default_rng(7)))


def _trainer(optimizer: str, sampling: str, keep_best: bool, kind: str) -> Trainer:
    model = _model(kind)
    callbacks = [KeepBest()] if keep_best else []
    return Trainer(
        model,
        make_optimizer(optimizer, learning_rate=LEARNING_RATES[optimizer]),
        reg=1e-3,
        batch_size=BATCH,
        sampling=sampling,
        rng=np.random.default_rng(3),
        callbacks=callbacks,
    )


def _assert_same(expected: Trainer, actual: Trainer) -> None:
    assert actual.iteration == expected.iteration == TOTAL
    for group in ("params", "buffers"):
        for name, value in getattr(expected.model, group).items():
            assert getattr(actual.model, group)[name].tobytes() == value.tobytes(), name
    assert actual.model.extra_state() == expected.model.extra_state()  # dropout generators
    assert actual.history == expected.history
    want, got = expected.optimizer.state_dict(), actual.optimizer.state_dict()
    assert (got["epoch"], got["step_count"]) == (want["epoch"], want["step_count"])
    for key, slots in want["state"].items():
        for slot, value in slots.items():
            assert got["state"][key][slot].tobytes() == value.tobytes(), (key, slot)
    if expected.callbacks:
        keeper, other = expected.callbacks[0], actual.callbacks[0]
        assert isinstance(keeper, KeepBest) and isinstance(other, KeepBest)
        assert other.tracker.state_dict() == keeper.tracker.state_dict()
        assert (keeper.best_state is None) == (other.best_state is None)
        for name, value in (keeper.best_state or {}).items():
            assert other.best_state is not None
            assert other.best_state[name].tobytes() == value.tobytes(), name


@pytest.mark.parametrize("kind", ["two-layer", "batchnorm+dropout"])
@settings(max_examples=20)
@given(
    optimizer=st.sampled_from(sorted(OPTIMIZERS)),
    sampling=st.sampled_from(["shuffle", "replacement"]),
    keep_best=st.booleans(),
    cuts=st.lists(st.integers(1, TOTAL - 1), max_size=4, unique=True).map(sorted),
    through_disk=st.lists(st.booleans(), min_size=4, max_size=4),
)
def test_a_fit_split_and_resumed_at_random_points_is_bit_identical(
    kind: str,
    optimizer: str,
    sampling: str,
    keep_best: bool,
    cuts: list[int],
    through_disk: list[bool],
) -> None:
    uninterrupted = _trainer(optimizer, sampling, keep_best, kind)
    uninterrupted.fit(X, Y, X_VAL, Y_VAL, num_iters=TOTAL)

    pieces = _trainer(optimizer, sampling, keep_best, kind)
    with tempfile.TemporaryDirectory() as folder:
        done = 0
        for i, cut in enumerate([*cuts, TOTAL]):
            pieces.fit(X, Y, X_VAL, Y_VAL, num_iters=cut - done)
            done = cut
            if cut < TOTAL and through_disk[i]:
                path = Path(folder) / f"ckpt{i}"
                save_checkpoint(path, pieces)
                pieces = _trainer(optimizer, sampling, keep_best, kind)  # a new process, as it were
                load_checkpoint(path, pieces)
    _assert_same(uninterrupted, pieces)
