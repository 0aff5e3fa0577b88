"""Update rules and learning-rate schedules; they know arrays, never models.

>>> import numpy as np
>>> from minigrad.optim import SGD, ExponentialDecay
>>> params = {"W": np.ones((2, 3))}
>>> opt = SGD(learning_rate=ExponentialDecay(0.1, 0.95), momentum=0.9)
>>> opt.step(params, {"W": np.ones((2, 3))})  # params["W"] updated in place
>>> opt.advance_epoch()  # at each epoch boundary
"""

from minigrad.optim.adaptive import Adagrad, Adam, AdaptiveOptimizer, RMSProp, adaptive_step
from minigrad.optim.optimizer import Optimizer, UpdateNotFiniteError
from minigrad.optim.registry import OPTIMIZERS, make_optimizer, optimizer_from_state_dict
from minigrad.optim.schedules import (
    SCHEDULES,
    Constant,
    Cosine,
    ExponentialDecay,
    Schedule,
    StepDecay,
    make_schedule,
    schedule_from_dict,
)
from minigrad.optim.sgd import SGD, momentum_step, sgd_step

__all__ = [
    "OPTIMIZERS",
    "SCHEDULES",
    "SGD",
    "Adagrad",
    "Adam",
    "AdaptiveOptimizer",
    "Constant",
    "Cosine",
    "ExponentialDecay",
    "Optimizer",
    "RMSProp",
    "Schedule",
    "StepDecay",
    "UpdateNotFiniteError",
    "adaptive_step",
    "make_optimizer",
    "make_schedule",
    "momentum_step",
    "optimizer_from_state_dict",
    "schedule_from_dict",
    "sgd_step",
]
