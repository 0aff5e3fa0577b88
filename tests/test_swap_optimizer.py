"""Swapping the optimiser or the schedule touches no model code."""

from __future__ import annotations

import numpy as np

from minigrad import Trainer, accuracy
from minigrad.data import make_spiral
from minigrad.models import two_layer_net
from minigrad.optim import SGD, Constant, ExponentialDecay


def _train(optimizer: object) -> tuple[float, list[float]]:
    X, y = make_spiral(100, 3, rng=np.random.default_rng(0))
    np.random.seed(0)
    model = two_layer_net(2, 32, 3, std=0.5)
    trainer = Trainer(model, optimizer, reg=1e-4, batch_size=50, rng=np.random.default_rng(1))
    history = trainer.fit(X, y, X, y, num_iters=600)
    return accuracy(model.forward, X, y), history.loss


def test_same_model_trains_with_two_optimiser_objects() -> None:
    plain_acc, plain_loss = _train(SGD(learning_rate=Constant(0.5)))
    decayed_acc, decayed_loss = _train(SGD(learning_rate=ExponentialDecay(1.0, 0.97), momentum=0.9))
    # Both learn the spiral far above chance (1/3) ...
    assert plain_acc > 0.7 and decayed_acc > 0.7
    assert plain_loss[-1] < plain_loss[0] and decayed_loss[-1] < decayed_loss[0]
    # ... along different paths, so the optimiser really was swapped.
    assert plain_loss != decayed_loss
