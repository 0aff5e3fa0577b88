"""The workbook's ``get_CIFAR10_data``: train/val/test split, mean-image subtraction, rows.

Same numbers as the workbook: validation = training images [num_training,
num_training + num_validation), train = the first num_training, test = the first
num_test; the mean image of the training split is subtracted from all three and each
image is flattened in height-width-channel order (``reshape(n, -1)``). Unlike the
workbook, the data is loaded as uint8 and converted once, straight into the requested
dtype, so float32 needs half the memory of float64 and no split is copied twice.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from minigrad.data.cifar10 import load_cifar10
from minigrad.validation import check_positive_int

__all__ = [
    "Cifar10Split",
    "check_split_sizes",
    "get_cifar10_data",
    "load_cifar10_split",
    "mean_image",
    "split_cifar10",
    "to_rows",
]

_FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


@dataclass(frozen=True)
class Cifar10Split:
    """The workbook's six arrays plus the mean image that was subtracted.

    Attributes
    ----------
    X_train : ndarray of shape (num_training, 3072)
    y_train : ndarray of shape (num_training,), int64
    X_val : ndarray of shape (num_validation, 3072)
    y_val : ndarray of shape (num_validation,), int64
    X_test : ndarray of shape (num_test, 3072)
    y_test : ndarray of shape (num_test,), int64
    mean_image : ndarray of shape (3072,), float64, in the same HWC order as the rows
        (``mean_image.reshape(32, 32, 3)`` is the workbook's ``mean_image``); ``None``
        when no mean was subtracted.
    """

    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    mean_image: np.ndarray | None

    def as_tuple(
        self,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``(X_train, y_train, X_val, y_val, X_test, y_test)``, the workbook's order."""
        return self.X_train, self.y_train, self.X_val, self.y_val, self.X_test, self.y_test


def check_split_sizes(
    num_training: int,
    num_validation: int,
    num_test: int,
    available_train: int = 50000,
    available_test: int = 10000,
) -> None:
    """Raise unless the three counts are positive integers that fit in the data.

    Validation images come from the training set, so ``num_training + num_validation``
    must not exceed ``available_train``; ``num_test`` must not exceed ``available_test``.

    Raises
    ------
    TypeError : a count is not an integer (``bool`` included).
    ValueError : a count is not positive, or the counts do not fit in the data.
    """
    num_training = check_positive_int(num_training, "num_training")
    num_validation = check_positive_int(num_validation, "num_validation")
    num_test = check_positive_int(num_test, "num_test")
    if num_training + num_validation > available_train:
        raise ValueError(
            f"num_training + num_validation = {num_training} + {num_validation} = "
            f"{num_training + num_validation} exceeds the {available_train} training images "
            "(the validation images are taken from the training set)"
        )
    if num_test > available_test:
        raise ValueError(f"num_test = {num_test} exceeds the {available_test} test images")


def mean_image(rows: np.ndarray) -> np.ndarray:
    """Per-feature mean of ``rows`` (n, D), accumulated in float64; shape (D,).

    ``np.mean`` with ``dtype=float64`` converts in small buffers, so a uint8 input is never
    copied to float64 whole. For uint8 data the sums are exact integers, so the result is
    bit-identical to the workbook's ``np.mean`` over a float64 copy.
    """
    return np.asarray(np.mean(rows, axis=0, dtype=np.float64))


def to_rows(images: np.ndarray, dtype: npt.DTypeLike, mean: np.ndarray | None = None) -> np.ndarray:
    """Flatten images to rows in a fresh array of ``dtype``, subtracting ``mean`` if given.

    Parameters
    ----------
    images : ndarray of shape (n, ...), e.g. (n, 32, 32, 3) uint8; flattened C-order (HWC).
    dtype : dtype of the result.
    mean : ndarray of shape (D,) with D = the values per image, or ``None``.

    Returns
    -------
    ndarray of shape (n, D) in ``dtype``; the subtraction is done in the precision of
    ``mean`` and rounded once into ``dtype``, without a full-size temporary.
    """
    out_dtype = np.dtype(dtype)
    if mean is not None and out_dtype.kind != "f":
        raise ValueError(f"a mean-subtracted result needs a float dtype, got {out_dtype}")
    flat = images.reshape(images.shape[0], -1)
    out = np.empty(flat.shape, dtype=out_dtype)
    if mean is None:
        np.copyto(out, flat)
    else:
        np.subtract(flat, mean, out=out)
    return out


def _result_dtype(dtype: npt.DTypeLike, subtract_mean: bool) -> np.dtype:
    resolved = np.dtype(dtype)
    allowed = _FLOAT_DTYPES if subtract_mean else (np.dtype(np.uint8), *_FLOAT_DTYPES)
    if resolved not in allowed:
        raise ValueError(
            f"dtype must be one of {', '.join(map(str, allowed))} "
            f"{'with' if subtract_mean else 'without'} mean subtraction, got {resolved}"
        )
    return resolved


def split_cifar10(
    X_train: np.ndarray,
    y_train: np.ndarray,
    X_test: np.ndarray,
    y_test: np.ndarray,
    num_training: int = 49000,
    num_validation: int = 1000,
    num_test: int = 1000,
    *,
    dtype: npt.DTypeLike = np.float64,
    subtract_mean: bool = True,
) -> Cifar10Split:
    """Split loaded CIFAR-10 arrays the workbook's way, centre them, and flatten them.

    Parameters
    ----------
    X_train : ndarray of shape (N_train, 32, 32, 3), e.g. uint8 from ``load_cifar10``.
    y_train : ndarray of shape (N_train,)
    X_test : ndarray of shape (N_test, 32, 32, 3)
    y_test : ndarray of shape (N_test,)
    num_training, num_validation, num_test : sizes of the three splits.
    dtype : float32 or float64 (uint8 too when ``subtract_mean`` is False).
    subtract_mean : subtract the training split's mean image from all three splits.

    Returns
    -------
    Cifar10Split with fresh arrays (none of them views of the inputs).
    """
    resolved = _result_dtype(dtype, subtract_mean)
    check_split_sizes(num_training, num_validation, num_test, len(X_train), len(X_test))
    train = slice(0, num_training)
    val = slice(num_training, num_training + num_validation)
    test = slice(0, num_test)
    mean = mean_image(X_train[train].reshape(num_training, -1)) if subtract_mean else None
    return Cifar10Split(
        X_train=to_rows(X_train[train], resolved, mean),
        y_train=y_train[train].copy(),
        X_val=to_rows(X_train[val], resolved, mean),
        y_val=y_train[val].copy(),
        X_test=to_rows(X_test[test], resolved, mean),
        y_test=y_test[test].copy(),
        mean_image=mean,
    )


def load_cifar10_split(
    num_training: int = 49000,
    num_validation: int = 1000,
    num_test: int = 1000,
    *,
    root: str | os.PathLike[str] | None = None,
    dtype: npt.DTypeLike = np.float64,
    subtract_mean: bool = True,
    download: bool = True,
) -> Cifar10Split:
    """Load CIFAR-10 as uint8 and split it with :func:`split_cifar10`.

    ``root`` and ``download`` are as in :func:`minigrad.data.cifar10.load_cifar10`. Peak memory is
    the raw uint8 data (184 MB) plus the three results in ``dtype``.
    """
    # Fail on bad arguments before reading 180 MB.
    _result_dtype(dtype, subtract_mean)
    check_split_sizes(num_training, num_validation, num_test)
    X_train, y_train, X_test, y_test = load_cifar10(root, np.uint8, download=download)
    return split_cifar10(
        X_train,
        y_train,
        X_test,
        y_test,
        num_training,
        num_validation,
        num_test,
        dtype=dtype,
        subtract_mean=subtract_mean,
    )


def get_cifar10_data(
    num_training: int = 49000,
    num_validation: int = 1000,
    num_test: int = 1000,
    **options: Any,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The workbook's ``get_CIFAR10_data``: the same split, centring and flattening.

    ``options`` are :func:`load_cifar10_split`'s keyword arguments (``root``, ``dtype``,
    ``subtract_mean``, ``download``); use that function to also get the mean image.

    Returns
    -------
    X_train : ndarray of shape (num_training, 3072), ``dtype``
    y_train : ndarray of shape (num_training,), int64
    X_val : ndarray of shape (num_validation, 3072)
    y_val : ndarray of shape (num_validation,)
    X_test : ndarray of shape (num_test, 3072)
    y_test : ndarray of shape (num_test,)
    """
    return load_cifar10_split(num_training, num_validation, num_test, **options).as_tuple()
