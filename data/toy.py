"""Small synthetic data sets for quick demos and tests."""

from __future__ import annotations

import numpy as np

from minigrad.validation import check_positive_int

__all__ = ["init_toy_data", "make_spiral"]


def init_toy_data(
    num_inputs: int = 5, input_size: int = 4
) -> tuple[np.ndarray, np.ndarray]:
    """The workbook's toy data, drawn from NumPy's global legacy generator.

    Seeds the global generator with 1, exactly as the workbook's cell does, so the
    workbook's printed numbers can be reproduced.

    Returns
    -------
    X : ndarray of shape (num_inputs, input_size), float64
    y : ndarray of shape (5,), int64
        The workbook's labels ``[0, 1, 2, 2, 1]``.
    """
    # The workbook's own draws, from the global legacy generator it seeds.
    np.random.seed(1)  # noqa: NPY002
    X = 10 * np.random.randn(num_inputs, input_size)  # noqa: NPY002
    y = np.array([0, 1, 2, 2, 1])
    return X, y


def make_spiral(
    num_per_class: int = 100,
    num_classes: int = 3,
    noise: float = 0.2,
    rng: np.random.Generator | None = None,
    dtype: np.typing.DTypeLike = np.float64,
) -> tuple[np.ndarray, np.ndarray]:
    """Interleaved 2-D spirals, one arm per class: not linearly separable.

    Parameters
    ----------
    num_per_class : points in each arm.
    num_classes : number of arms (classes).
    noise : standard deviation of the angular jitter, in radians.
    rng : the generator to draw from; a fresh ``default_rng(0)`` when omitted.
    dtype : float dtype of ``X``.

    Returns
    -------
    X : ndarray of shape (num_per_class * num_classes, 2)
    y : ndarray of shape (num_per_class * num_classes,), int64, in ``[0, num_classes)``
    """
    num_per_class = check_positive_int(num_per_class, "num_per_class")
    num_classes = check_positive_int(num_classes, "num_classes")
    rng = np.random.default_rng(0) if rng is None else rng
    radius = np.linspace(0.0, 1.0, num_per_class)
    X = np.empty((num_per_class * num_classes, 2))
    y = np.empty(num_per_class * num_classes, dtype=np.int64)
    for k in range(num_classes):
        rows = slice(k * num_per_class, (k + 1) * num_per_class)
        theta = np.linspace(k * 4.0, (k + 1) * 4.0, num_per_class)
        theta = theta + noise * rng.standard_normal(num_per_class)
        X[rows, 0] = radius * np.sin(theta)
        X[rows, 1] = radius * np.cos(theta)
        y[rows] = k
    return X.astype(dtype, copy=False), y
