"""Checks on user input that fail early with a message naming the argument and the value.

Every argument check in minigrad goes through these functions, so the rules and the wording
are the same everywhere: integers are Python or NumPy integers (never ``bool``), reals are
Python or NumPy reals (never ``bool``) and finite, and the message names the argument and
shows the value (shortened, so a huge or deeply nested value cannot flood or break it).
Wrong kinds raise ``TypeError``, values out of range ``ValueError``.
"""

from __future__ import annotations

import math
import numbers
import reprlib
from collections.abc import Iterable

import numpy as np

__all__ = [
    "check_bool",
    "check_choice",
    "check_features",
    "check_float_input",
    "check_int",
    "check_labels",
    "check_layer_input",
    "check_positive_int",
    "check_real",
    "check_scores",
    "count_non_finite",
    "describe",
]

class _ShortRepr(reprlib.Repr):
    """``reprlib.Repr`` that also shortens bytes before building their ``repr``."""

    def repr_bytes(self, value: bytes, level: int) -> str:
        head = repr(value[: self.maxstring])
        return head if len(value) <= self.maxstring else f"{head}... ({len(value)} bytes)"

    repr_bytearray = repr_bytes


_SHORT = _ShortRepr()
_SHORT.maxstring = 60
_SHORT.maxother = 60
_SHORT.maxlevel = 3


def describe(value: object) -> str:
    """A short, always-safe ``repr`` of ``value`` for error messages (at most ~80 chars).

    ``repr`` itself can fail (an int of more than 4300 digits) or recurse without bound (a
    deeply nested list); this never raises.
    """
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 200:
        return f"<an integer of {value.bit_length()} bits>"
    try:
        text = _SHORT.repr(value)
    except Exception:  # a hostile __repr__, or one too deep
        text = f"<{type(value).__name__}>"
    return text if len(text) <= 80 else text[:77] + "..."


def check_int(value: object, name: str, *, low: int | None = None, high: int | None = None) -> int:
    """``value`` as an ``int`` in ``[low, high]`` (either bound optional).

    Raises
    ------
    TypeError
        ``value`` is not an integer (``bool`` is refused, NumPy integers are accepted).
    ValueError
        ``value`` is outside the bounds.
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        kind = type(value).__name__
        raise TypeError(f"{name} must be an integer, got {kind} {describe(value)}")
    number = int(value)
    if low is not None and number < low:
        raise ValueError(f"{name} must be >= {low}, got {describe(number)}")
    if high is not None and number > high:
        raise ValueError(f"{name} must be <= {high}, got {describe(number)}")
    return number


def check_positive_int(value: object, name: str) -> int:
    """``value`` as an ``int`` > 0 (``TypeError`` / ``ValueError`` naming ``name``)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        kind = type(value).__name__
        raise TypeError(f"{name} must be an integer, got {kind} {describe(value)}")
    if value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {describe(value)}")
    return int(value)


def check_real(
    value: object,
    name: str,
    *,
    low: float = -math.inf,
    high: float = math.inf,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """``value`` as a finite ``float`` in the interval from ``low`` to ``high``.

    Parameters
    ----------
    value : the candidate: a Python or NumPy real (``bool`` is refused).
    name : how the message calls it.
    low, high : the bounds (infinite by default).
    low_open, high_open : exclude the bound itself (``(low, ...`` rather than ``[low, ...``).

    Raises
    ------
    TypeError
        ``value`` is not a real number.
    ValueError
        ``value`` is NaN, infinite, or outside the interval.
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        kind = type(value).__name__
        raise TypeError(f"{name} must be a real number, got {kind} {describe(value)}")
    try:
        number = float(value)
    except OverflowError:  # an integer too large for a float: outside every finite range
        number = math.inf
    above = number > low if low_open else number >= low
    below = number < high if high_open else number <= high
    if not (math.isfinite(number) and above and below):
        raise ValueError(
            f"{name} must be a finite number {_interval(low, high, low_open, high_open)}, "
            f"got {describe(value)}"
        )
    return number


def _interval(low: float, high: float, low_open: bool, high_open: bool) -> str:
    parts = []
    if low > -math.inf:
        parts.append(f"{'>' if low_open else '>='} {low:g}")
    if high < math.inf:
        parts.append(f"{'<' if high_open else '<='} {high:g}")
    return " and ".join(parts) if parts else "(not NaN or inf)"


def check_choice(value: object, name: str, choices: Iterable[str]) -> str:
    """``value`` if it is one of ``choices``, else ``ValueError`` listing them."""
    known = sorted(choices)
    if not isinstance(value, str) or value not in known:
        raise ValueError(f"unknown {name} {describe(value)}; choose one of {', '.join(known)}")
    return value


def check_bool(value: object, name: str) -> bool:
    """``value`` if it is a ``bool`` (or NumPy bool), else ``TypeError``."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {describe(value)}")
    return bool(value)


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


def check_scores(scores: object) -> np.ndarray:
    """``scores`` if it is a floating-point (N, C) array with N, C >= 1, else an error."""
    if not isinstance(scores, np.ndarray) or scores.dtype.kind != "f":
        kind = scores.dtype if isinstance(scores, np.ndarray) else type(scores).__name__
        raise TypeError(f"scores must be a floating-point ndarray, got {kind}")
    if scores.ndim != 2 or 0 in scores.shape:
        raise ValueError(f"scores must have shape (N, C) with N, C >= 1, got {scores.shape}")
    return scores


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
