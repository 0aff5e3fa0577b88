"""minigrad: a small, readable, gradient-checked neural-network framework in NumPy."""

from minigrad.affine import Affine
from minigrad.callbacks import Callback, PrintLoss, TimeToAccuracy
from minigrad.checkpoint import (
    CheckpointError,
    PeriodicCheckpoint,
    load_checkpoint,
    save_checkpoint,
)
from minigrad.early_stopping import EarlyStopping
from minigrad.evaluation import accuracy, predict_labels
from minigrad.gradcheck import (
    GradientMismatch,
    assert_gradients_close,
    check_directional_derivative,
    check_layer_gradients,
    check_model_gradients,
    eval_numerical_gradient,
    eval_numerical_gradient_array,
    rel_error,
)
from minigrad.history import History
from minigrad.initializers import he_normal, normal
from minigrad.keep_best import KeepBest
from minigrad.layer import Layer
from minigrad.regularization import add_l2_gradients, l2_penalty
from minigrad.relu import ReLU
from minigrad.sequential import Sequential
from minigrad.softmax_cross_entropy import SoftmaxCrossEntropy, softmax_cross_entropy
from minigrad.training import DivergenceError, Trainer

__version__ = "0.1.0"

__all__ = [
    "Affine",
    "Callback",
    "CheckpointError",
    "DivergenceError",
    "EarlyStopping",
    "GradientMismatch",
    "History",
    "KeepBest",
    "Layer",
    "PeriodicCheckpoint",
    "PrintLoss",
    "ReLU",
    "Sequential",
    "SoftmaxCrossEntropy",
    "TimeToAccuracy",
    "Trainer",
    "accuracy",
    "add_l2_gradients",
    "assert_gradients_close",
    "check_directional_derivative",
    "check_layer_gradients",
    "check_model_gradients",
    "eval_numerical_gradient",
    "eval_numerical_gradient_array",
    "he_normal",
    "l2_penalty",
    "load_checkpoint",
    "normal",
    "predict_labels",
    "rel_error",
    "save_checkpoint",
    "softmax_cross_entropy",
]
