"""Keeping the entries a boolean mask selects and zeroing the rest, without a branch per entry.

ReLU's gradient and dropout both keep ``values`` where a random mask is true and put 0
elsewhere. ``np.where(mask, values, 0)`` says that, but its loop branches on every entry, and
a random mask defeats the CPU's branch prediction: measured inside a training loop on this
2-core AMD EPYC host (a fresh 200 x 50 float32 mask each iteration, NumPy 2.4), 30-40 us
per call against 2.6 us for ``values * mask``. The product is exact wherever ``values`` is
finite (a dropped entry becomes +-0), so it is used, and ``np.where`` only when the product
holds an inf or a NaN.
"""

from __future__ import annotations

import numpy as np

__all__ = ["keep_where"]


def keep_where(mask: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``values`` where ``mask`` is true and 0 elsewhere, as ``np.where(mask, values, 0)``.

    Parameters
    ----------
    mask : bool ndarray, the entries to keep
    values : float ndarray of the same shape

    Returns
    -------
    A new ndarray, shape and dtype of ``values``. An inf or NaN at a dropped entry gives 0
    there, as in PyTorch (``values * mask`` alone would give NaN: inf * 0).
    """
    with np.errstate(invalid="ignore"):
        kept = values * mask
    if not np.isfinite(kept).all():  # only for a non-finite value somewhere
        kept = np.where(mask, values, values.dtype.type(0))
    return kept
