"""Resuming from a checkpoint is bit-for-bit the same as never stopping.

Train k iterations, save, build a fresh model + optimiser + trainer, load, continue to n:
parameters, optimiser state and history must equal (``np.array_equal``) those of one
uninterrupted n-iteration run, for each optimiser, both samplers (and the workbook's
global generator), split points inside an epoch and at epoch boundaries (where the
schedule decays and the shuffled sampler reshuffles).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from minigrad import Callback, Trainer
from minigrad.data import make_spiral
from minigrad.initializers import normal
from minigrad.models import two_layer_net
from minigrad.optim import ExponentialDecay, make_optimizer
from minigrad.training.checkpoint import PeriodicCheckpoint, load_checkpoint, save_checkpoint
from minigrad.training.early_stopping import EarlyStopping
from minigrad.training.keep_best import KeepBest

TOTAL = 23  # iterations of the full run; batch 30 of 180 rows: 6 iterations per epoch
BATCH = 30
LEARNING_RATES = {
    "sgd": 0.5, "momentum": 0.1, "nesterov": 0.1, "rmsprop": 0.01, "adam": 0.01, "adagrad": 0.1,
}


def _data(dtype: type = np.float64) -> tuple[np.ndarray, ...]:
    X, y = make_spiral(60, 3, rng=np.random.default_rng(0), dtype=dtype)
    X_val, y_val = make_spiral(20, 3, rng=np.random.default_rng(1), dtype=dtype)
    return X, y, X_val, y_val


def _trainer(optimizer: str, sampling: str, generator: bool, dtype: type) -> Trainer:
    # The initial weights differ from the saved ones on purpose: loading must overwrite them.
    model = two_layer_net(2, 16, 3, weight_init=normal(0.5, np.random.default_rng(7)), dtype=dtype)
    schedule = ExponentialDecay(LEARNING_RATES[optimizer], 0.7)
    return Trainer(
        model,
        make_optimizer(optimizer, learning_rate=schedule),
        reg=1e-3,
        batch_size=BATCH,
        sampling=sampling,
        rng=np.random.default_rng(11) if generator else None,
        callbacks=[EarlyStopping(patience=1000)],
    )


def _assert_same_run(expected: Trainer, actual: Trainer) -> None:
    for name, value in expected.model.params.items():
        assert np.array_equal(value, actual.model.params[name]), name
    assert actual.history == expected.history
    assert actual.iteration == expected.iteration == TOTAL
    want, got = expected.optimizer.state_dict(), actual.optimizer.state_dict()
    assert (got["epoch"], got["step_count"]) == (want["epoch"], want["step_count"])
    for key, slots in want["state"].items():
        for slot, value in slots.items():
            assert np.array_equal(value, got["state"][key][slot]), (key, slot)
    assert actual.callbacks[0].state_dict() == expected.callbacks[0].state_dict()


CASES = [
    # (optimizer, sampling, explicit generator)
    *[(name, "shuffle", True) for name in ("momentum", "adam")],
    *[(name, "replacement", True) for name in ("momentum", "adam")],
    *[(name, "replacement", False) for name in ("momentum", "adam")],  # the workbook's
    *[(name, "shuffle", True) for name in ("sgd", "nesterov", "rmsprop", "adagrad")],
]


@pytest.mark.parametrize(("optimizer", "sampling", "generator"), CASES)
@pytest.mark.parametrize("split_at", [4, 6, 12, 17])
def test_resume_is_bit_for_bit(
    tmp_path: Path, optimizer: str, sampling: str, generator: bool, split_at: int
) -> None:
    X, y, X_val, y_val = _data()
    np.random.seed(5)  # the workbook's sampler draws from the global generator
    uninterrupted = _trainer(optimizer, sampling, generator, np.float64)
    uninterrupted.fit(X, y, X_val, y_val, num_iters=TOTAL)
    # The run crossed epoch boundaries, so the schedule decayed mid-run.
    assert uninterrupted.optimizer.epoch >= 3

    np.random.seed(5)
    first = _trainer(optimizer, sampling, generator, np.float64)
    first.fit(X, y, X_val, y_val, num_iters=split_at)
    save_checkpoint(tmp_path / "ckpt", first)

    np.random.seed(1234)  # a fresh process would have another global state
    resumed = _trainer(optimizer, sampling, generator, np.float64)
    load_checkpoint(tmp_path / "ckpt", resumed)
    resumed.fit(X, y, X_val, y_val, num_iters=TOTAL - split_at)
    _assert_same_run(uninterrupted, resumed)


def test_resume_is_bit_for_bit_in_float32(tmp_path: Path) -> None:
    X, y, X_val, y_val = _data(np.float32)
    uninterrupted = _trainer("adam", "shuffle", True, np.float32)
    uninterrupted.fit(X, y, X_val, y_val, num_iters=TOTAL)
    first = _trainer("adam", "shuffle", True, np.float32)
    first.fit(X, y, X_val, y_val, num_iters=9)
    save_checkpoint(tmp_path / "ckpt", first)
    resumed = _trainer("adam", "shuffle", True, np.float32)
    load_checkpoint(tmp_path / "ckpt", resumed)
    resumed.fit(X, y, X_val, y_val, num_iters=TOTAL - 9)
    assert resumed.model.params["0.W"].dtype == np.float32
    _assert_same_run(uninterrupted, resumed)


def test_resume_from_a_periodic_checkpoint_of_a_killed_run(tmp_path: Path) -> None:
    X, y, X_val, y_val = _data()
    uninterrupted = _trainer("momentum", "shuffle", True, np.float64)
    uninterrupted.fit(X, y, X_val, y_val, num_iters=TOTAL)

    class Kill(Exception):
        pass

    class KillAt(Callback):
        def on_iteration_end(self, trainer: Trainer, iteration: int, loss: float) -> None:
            if iteration == 15:
                raise Kill

    killed = _trainer("momentum", "shuffle", True, np.float64)
    killed.callbacks += [PeriodicCheckpoint(tmp_path / "ckpt", every=5), KillAt()]
    with pytest.raises(Kill):
        killed.fit(X, y, X_val, y_val, num_iters=TOTAL)
    resumed = _trainer("momentum", "shuffle", True, np.float64)
    load_checkpoint(tmp_path / "ckpt", resumed)
    assert resumed.iteration == 15  # the last save: after iteration 14
    resumed.fit(X, y, X_val, y_val, num_iters=TOTAL - 15)
    _assert_same_run(uninterrupted, resumed)


def test_resumed_early_stopping_stops_where_the_uninterrupted_run_does(tmp_path: Path) -> None:
    X, y, X_val, y_val = _data()

    def trainer() -> Trainer:
        model = two_layer_net(2, 8, 3, weight_init=normal(0.5, np.random.default_rng(7)))
        # A zero learning rate never improves: patience runs out after 1 + 3 epochs.
        return Trainer(model, make_optimizer("sgd", learning_rate=0.0), batch_size=BATCH,
                       rng=np.random.default_rng(0), callbacks=[EarlyStopping(patience=3)])

    uninterrupted = trainer()
    uninterrupted.fit(X, y, X_val, y_val, num_iters=100)
    first = trainer()
    first.fit(X, y, X_val, y_val, num_iters=13)  # two epochs seen, wait = 1
    save_checkpoint(tmp_path / "ckpt", first)
    resumed = trainer()
    load_checkpoint(tmp_path / "ckpt", resumed)
    resumed.fit(X, y, X_val, y_val, num_iters=100 - 13)
    assert resumed.iteration == uninterrupted.iteration == 4 * 6
    assert resumed.callbacks[0].stopped_epoch == uninterrupted.callbacks[0].stopped_epoch == 3


@pytest.mark.parametrize("generator", [True, False])
def test_a_trainer_saved_before_its_first_iteration_resumes_exactly(
    tmp_path: Path, generator: bool
) -> None:
    X, y, X_val, y_val = _data()
    np.random.seed(5)
    uninterrupted = _trainer("adam", "replacement", generator, np.float64)
    uninterrupted.fit(X, y, X_val, y_val, num_iters=TOTAL)
    np.random.seed(5)
    save_checkpoint(tmp_path / "ckpt", _trainer("adam", "replacement", generator, np.float64))
    np.random.seed(77)  # the global generator moved on: loading must rewind it
    resumed = _trainer("adam", "replacement", generator, np.float64)
    if resumed.rng is not None:
        resumed.rng.random(4)  # so did the trainer's own generator
    load_checkpoint(tmp_path / "ckpt", resumed)
    resumed.fit(X, y, X_val, y_val, num_iters=TOTAL)
    _assert_same_run(uninterrupted, resumed)


def test_best_parameters_survive_a_checkpoint(tmp_path: Path) -> None:
    X, y, X_val, y_val = _data()

    def trainer() -> Trainer:
        model = two_layer_net(2, 16, 3, weight_init=normal(0.5, np.random.default_rng(7)))
        return Trainer(model, make_optimizer("sgd", learning_rate=ExponentialDecay(3.0, 0.99)),
                       batch_size=BATCH, rng=np.random.default_rng(0), callbacks=[KeepBest()])

    uninterrupted = trainer()
    uninterrupted.fit(X, y, X_val, y_val, num_iters=60)

    class KillAt(Callback):
        def on_iteration_end(self, trainer: Trainer, iteration: int, loss: float) -> None:
            if iteration == 40:
                raise KeyboardInterrupt

    killed = trainer()
    killed.callbacks += [PeriodicCheckpoint(tmp_path / "ckpt", every=20), KillAt()]
    with pytest.raises(KeyboardInterrupt):
        killed.fit(X, y, X_val, y_val, num_iters=60)
    resumed = trainer()
    load_checkpoint(tmp_path / "ckpt", resumed)
    resumed_keeper, uninterrupted_keeper = resumed.callbacks[0], uninterrupted.callbacks[0]
    assert isinstance(resumed_keeper, KeepBest) and isinstance(uninterrupted_keeper, KeepBest)
    assert resumed_keeper.has_best
    resumed.fit(X, y, X_val, y_val, num_iters=60 - resumed.iteration)
    assert resumed_keeper.best_epoch == uninterrupted_keeper.best_epoch
    assert uninterrupted_keeper.best_state is not None and resumed_keeper.best_state is not None
    for name, value in uninterrupted_keeper.best_state.items():
        assert np.array_equal(value, resumed_keeper.best_state[name]), name
    for name, value in uninterrupted.model.params.items():  # and on the same live weights
        assert np.array_equal(value, resumed.model.params[name]), name


@pytest.mark.parametrize(
    ("entry", "value", "message"),
    [
        ("callbacks", [1], "'callbacks' must be a mapping"),
        ("rng", "x", "both a sampler state and an 'rng' state"),
        ("sampler", None, "at iteration 3 but has no sampler state"),
    ],
)
def test_a_malformed_trainer_state_is_named_and_changes_nothing(
    entry: str, value: object, message: str
) -> None:
    X, y, _, _ = _data()
    trainer = Trainer(two_layer_net(2, 4, 3), make_optimizer("sgd"), batch_size=BATCH,
                      rng=np.random.default_rng(0))
    trainer.fit(X, y, num_iters=3)
    state = trainer.state_dict()
    with pytest.raises(ValueError, match=message):
        trainer.load_state_dict({**state, entry: value})
    assert trainer.iteration == 3
