"""CS231n's ``FullyConnectedNet`` as a configuration: any depth, norm, activation, dropout."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from numpy.typing import DTypeLike

from minigrad.activations import GELU, LeakyReLU, Sigmoid, Tanh
from minigrad.affine import Affine
from minigrad.batch_norm import BatchNorm1d
from minigrad.dropout import Dropout
from minigrad.initializers import Initializer, he_normal
from minigrad.layer import Layer
from minigrad.layer_norm import LayerNorm
from minigrad.relu import ReLU
from minigrad.sequential import Sequential
from minigrad.validation import check_choice, check_positive_int, check_real, describe

__all__ = ["ACTIVATIONS", "NORMALIZATIONS", "fully_connected_net"]

ACTIVATIONS: dict[str, Callable[[], Layer]] = {
    "relu": ReLU,
    "leaky_relu": LeakyReLU,
    "tanh": Tanh,
    "sigmoid": Sigmoid,
    "gelu": GELU,
    "gelu_tanh": lambda: GELU(approximate="tanh"),
}
"""The activations by name (what ``activation=`` and the CLI accept), each with its defaults."""

NORMALIZATIONS: dict[str, Callable[[int, np.dtype], Layer]] = {
    "batchnorm": lambda width, dtype: BatchNorm1d(width, dtype=dtype),
    "layernorm": lambda width, dtype: LayerNorm(width, dtype=dtype),
}
"""The normalisation layers by name, built as ``NORMALIZATIONS[name](width, dtype)``."""


def fully_connected_net(
    input_size: int,
    hidden_dims: Sequence[int],
    num_classes: int,
    normalization: str | None = None,
    dropout: float = 0.0,
    activation: str = "relu",
    weight_init: Initializer | None = None,
    dtype: DTypeLike = np.float64,
    rng: np.random.Generator | None = None,
) -> Sequential:
    """A fully connected net in CS231n's ``FullyConnectedNet`` block order.

    Each hidden layer is ``Affine -> [norm] -> activation -> [Dropout]``, and a final
    ``Affine`` gives the class scores::

        fully_connected_net(3072, [512, 256], 10, normalization="batchnorm", dropout=0.1)
        # Affine(3072, 512) BatchNorm1d(512) ReLU Dropout(0.1)
        # Affine(512, 256)  BatchNorm1d(256) ReLU Dropout(0.1)
        # Affine(256, 10)

    Parameters
    ----------
    input_size, num_classes : D and C.
    hidden_dims : the hidden widths, in order; empty gives a linear classifier.
    normalization : None, ``"batchnorm"`` (:class:`~minigrad.batch_norm.BatchNorm1d`) or
        ``"layernorm"`` (:class:`~minigrad.layer_norm.LayerNorm`), after each hidden Affine.
    dropout : the probability of *dropping* a unit (PyTorch's convention; CS231n's
        ``dropout_keep_ratio`` is ``1 - dropout``), in [0, 1); 0 adds no Dropout layers.
    activation : a name in :data:`ACTIVATIONS` (``"relu"``, ``"leaky_relu"``, ``"tanh"``,
        ``"sigmoid"``, ``"gelu"``, ``"gelu_tanh"``).
    weight_init : the initialiser of every Affine's ``W``; by default
        ``he_normal(rng)``, ``sqrt(2 / fan_in) * randn`` (CS231n's default is
        ``normal(1e-2)``, ``weight_scale * randn``: pass that for its numbers). Biases are 0,
        ``gamma`` 1, ``beta`` 0.
    dtype : float dtype of every parameter and buffer.
    rng : the generator for the default initialiser and, through ``rng.spawn``, one
        independent generator per Dropout layer, so a seed fixes the whole net. With None,
        the default initialiser draws from NumPy's global legacy generator (like the
        workbook's) and each Dropout seeds itself from the operating system.

    Returns
    -------
    Sequential, in train mode.
    """
    input_size = check_positive_int(input_size, "input_size")
    num_classes = check_positive_int(num_classes, "num_classes")
    if isinstance(hidden_dims, (str, bytes)) or not isinstance(hidden_dims, Sequence):
        raise TypeError(f"hidden_dims must be a sequence of ints, got {describe(hidden_dims)}")
    widths = [check_positive_int(width, f"hidden_dims[{i}]") for i, width in enumerate(hidden_dims)]
    if normalization is not None:
        check_choice(normalization, "normalization", NORMALIZATIONS)
    dropout = check_real(dropout, "dropout", low=0.0, high=1.0, high_open=True)
    check_choice(activation, "activation", ACTIVATIONS)
    if rng is not None and not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a np.random.Generator or None, got {type(rng).__name__}")
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        raise TypeError(f"dtype must be a floating-point type, got {dtype}")
    init = he_normal(rng) if weight_init is None else weight_init

    layers: list[Layer] = []
    fan_in = input_size
    for width in widths:
        layers.append(Affine(fan_in, width, init, dtype))
        if normalization is not None:
            layers.append(NORMALIZATIONS[normalization](width, dtype))
        layers.append(ACTIVATIONS[activation]())
        if dropout > 0:
            layers.append(Dropout(dropout, rng=None if rng is None else rng.spawn(1)[0]))
        fan_in = width
    layers.append(Affine(fan_in, num_classes, init, dtype))
    return Sequential(*layers)
