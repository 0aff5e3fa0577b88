"""minigrad: a small, readable, gradient-checked neural-network framework in NumPy.

The core a student reads sits at the top of this package (layers, ``Sequential``, the loss,
L2, initialisers, gradient checks); ``minigrad.training`` runs it, ``minigrad.optim``
updates it and ``minigrad.models`` configures it. ``minigrad.experiment``, ``minigrad.tune``
and ``minigrad.cli`` are the CIFAR-10 application built on top.
"""

from pathlib import Path as _Path

from minigrad.checkout import install_checkout_finder as _install_checkout_finder

_install_checkout_finder(_Path(__file__).resolve().parent)

from minigrad.activations import GELU, LeakyReLU, Sigmoid, Tanh  # noqa: E402 (after the finder)
from minigrad.affine import Affine  # noqa: E402 (after the finder, which models/ needs)
from minigrad.batch_norm import BatchNorm1d  # noqa: E402
from minigrad.dropout import Dropout  # noqa: E402
from minigrad.evaluation import accuracy, predict_labels  # noqa: E402
from minigrad.gradcheck import (  # noqa: E402
    GradientMismatch,
    assert_gradients_close,
    check_directional_derivative,
    check_layer_gradients,
    check_loss_gradients,
    check_model_gradients,
    eval_numerical_gradient,
    eval_numerical_gradient_array,
    fixed_masks,
    rel_error,
)
from minigrad.hinge_loss import MulticlassHingeLoss, multiclass_hinge_loss  # noqa: E402
from minigrad.initializers import he_normal, normal  # noqa: E402
from minigrad.layer import Layer  # noqa: E402
from minigrad.layer_norm import LayerNorm  # noqa: E402
from minigrad.loss import Loss  # noqa: E402
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
    "GELU",
    "Affine",
    "BatchNorm1d",
    "Callback",
    "CheckpointError",
    "DivergenceError",
    "Dropout",
    "EarlyStopping",
    "GradientMismatch",
    "History",
    "KeepBest",
    "Layer",
    "LayerNorm",
    "LeakyReLU",
    "Loss",
    "MulticlassHingeLoss",
    "PeriodicCheckpoint",
    "PrintLoss",
    "ReLU",
    "Sequential",
    "Sigmoid",
    "SoftmaxCrossEntropy",
    "Tanh",
    "TimeToAccuracy",
    "Trainer",
    "__version__",
    "accuracy",
    "add_l2_gradients",
    "assert_gradients_close",
    "check_directional_derivative",
    "check_layer_gradients",
    "check_loss_gradients",
    "check_model_gradients",
    "eval_numerical_gradient",
    "eval_numerical_gradient_array",
    "fixed_masks",
    "he_normal",
    "l2_penalty",
    "load_checkpoint",
    "multiclass_hinge_loss",
    "normal",
    "predict_labels",
    "rel_error",
    "save_checkpoint",
    "softmax_cross_entropy",
]
