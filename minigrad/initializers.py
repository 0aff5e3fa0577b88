"""Weight initialisers: callables ``(shape, dtype) -> ndarray``.

An initialiser given no generator draws from NumPy's global legacy generator, which is
what the workbook seeds with ``np.random.seed``; give it a ``np.random.Generator`` for
code that should not depend on global state.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from minigrad.validation import check_real

__all__ = ["Initializer", "normal", "he_normal", "zeros"]

Initializer = Callable[[tuple[int, ...], np.dtype], np.ndarray]


def _standard_normal(shape: tuple[int, ...], rng: np.random.Generator | None) -> np.ndarray:
    if rng is None:
        return np.random.randn(*shape)  # noqa: NPY002 (the workbook's global draws)
    return rng.standard_normal(shape)


def normal(std: float = 1e-4, rng: np.random.Generator | None = None) -> Initializer:
    """``std * randn(*shape)``: the workbook's initialiser for ``W1`` and ``W2``."""
    std = check_real(std, "std", low=0.0)

    def init(shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        # Draw in float64 and cast once, so float32 nets see the same draws rounded.
        return (std * _standard_normal(shape, rng)).astype(dtype, copy=False)

    return init


def he_normal(rng: np.random.Generator | None = None) -> Initializer:
    """``sqrt(2 / fan_in) * randn``, suited to ReLU nets; ``fan_in`` is ``shape[-1]``."""

    def init(shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        std = math.sqrt(2.0 / shape[-1])
        return (std * _standard_normal(shape, rng)).astype(dtype, copy=False)

    return init


def zeros(shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """All zeros: the workbook's bias initialiser."""
    return np.zeros(shape, dtype=dtype)
