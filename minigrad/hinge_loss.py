"""The multiclass hinge (SVM) loss, CS231n's ``svm_loss``."""

from __future__ import annotations

import numpy as np

from minigrad.validation import check_labels, check_real, check_scores

__all__ = ["MulticlassHingeLoss", "multiclass_hinge_loss"]


def multiclass_hinge_loss(
    scores: np.ndarray, y: np.ndarray, margin: float = 1.0
) -> tuple[float, np.ndarray]:
    """Mean over the batch of ``sum_{j != y_i} max(0, s_ij - s_iy + margin)``, and its gradient.

    Parameters
    ----------
    scores : float ndarray of shape (N, C), class scores
    y : int ndarray of shape (N,), labels in ``[0, C)`` (checked)
    margin : how far the correct score must lead the others before they cost nothing.

    Returns
    -------
    loss : float
    dscores : ndarray of shape (N, C), dtype of ``scores``: ``1/N`` where a wrong class
        violates the margin (``s_ij - s_iy + margin > 0``), minus ``1/N`` times the number
        of violations at the correct class, 0 elsewhere (the subgradient 0 at the kink).

    Notes
    -----
    ``torch.nn.MultiMarginLoss`` also divides each row's sum by the number of classes C:
    this loss is ``C * MultiMarginLoss(margin=margin)(scores, y)``.
    """
    check_scores(scores)
    n = scores.shape[0]
    check_labels(y, n, scores.shape[1])
    rows = np.arange(n)
    correct = scores[rows, y][:, None]  # (N, 1)
    margins = np.maximum(scores - correct + margin, scores.dtype.type(0))
    margins[rows, y] = 0  # the correct class is not compared with itself
    loss = float(margins.sum()) / n
    violated = margins > 0
    dscores = violated.astype(scores.dtype)
    dscores[rows, y] = -violated.sum(axis=1)
    dscores /= n
    return loss, dscores


class MulticlassHingeLoss:
    """Loss layer: ``forward(scores, y) -> loss``, then ``backward() -> dscores``.

    CS231n's ``svm_loss``: the mean over the batch of
    ``sum_{j != y} max(0, s_j - s_y + margin)``. PyTorch's ``MultiMarginLoss`` (p=1) also
    divides by the number of classes C, so it is this loss divided by C.

    Parameters
    ----------
    margin : the margin (1.0, CS231n's and PyTorch's default), finite.
    """

    def __init__(self, margin: float = 1.0) -> None:
        self.margin = check_real(margin, "margin")
        self._dscores: np.ndarray | None = None

    def forward(self, scores: np.ndarray, y: np.ndarray) -> float:
        """Mean loss over the batch; (N, C) scores, (N,) labels."""
        loss, self._dscores = multiclass_hinge_loss(scores, y, self.margin)
        return loss

    def backward(self) -> np.ndarray:
        """Gradient with respect to the scores, shape (N, C)."""
        if self._dscores is None:
            raise RuntimeError("MulticlassHingeLoss.backward called before forward")
        return self._dscores

    def __call__(self, scores: np.ndarray, y: np.ndarray) -> float:
        return self.forward(scores, y)

    def __repr__(self) -> str:
        return f"MulticlassHingeLoss(margin={self.margin:g})"
