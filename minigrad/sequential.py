"""A container that chains layers: forward in order, backward in reverse."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from minigrad.layer import Layer

__all__ = ["Sequential"]


class Sequential:
    """Layers applied one after another.

    Parameters are named ``"<index>.<key>"`` (``"0.W"``, ``"0.b"``, ``"2.W"`` …), and
    the dicts :attr:`params` and :attr:`grads` hold the layers' own arrays, so an
    optimiser stepping them updates the layers.

    Examples
    --------
    >>> net = Sequential(Affine(4, 10), ReLU(), Affine(10, 3))
    >>> scores = net.forward(X)          # (N, 3)
    >>> dx = net.backward(dscores)       # fills net.grads, returns (N, 4)
    """

    def __init__(self, *layers: Layer) -> None:
        for i, layer in enumerate(layers):
            if not isinstance(layer, Layer):
                raise TypeError(f"layer {i} is a {type(layer).__name__}, not a minigrad Layer")
        self.layers: list[Layer] = list(layers)

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Run ``x`` of shape (N, in_features) through every layer."""
        for layer in self.layers:
            x = layer.forward(x)
        return x

    def backward(self, dout: np.ndarray, need_input_grad: bool = True) -> np.ndarray | None:
        """Back-propagate ``dout`` (N, out_features); fill every layer's grads.

        With ``need_input_grad=False`` the first layer skips its input gradient (the
        most expensive product a training step would otherwise throw away).
        """
        grad: np.ndarray | None = dout
        for i in range(len(self.layers) - 1, -1, -1):
            assert grad is not None
            grad = self.layers[i].backward(grad, need_input_grad=need_input_grad or i > 0)
        return grad

    __call__ = forward

    def _named(self, attribute: str) -> dict[str, np.ndarray]:
        return {
            f"{i}.{key}": array
            for i, layer in enumerate(self.layers)
            for key, array in getattr(layer, attribute).items()
        }

    @property
    def params(self) -> dict[str, np.ndarray]:
        """Every parameter by name; the values are the layers' own arrays."""
        return self._named("params")

    @property
    def grads(self) -> dict[str, np.ndarray]:
        """Every gradient by name, same keys as :attr:`params`."""
        return self._named("grads")

    @property
    def weight_names(self) -> tuple[str, ...]:
        """Names of the parameters subject to L2 (weights, not biases)."""
        return tuple(
            f"{i}.{key}" for i, layer in enumerate(self.layers) for key in layer.weight_names
        )

    @property
    def in_features(self) -> int | None:
        """Input width, from the first layer that declares one."""
        for layer in self.layers:
            if hasattr(layer, "in_features"):
                return int(layer.in_features)
        return None

    @property
    def out_features(self) -> int | None:
        """Output width (number of classes), from the last layer that declares one."""
        for layer in reversed(self.layers):
            if hasattr(layer, "out_features"):
                return int(layer.out_features)
        return None

    @property
    def dtype(self) -> np.dtype | None:
        """The parameters' dtype (None for a net without parameters)."""
        for array in self.params.values():
            return array.dtype
        return None

    def __getitem__(self, index: int | slice) -> Layer | Sequential:
        if isinstance(index, slice):
            return Sequential(*self.layers[index])
        return self.layers[index]

    def __len__(self) -> int:
        return len(self.layers)

    def __iter__(self) -> Iterator[Layer]:
        return iter(self.layers)

    def __repr__(self) -> str:
        lines = [f"  ({i}): {layer!r}" for i, layer in enumerate(self.layers)]
        return "Sequential(\n" + "\n".join(lines) + "\n)" if lines else "Sequential()"
