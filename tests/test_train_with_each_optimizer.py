"""Every optimiser trains the same model, chosen by name alone; bad settings are named."""

from __future__ import annotations

import numpy as np
import pytest

from minigrad import Trainer, accuracy
from minigrad.data import make_spiral
from minigrad.initializers import normal
from minigrad.models import two_layer_net
from minigrad.optim import OPTIMIZERS, ExponentialDecay, make_optimizer
from minigrad.sequential import Sequential

X, Y = make_spiral(80, 3, rng=np.random.default_rng(0))
# A learning rate in each optimiser's own working range (the adaptive ones normalise).
LEARNING_RATES = {
    "sgd": 1.0, "momentum": 0.1, "nesterov": 0.1, "rmsprop": 0.01, "adam": 0.01, "adagrad": 0.1,
}


def _model() -> Sequential:
    return two_layer_net(2, 32, 3, weight_init=normal(0.5, np.random.default_rng(0)))


def _train(name: str) -> tuple[list[float], float]:
    """The same model, data, loop and seed for every optimiser: only the name differs."""
    model = _model()
    optimizer = make_optimizer(name, learning_rate=ExponentialDecay(LEARNING_RATES[name], 0.98))
    trainer = Trainer(model, optimizer, reg=1e-4, batch_size=48, rng=np.random.default_rng(1))
    history = trainer.fit(X, Y, num_iters=400)
    return history.loss, accuracy(model.forward, X, Y)


def test_every_registered_optimizer_is_covered() -> None:
    assert set(LEARNING_RATES) == set(OPTIMIZERS)


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_each_optimizer_reduces_the_loss(name: str) -> None:
    losses, train_acc = _train(name)
    assert np.mean(losses[-20:]) < 0.6 * np.mean(losses[:20])
    assert train_acc > 0.6  # chance is 1/3 on three spiral arms


def test_optimizers_take_different_paths() -> None:
    paths = {name: tuple(_train(name)[0][:50]) for name in ("sgd", "momentum", "adam")}
    assert len(set(paths.values())) == 3


def test_unknown_optimizer_name_lists_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown optimizer 'adamw'; choose one of adagrad"):
        make_optimizer("adamw")


@pytest.mark.parametrize("bad", [-1e-3, float("nan"), float("inf")])
def test_bad_learning_rate_is_named(bad: float) -> None:
    with pytest.raises(ValueError, match="learning_rate must be a finite number >= 0"):
        make_optimizer("adam", learning_rate=bad)


@pytest.mark.parametrize("bad", [-0.1, float("nan"), float("inf")])
def test_bad_reg_is_named(bad: float) -> None:
    with pytest.raises(ValueError, match="reg must be a finite number >= 0"):
        Trainer(_model(), make_optimizer("sgd"), reg=bad,
                rng=np.random.default_rng(0))


def test_bad_sampling_is_named_when_the_trainer_is_built() -> None:
    with pytest.raises(ValueError, match="unknown sampling 'random'"):
        Trainer(_model(), make_optimizer("sgd"), sampling="random",
                rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="needs an explicit np.random.Generator"):
        Trainer(_model(), make_optimizer("sgd"), sampling="shuffle", rng=None)


def test_num_epochs_runs_whole_epochs() -> None:
    trainer = Trainer(_model(), make_optimizer("sgd"), batch_size=50,
                      rng=np.random.default_rng(0))
    history = trainer.fit(X, Y, X, Y, num_epochs=3)
    assert trainer.iteration == 3 * (240 // 50)
    assert len(history.epoch_iterations) == 3
    assert trainer.optimizer.epoch == 3
    with pytest.raises(ValueError, match="not both"):
        trainer.fit(X, Y, num_iters=5, num_epochs=1)
    with pytest.raises(ValueError, match="num_epochs must be a positive integer"):
        trainer.fit(X, Y, num_epochs=0)


def test_continuing_on_another_training_set_is_refused() -> None:
    trainer = Trainer(_model(), make_optimizer("sgd"), batch_size=50,
                      rng=np.random.default_rng(0))
    trainer.fit(X, Y, num_iters=2)
    with pytest.raises(ValueError, match="built for 240 training rows but X has 100"):
        trainer.fit(X[:100], Y[:100], num_iters=2)
