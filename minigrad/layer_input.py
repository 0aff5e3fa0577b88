"""The checks a layer makes on its input before computing anything."""

from __future__ import annotations

import numpy as np

__all__ = ["check_float_input", "check_layer_input"]


def check_float_input(x: object, layer: str) -> np.ndarray:
    """``x`` if it is a floating-point ndarray, else ``TypeError`` naming ``layer``.

    Layers without parameters (activations, dropout) work in whatever float dtype they are
    given and keep it; an integer input would silently become float64.
    """
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{layer} expects a numpy array, got {type(x).__name__}")
    if x.dtype.kind != "f":
        raise TypeError(
            f"{layer} expects a floating-point input, got {x.dtype}; convert it once, "
            "e.g. x.astype(np.float32)"
        )
    return x


def check_layer_input(x: object, layer: str, num_features: int, dtype: np.dtype) -> np.ndarray:
    """``x`` if it is an (N, num_features) array of ``dtype`` with N >= 1.

    Raises
    ------
    TypeError
        ``x`` is not an ndarray, or its dtype is not the layer's parameters' (NumPy would
        silently compute in the wider of the two); the message names both dtypes.
    ValueError
        ``x`` does not have shape (N, num_features) with N >= 1.
    """
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{layer} expects a numpy array, got {type(x).__name__}")
    if x.ndim != 2 or x.shape[1] != num_features or x.shape[0] == 0:
        raise ValueError(
            f"{layer} expects input of shape (N, {num_features}) with N >= 1, got {x.shape}"
        )
    if x.dtype != dtype:
        raise TypeError(
            f"{layer} input is {x.dtype} but its parameters are {dtype}; convert the input "
            f"once, e.g. x.astype(np.{dtype})"
        )
    return x
