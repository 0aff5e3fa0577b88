"""The loss contract every loss of minigrad follows (and yours can)."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

__all__ = ["Loss"]


@runtime_checkable
class Loss(Protocol):
    """A loss layer: ``forward(scores, y) -> float``, then ``backward() -> dscores``.

    :class:`~minigrad.softmax_cross_entropy.SoftmaxCrossEntropy` and
    :class:`~minigrad.hinge_loss.MulticlassHingeLoss` follow it; the trainer and the
    gradient checks accept any object that does.
    """

    def forward(self, scores: np.ndarray, y: np.ndarray) -> float:
        """The mean loss over the batch; ``scores`` (N, C), ``y`` (N,) integer labels."""
        ...

    def backward(self) -> np.ndarray:
        """d(loss)/d(scores) for the last forward, shape (N, C), the dtype of ``scores``."""
        ...
