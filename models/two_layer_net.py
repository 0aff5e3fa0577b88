"""The workbook's two-layer net: a configuration of layers plus its classic API."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from numpy.typing import DTypeLike

from minigrad.affine import Affine
from minigrad.evaluation import predict_labels
from minigrad.initializers import Initializer, normal
from minigrad.models.parameter_view import ParameterView
from minigrad.optim import SGD, ExponentialDecay
from minigrad.regularization import add_l2_gradients
from minigrad.relu import ReLU
from minigrad.sequential import Sequential
from minigrad.softmax_cross_entropy import SoftmaxCrossEntropy
from minigrad.training.callbacks import PrintLoss
from minigrad.training.trainer import Trainer
from minigrad.validation import check_features, check_labels, check_positive_int

__all__ = ["two_layer_net", "TwoLayerNet", "WORKBOOK_PARAMETER_NAMES"]

# The workbook's names for the Sequential's parameters.
WORKBOOK_PARAMETER_NAMES = {"W1": "0.W", "b1": "0.b", "W2": "2.W", "b2": "2.b"}


def two_layer_net(
    input_size: int,
    hidden_size: int,
    num_classes: int,
    std: float = 1e-4,
    weight_init: Initializer | None = None,
    dtype: DTypeLike = np.float64,
) -> Sequential:
    """``Affine(D, H) -> ReLU -> Affine(H, C)``.

    Parameters
    ----------
    input_size, hidden_size, num_classes : D, H and C.
    std : standard deviation of the workbook's ``std * randn`` weights.
    weight_init : another initialiser for both weights (overrides ``std``).
    dtype : parameter dtype.
    """
    sizes = {"input_size": input_size, "hidden_size": hidden_size, "num_classes": num_classes}
    for name, size in sizes.items():
        check_positive_int(size, name)
    init = normal(std) if weight_init is None else weight_init
    return Sequential(
        Affine(input_size, hidden_size, init, dtype),
        ReLU(),
        Affine(hidden_size, num_classes, init, dtype),
    )


class TwoLayerNet:
    """The workbook's ``TwoLayerNet``, built from minigrad's layers.

    ``net.params`` holds ``W1 (H, D)``, ``b1 (H,)``, ``W2 (C, H)`` and ``b2 (C,)``: the
    very arrays inside ``net.model``. Weights are ``std * randn`` from NumPy's global
    legacy generator (``W1`` first), biases zero, as in the workbook.

    Parameters
    ----------
    input_size, hidden_size, output_size : D, H and C.
    std : scale of the initial weights.
    dtype : parameter dtype; float64 by default so the workbook's numbers print.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        output_size: int,
        std: float = 1e-4,
        dtype: DTypeLike = np.float64,
    ) -> None:
        self.model = two_layer_net(input_size, hidden_size, output_size, std, dtype=dtype)
        self.params = ParameterView(self.model.params, WORKBOOK_PARAMETER_NAMES)
        self._loss = SoftmaxCrossEntropy()

    def loss(
        self, X: np.ndarray, y: np.ndarray | None = None, reg: float = 0.0
    ) -> np.ndarray | tuple[float, dict[str, np.ndarray]]:
        """Scores, or the loss and gradients, for a batch.

        Parameters
        ----------
        X : ndarray of shape (N, D)
        y : int ndarray of shape (N,), or None
        reg : L2 strength

        Returns
        -------
        scores : ndarray of shape (N, C), when ``y`` is None; otherwise
        loss : float, data loss plus ``0.5 * reg * (|W1|^2 + |W2|^2)``
        grads : dict with the keys of ``params``, fresh arrays of the same shapes
        """
        model = self.model
        check_features(X, model.in_features)
        scores = model.forward(X)
        if y is None:
            return scores
        check_labels(y, X.shape[0], model.out_features)
        data_loss = self._loss.forward(scores, y)
        model.backward(self._loss.backward(), need_input_grad=False)
        penalty = add_l2_gradients(model.params, model.grads, model.weight_names, reg)
        grads = model.grads
        # Copies: the layers reuse their gradient buffers on the next backward.
        return data_loss + penalty, {
            alias: grads[name].copy() for alias, name in WORKBOOK_PARAMETER_NAMES.items()
        }

    def train(
        self,
        X: np.ndarray,
        y: np.ndarray,
        X_val: np.ndarray,
        y_val: np.ndarray,
        learning_rate: float = 1e-3,
        learning_rate_decay: float = 0.95,
        reg: float = 1e-5,
        num_iters: int = 100,
        batch_size: int = 200,
        verbose: bool = False,
    ) -> dict[str, list[float]]:
        """SGD with the workbook's sampling and per-epoch decay.

        Returns
        -------
        dict with ``loss_history`` (per iteration), ``train_acc_history`` and
        ``val_acc_history`` (per epoch).
        """
        trainer = Trainer(
            self.model,
            SGD(learning_rate=ExponentialDecay(learning_rate, learning_rate_decay)),
            reg=reg,
            batch_size=batch_size,
            sampling="replacement",
            rng=None,
            callbacks=[PrintLoss(num_iters)] if verbose else [],
        )
        return trainer.fit(X, y, X_val, y_val, num_iters=num_iters).as_workbook_dict()

    def state_dict(self) -> dict[str, np.ndarray]:
        """Copies of the parameters under the Sequential's names (``"0.W"`` ...)."""
        return self.model.state_dict()

    def load_state_dict(self, state: Mapping[str, object]) -> None:
        """Copy a :meth:`state_dict` into the parameters in place (checked first)."""
        self.model.load_state_dict(state)

    def num_parameters(self) -> int:
        """``H*D + H + C*H + C``: 154,160 for the workbook's 3072 -> 50 -> 10 net."""
        return self.model.num_parameters()

    def summary(self) -> str:
        """The layers, their output widths and parameter counts (see ``Sequential``)."""
        return self.model.summary()

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Predicted class of each row of X (N, D), shape (N,)."""
        check_features(X, self.model.in_features)
        return predict_labels(self.model, X)

    def __repr__(self) -> str:
        return f"TwoLayerNet(model={self.model!r})"
