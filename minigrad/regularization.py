"""L2 weight decay: the one place that computes it, for any model."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np

__all__ = ["l2_penalty", "add_l2_gradients"]


def l2_penalty(weights: Iterable[np.ndarray], reg: float) -> float:
    """``0.5 * reg * sum(W**2)`` over the given weights (biases are not passed in).

    ``np.vdot`` sums the squares without a temporary array (of a flat view in memory
    order: ``np.vdot`` would copy a column-major weight to flatten it row-major).
    """
    if reg == 0:
        return 0.0
    return 0.5 * reg * sum(float(np.vdot(w.ravel("K"), w.ravel("K"))) for w in weights)


def add_l2_gradients(
    params: Mapping[str, np.ndarray],
    grads: Mapping[str, np.ndarray],
    weight_names: Iterable[str],
    reg: float,
) -> float:
    """Add ``reg * W`` to each weight's gradient in place and return the penalty.

    Parameters
    ----------
    params, grads : the model's parameters and gradients by name.
    weight_names : the names subject to L2 (a model's ``weight_names``).
    reg : L2 strength, the workbook's ``reg``.

    Returns
    -------
    float, ``0.5 * reg * sum(W**2)``, to add to the data loss.
    """
    if reg == 0:
        return 0.0
    reg = float(reg)  # a Python float takes the arrays' dtype; np.float64(reg) would upcast
    names = tuple(weight_names)
    for name in names:
        grads[name] += reg * params[name]
    return l2_penalty((params[name] for name in names), reg)
