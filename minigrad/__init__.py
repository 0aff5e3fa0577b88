"""minigrad: a small, readable, gradient-checked neural-network framework in NumPy.

The core a student reads sits at the top of this package (layers, ``Sequential``, the loss,
L2, initialisers, gradient checks); ``minigrad.training`` runs it, ``minigrad.optim``
updates it and ``minigrad.models`` configures it. ``minigrad.experiment``, ``minigrad.tune``
and ``minigrad.cli`` are the CIFAR-10 application built on top.
"""

from pathlib import Path as _Path

from minigrad.checkout import install_checkout_finder as _install_checkout_finder

_install_checkout_finder(_Path(__file__).resolve().parent)

from minigrad.affine import Affine  # noqa: E402 (after the finder, which models/ needs)
from minigrad.evaluation import accuracy, predict_labels  # noqa: E402
from minigrad.gradcheck import (  # noqa: E402
    GradientMismatch,
    assert_gradients_close,
    check_directional_derivative,
    check_layer_gradients,
    check_model_gradients,
    eval_numerical_gradient,
    eval_numerical_gradient_array,
    rel_error,
)
from minigrad.initializers import he_normal, normal  # noqa: E402
from minigrad.layer import Layer  # noqa: E402
from minigrad.regularization import add_l2_gradients, l2_penalty  # noqa: E402
from minigrad.relu import ReLU  # noqa: E402
from minigrad.sequential import Sequential  # noqa: E402
from minigrad.softmax_cross_entropy import (  # noqa: E402
    SoftmaxCrossEntropy,
    softmax_cross_entropy,
)
from minigrad.training import (  # noqa: E402
    Callback,
    CheckpointError,
    DivergenceError,
    EarlyStopping,
    History,
    KeepBest,
    PeriodicCheckpoint,
    PrintLoss,
    TimeToAccuracy,
    Trainer,
    load_checkpoint,
    save_checkpoint,
)
from minigrad.version import __version__  # noqa: E402

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
    "__version__",
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
