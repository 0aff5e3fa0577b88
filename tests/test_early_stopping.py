"""Early stopping on validation accuracy, and restoring the best parameters."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from minigrad import Trainer, accuracy
from minigrad.data import make_spiral
from minigrad.initializers import normal
from minigrad.models import two_layer_net
from minigrad.optim import ExponentialDecay, make_optimizer
from minigrad.training.best_validation import BestValidation, is_improvement
from minigrad.training.early_stopping import EarlyStopping
from minigrad.training.keep_best import KeepBest

X, Y = make_spiral(60, 3, rng=np.random.default_rng(0))
X_VAL, Y_VAL = make_spiral(20, 3, rng=np.random.default_rng(1))


def _model(hidden: int = 16) -> object:
    return two_layer_net(2, hidden, 3, weight_init=normal(0.5, np.random.default_rng(7)))


def test_improvement_bookkeeping() -> None:
    assert is_improvement(None, 0.3)
    assert is_improvement(0.3, 0.4)
    assert not is_improvement(0.4, 0.4)  # a tie is no progress
    assert not is_improvement(0.4, 0.3)
    assert not is_improvement(0.4, 0.45, min_delta=0.1)  # below min_delta
    tracker = BestValidation()
    assert [tracker.update(acc, epoch, 10 * epoch) for epoch, acc in
            enumerate([0.3, 0.4, 0.4, 0.2])] == [True, True, False, False]
    assert (tracker.best, tracker.epoch, tracker.iteration, tracker.epochs_since) == (0.4, 1, 10, 2)


def test_keep_best_and_early_stopping_share_one_tracker_rule() -> None:
    keeper, stopper = KeepBest(), EarlyStopping(patience=10)
    trainer = SimpleNamespace(stop_training=False, iteration=0, model=_model())
    for epoch, acc in enumerate([0.2, 0.5, 0.5, 0.4, 0.6, 0.1]):
        trainer.iteration = 7 * (epoch + 1)
        keeper.on_epoch_end(trainer, epoch, 0.0, acc)  # type: ignore[arg-type]
        stopper.on_epoch_end(trainer, epoch, 0.0, acc)  # type: ignore[arg-type]
    assert keeper.tracker.state_dict() == stopper.tracker.state_dict()
    assert (keeper.best_val_acc, keeper.best_epoch, keeper.best_iteration) == (0.6, 4, 35)


def _reference_stop(accuracies: list[float], patience: int) -> int | None:
    """The epoch at which a plain loop over the accuracies would stop."""
    best, best_epoch = -1.0, 0
    for epoch, acc in enumerate(accuracies):
        if acc > best:
            best, best_epoch = acc, epoch
        elif epoch - best_epoch >= patience:
            return epoch
    return None


@given(
    accuracies=st.lists(st.sampled_from([0.1, 0.2, 0.3, 0.4, 0.5]), min_size=1, max_size=30),
    patience=st.integers(1, 5),
)
def test_stops_when_patience_runs_out(accuracies: list[float], patience: int) -> None:
    stopper = EarlyStopping(patience)
    trainer = SimpleNamespace(stop_training=False, iteration=0)
    stopped_at = None
    for epoch, acc in enumerate(accuracies):
        stopper.on_epoch_end(trainer, epoch, 0.0, acc)  # type: ignore[arg-type]
        if trainer.stop_training:
            stopped_at = epoch
            break
    assert stopped_at == _reference_stop(accuracies, patience)
    assert stopper.stopped_epoch == (-1 if stopped_at is None else stopped_at)
    seen = accuracies[: (len(accuracies) if stopped_at is None else stopped_at + 1)]
    assert stopper.best == max(seen)
    assert stopper.tracker.epoch == seen.index(max(seen))


def test_the_trainer_stops_after_patience_epochs_without_progress() -> None:
    stopper = EarlyStopping(patience=2)
    # A zero learning rate never improves validation accuracy.
    trainer = Trainer(_model(), make_optimizer("sgd", learning_rate=0.0), batch_size=30,
                      rng=np.random.default_rng(0), callbacks=[stopper])
    history = trainer.fit(X, Y, X_VAL, Y_VAL, num_iters=1000)
    assert len(history.val_acc) == 3  # the first epoch sets the best, two more without
    assert stopper.stopped_epoch == 2
    assert trainer.iteration == history.epoch_iterations[-1] + 1 == 3 * 6
    assert len(history.loss) == trainer.iteration


def test_early_stopping_needs_validation_data() -> None:
    trainer = Trainer(_model(), make_optimizer("sgd"), batch_size=30,
                      rng=np.random.default_rng(0), callbacks=[EarlyStopping(2)])
    with pytest.raises(ValueError, match="pass X_val and y_val"):
        trainer.fit(X, Y, num_iters=10)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"patience": 0}, ValueError, "patience must be >= 1"),
        ({"patience": 2.5}, TypeError, "patience must be an integer"),
        ({"patience": 2, "min_delta": -0.1}, ValueError, "min_delta must be a finite number >= 0"),
        ({"patience": 2, "min_delta": float("nan")}, ValueError, "min_delta must be a finite"),
        ({"patience": True}, TypeError, "patience must be an integer"),
    ],
)
def test_bad_settings_are_named(kwargs: dict, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        EarlyStopping(**kwargs)


def test_state_dict_round_trips() -> None:
    stopper = EarlyStopping(3)
    trainer = SimpleNamespace(stop_training=False, iteration=0)
    for epoch, acc in enumerate([0.2, 0.5, 0.4]):
        stopper.on_epoch_end(trainer, epoch, 0.0, acc)  # type: ignore[arg-type]
    copy = EarlyStopping(3)
    copy.load_state_dict(stopper.state_dict())
    assert copy.state_dict() == stopper.state_dict()
    assert (copy.best, copy.wait, copy.stopped_epoch) == (0.5, 1, -1)
    with pytest.raises(ValueError, match="'tracker'"):
        copy.load_state_dict({"best": 0.1})


def test_keep_best_leaves_the_live_weights_and_restores_the_best_epoch() -> None:
    # A large, slowly decaying rate makes validation accuracy go up and down.
    keeper = KeepBest()
    trainer = Trainer(
        _model(), make_optimizer("sgd", learning_rate=ExponentialDecay(3.0, 0.99)),
        batch_size=30, rng=np.random.default_rng(0), callbacks=[keeper],
    )
    history = trainer.fit(X, Y, X_VAL, Y_VAL, num_iters=200)
    best = max(history.val_acc)
    assert history.val_acc[-1] < best  # so restoring matters
    assert keeper.best_state is not None and keeper.best_val_acc == best
    live = trainer.model.state_dict()
    assert not np.array_equal(live["0.W"], keeper.best_state["0.W"])  # fit left them live
    keeper.restore(trainer.model)
    for name, value in trainer.model.params.items():
        assert np.array_equal(value, keeper.best_state[name])
    assert accuracy(trainer.model.forward, X_VAL, Y_VAL) == best


def test_early_stopping_with_keep_best_returns_the_best_net() -> None:
    keeper = KeepBest()
    trainer = Trainer(
        _model(), make_optimizer("sgd", learning_rate=ExponentialDecay(3.0, 0.99)),
        batch_size=30, rng=np.random.default_rng(0),
        callbacks=[EarlyStopping(patience=3), keeper],
    )
    history = trainer.fit(X, Y, X_VAL, Y_VAL, num_iters=1000)
    assert trainer.iteration < 1000
    keeper.restore(trainer.model)
    assert accuracy(trainer.model.forward, X_VAL, Y_VAL) == max(history.val_acc)
