"""Checks on user input that fail early with a message naming the problem."""

from __future__ import annotations

import numpy as np

__all__ = ["check_features", "check_labels", "check_positive_int", "count_non_finite"]


def check_positive_int(value: object, name: str) -> int:
    """Return ``value`` as an int, or raise if it is not an integer > 0."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__} {value!r}")
    if value <= 0:
        raise ValueError(f"{name} must be positive, got {value}")
    return int(value)


def check_features(
    X: object, expected_width: int | None = None, name: str = "X", check_finite: bool = True
) -> np.ndarray:
    """Validate a batch of feature rows.

    Parameters
    ----------
    X : the candidate, expected to be an ndarray of shape (N, D) with N >= 1.
    expected_width : D the model expects, if known.
    name : how the error messages call it.
    check_finite : also reject NaN and inf (one pass over the data).

    Returns
    -------
    X itself (not copied).
    """
    if not isinstance(X, np.ndarray):
        raise TypeError(f"{name} must be a numpy array, got {type(X).__name__}")
    if X.dtype.kind not in "fiu":
        raise TypeError(f"{name} must hold real numbers, got dtype {X.dtype}")
    if X.ndim != 2:
        raise ValueError(f"{name} must be 2-D (N, D), got shape {X.shape}")
    if X.shape[0] == 0:
        raise ValueError(f"{name} is an empty batch (shape {X.shape})")
    if expected_width is not None and X.shape[1] != expected_width:
        raise ValueError(
            f"{name} has {X.shape[1]} features per row, but the model expects {expected_width}"
        )
    if check_finite and X.dtype.kind == "f":
        bad = count_non_finite(X)
        if bad:
            raise ValueError(f"{name} contains {bad} NaN or inf value(s)")
    return X


def count_non_finite(X: np.ndarray, chunk_elements: int = 1 << 18) -> int:
    """Number of NaN and inf values in ``X``, counted a block of rows at a time.

    Parameters
    ----------
    X : float ndarray of shape (N, ...), N >= 0
    chunk_elements : about how many values each block holds.

    Notes
    -----
    ``np.isfinite(X)`` whole would allocate a boolean array a quarter of a float32 ``X``
    (150 MB for CIFAR-10's training split) and take several times longer the first time;
    blocks of 256 k values keep the temporary in cache.
    """
    row_size = max(1, int(np.prod(X.shape[1:])))
    rows = max(1, chunk_elements // row_size)
    blocks = (X[start : start + rows] for start in range(0, len(X), rows))
    return sum(block.size - int(np.count_nonzero(np.isfinite(block))) for block in blocks)


def check_labels(
    y: object, num_samples: int, num_classes: int | None = None, name: str = "y"
) -> np.ndarray:
    """Validate integer class labels.

    Parameters
    ----------
    y : the candidate, expected to be an int ndarray of shape (num_samples,).
    num_samples : N of the matching feature array.
    num_classes : labels must lie in ``[0, num_classes)`` when given.

    Returns
    -------
    y itself (not copied).
    """
    if not isinstance(y, np.ndarray):
        raise TypeError(f"{name} must be a numpy array of integer labels, got {type(y).__name__}")
    if y.dtype.kind not in "iu":
        raise TypeError(f"{name} must hold integer class labels, got dtype {y.dtype}")
    if y.ndim != 1:
        raise ValueError(f"{name} must be 1-D (N,), got shape {y.shape}")
    if y.shape[0] != num_samples:
        raise ValueError(f"{name} has {y.shape[0]} labels but X has {num_samples} rows")
    if y.size and y.min() < 0:
        raise ValueError(f"{name} has a negative label ({y.min()})")
    if num_classes is not None and y.size and y.max() >= num_classes:
        raise ValueError(
            f"{name} has label {y.max()}, out of range for {num_classes} classes [0, {num_classes})"
        )
    return y
