"""In-place scaled additions (``y += a*x``, ``y = a*x + b*y``), the one primitive every rule uses.

All update rules in :mod:`optim` are written as a few of these calls plus NumPy ufuncs with
``out=``. For contiguous float32/float64 arrays of the same dtype the addition goes through BLAS
``?axpy``, one fused pass over memory, except when the caller passes a scratch buffer for an array
of more than 10000 elements: then it takes two NumPy passes through the scratch
(``np.multiply(x, a, out=scratch); np.add(y, scratch, out=y)``). OpenBLAS runs ``?axpy`` on all
its threads above 10000 elements, and a threaded level-1 call is a gamble on a shared machine: on
a (50, 3072) float32 array it took 10 us with both cores free, but a median of 40 us to several
ms while other processes kept the cores busy, against about 31 us for the two NumPy passes either
way (SciPy's BLAS is moreover a second OpenBLAS, whose threads compete with NumPy's). Anything
else (other dtypes, strided views, mixed dtypes) takes the NumPy path too, with the same result.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy.linalg import blas

# Looked up once: get_blas_funcs on every call would cost more than the update itself.
_AXPY = {np.dtype(np.float32): blas.saxpy, np.dtype(np.float64): blas.daxpy}

# OpenBLAS's ?axpy stays on the calling thread up to this many elements (MULTI_THREAD_MINIMAL).
_SINGLE_THREADED_MAX = 10000


def _blas_ok(x: NDArray[np.floating], y: NDArray[np.floating]) -> bool:
    # f2py silently works on a *copy* of y unless y is contiguous, aligned and of the routine's
    # dtype, which would lose the in-place update; so take BLAS only when nothing can be copied.
    return (
        x.dtype == y.dtype
        and y.dtype in _AXPY
        and x.flags.c_contiguous
        and y.flags.c_contiguous
        and x.flags.aligned
        and y.flags.aligned
        and y.flags.writeable
        and y.size > 0
    )


def axpy(
    alpha: float,
    x: NDArray[np.floating],
    y: NDArray[np.floating],
    scratch: NDArray[np.floating] | None = None,
) -> None:
    """Add ``alpha * x`` to ``y`` in place.

    Parameters
    ----------
    alpha : float
        Scale factor; a Python float, so it takes ``y``'s precision (NEP 50).
    x : ndarray, shape (*S)
        Array to add.
    y : ndarray, shape (*S)
        Updated in place; never rebound.
    scratch : ndarray, shape (*S), dtype of ``y``, optional
        Buffer for ``alpha * x`` on the NumPy path. Given, arrays of more than 10000 elements
        take the NumPy path (two passes, never threaded); without it they take BLAS when they
        can, and the NumPy fallback allocates one temporary.

    Raises
    ------
    ValueError
        If ``x`` and ``y`` have different shapes (BLAS would silently read out of bounds).
    """
    if x.shape != y.shape:
        raise ValueError(f"axpy: shape {x.shape} of x does not match shape {y.shape} of y")
    if _blas_ok(x, y) and (scratch is None or y.size <= _SINGLE_THREADED_MAX):
        _AXPY[y.dtype](x.reshape(-1), y.reshape(-1), a=alpha)
    elif scratch is not None:
        np.multiply(x, alpha, out=scratch)
        np.add(y, scratch, out=y)
    else:
        y += alpha * x


def axpby(
    alpha: float,
    x: NDArray[np.floating],
    beta: float,
    y: NDArray[np.floating],
    scratch: NDArray[np.floating] | None = None,
) -> None:
    """Set ``y = alpha * x + beta * y`` in place (an exponential moving average when
    ``alpha + beta == 1``).

    Parameters
    ----------
    alpha, beta : float
        Coefficients; ``beta == 1`` skips the rescaling pass, ``beta == 0`` overwrites ``y``
        (so stale ``inf``/``nan`` in ``y`` do not leak through ``0 * y``).
    x : ndarray, shape (*S)
    y : ndarray, shape (*S)
        Updated in place.
    scratch : ndarray, shape (*S), optional
        See :func:`axpy`.
    """
    if x.shape != y.shape:
        raise ValueError(f"axpby: shape {x.shape} of x does not match shape {y.shape} of y")
    if beta == 0.0:
        np.multiply(x, alpha, out=y)
        return
    if beta != 1.0:
        np.multiply(y, beta, out=y)
    axpy(alpha, x, y, scratch)
