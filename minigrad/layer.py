"""The layer contract: parameters, gradients, forward and backward."""

from __future__ import annotations

import numpy as np

__all__ = ["Layer"]


class Layer:
    """Base class of every layer.

    A layer is a thin holder of parameters, their gradients and whatever its forward
    pass caches for the backward pass; the math lives in pure functions.

    Attributes
    ----------
    params : dict of str to ndarray
        The trainable arrays. They are updated in place, never rebound, so anything
        holding a reference (``net.params['W1']``) sees every update.
    grads : dict of str to ndarray
        Same keys and shapes as ``params``; filled by :meth:`backward`.
    weight_names : tuple of str
        The keys of ``params`` that are weights (subject to L2); the rest are biases.
    """

    weight_names: tuple[str, ...] = ()

    def __init__(self) -> None:
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Compute the output for input ``x`` and cache what backward needs."""
        raise NotImplementedError(f"{type(self).__name__} must implement forward")

    def backward(self, dout: np.ndarray, need_input_grad: bool = True) -> np.ndarray | None:
        """Fill ``self.grads`` from the upstream gradient and return d(loss)/d(input).

        Parameters
        ----------
        dout : gradient of the loss with respect to this layer's last output.
        need_input_grad : when False the layer may skip computing the input gradient
            (the first layer of a net never needs it) and return None.
        """
        raise NotImplementedError(f"{type(self).__name__} must implement backward")

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.forward(x)

    def extra_repr(self) -> str:
        """What :meth:`__repr__` shows between the parentheses."""
        return ""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.extra_repr()})"
