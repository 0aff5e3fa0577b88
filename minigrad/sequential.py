"""A container that chains layers: forward in order, backward in reverse. It is a Layer too."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from minigrad.layer import Layer

__all__ = ["Sequential"]


class Sequential(Layer):
    """Layers applied one after another; itself a :class:`Layer`, so Sequentials nest.

    (Its ``params``, ``grads``, ``buffers`` and ``weight_names`` are read-only views computed
    from the layers, where a plain Layer holds dicts: hence the ``override`` ignores.)

    Parameters are named by their position path: ``"0.W"``, ``"2.b"``, and ``"1.0.W"`` for
    the first layer of a Sequential at position 1. :attr:`params`, :attr:`grads` and
    :attr:`buffers` are built from the layers' own arrays at each access, so an optimiser
    stepping them updates the layers.

    Examples
    --------
    >>> net = Sequential(Affine(4, 10), ReLU(), Affine(10, 3))
    >>> scores = net.forward(X)          # (N, 3)
    >>> dx = net.backward(dscores)       # fills net.grads, returns (N, 4)
    >>> print(net.summary(4))            # layers, output widths, parameter counts
    """

    def __init__(self, *layers: Layer) -> None:
        for i, layer in enumerate(layers):
            if not isinstance(layer, Layer):
                raise TypeError(f"layer {i} is a {type(layer).__name__}, not a minigrad Layer")
        _refuse_repeated_layers(layers)
        self.layers: list[Layer] = list(layers)
        self.training = True

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

    def train(self, mode: bool = True) -> Sequential:
        """Set train or eval mode on the container and every layer in it."""
        self.training = bool(mode)
        for layer in self.layers:
            layer.train(mode)
        return self

    # ------------------------------------------------------------------ named arrays

    def _named(self, attribute: str) -> dict[str, np.ndarray]:
        return {
            f"{i}.{key}": array
            for i, layer in enumerate(self.layers)
            for key, array in getattr(layer, attribute).items()
        }

    @property
    def params(self) -> dict[str, np.ndarray]:  # type: ignore[override]
        """Every parameter by path name; the values are the layers' own arrays."""
        return self._named("params")

    @property
    def grads(self) -> dict[str, np.ndarray]:  # type: ignore[override]
        """Every gradient by path name, same keys as :attr:`params`."""
        return self._named("grads")

    @property
    def buffers(self) -> dict[str, np.ndarray]:  # type: ignore[override]
        """Every buffer (running statistics) by path name."""
        return self._named("buffers")

    @property
    def weight_names(self) -> tuple[str, ...]:  # type: ignore[override]
        """Path names of the parameters subject to L2 (weights, not biases)."""
        return tuple(
            f"{i}.{key}" for i, layer in enumerate(self.layers) for key in layer.weight_names
        )

    def extra_state(self) -> dict[str, Any]:
        """The layers' extra states (random generators) by position, where they have one."""
        states = {str(i): layer.extra_state() for i, layer in enumerate(self.layers)}
        return {key: state for key, state in states.items() if state}

    def check_extra_state(self, state: Mapping[str, Any]) -> None:
        if not isinstance(state, Mapping):
            raise ValueError(f"extra state must be a mapping, got {type(state).__name__}")
        unknown = sorted(set(map(str, state)) - {str(i) for i in range(len(self.layers))})
        if unknown:
            raise ValueError(f"extra state for layers {unknown}, which this model does not have")
        for i, layer in enumerate(self.layers):
            try:
                layer.check_extra_state(state.get(str(i), {}))
            except ValueError as err:
                raise ValueError(f"layer {i}: {err}") from None

    def load_extra_state(self, state: Mapping[str, Any]) -> None:
        self.check_extra_state(state)
        for i, layer in enumerate(self.layers):
            layer.load_extra_state(state.get(str(i), {}))

    # ------------------------------------------------------------------ sizes

    @property
    def in_features(self) -> int | None:
        """Input width, from the first layer that declares one."""
        for layer in self.layers:
            width = getattr(layer, "in_features", None)
            if width is not None:
                return int(width)
        return None

    @property
    def out_features(self) -> int | None:
        """Output width (number of classes), from the last layer that declares one."""
        for layer in reversed(self.layers):
            width = getattr(layer, "out_features", None)
            if width is not None:
                return int(width)
        return None

    @property
    def dtype(self) -> np.dtype | None:
        """The parameters' dtype (None for a net without parameters)."""
        for array in self.params.values():
            return array.dtype
        return None

    def output_width(self, input_width: int) -> int:
        """Features per output row, passing ``input_width`` through every layer."""
        for layer in self.layers:
            input_width = layer.output_width(input_width)
        return input_width

    def summary(self, input_width: int | None = None) -> str:
        """A table of the layers (nested ones indented), output widths and parameter counts.

        Parameters
        ----------
        input_width : features per input row; the first layer's ``in_features`` if None.

        Returns
        -------
        str, one row per layer and a total, e.g. 154,160 parameters for the workbook's
        3072 -> 50 -> 10 net.
        """
        width = self.in_features if input_width is None else input_width
        if width is None:
            raise ValueError("summary needs input_width: no layer declares in_features")
        rows = [("layer", "output", "parameters")]
        rows += _summary_rows(self, "", int(width))
        rows.append(("total", "", f"{self.num_parameters():,}"))
        widths = [max(len(row[col]) for row in rows) for col in range(3)]
        lines = [
            f"{row[0]:<{widths[0]}}  {row[1]:>{widths[1]}}  {row[2]:>{widths[2]}}"
            for row in rows
        ]
        rule = "-" * len(lines[0])
        return "\n".join([lines[0], rule, *lines[1:-1], rule, lines[-1]])

    # ------------------------------------------------------------------ container

    def __getitem__(self, index: int | slice) -> Layer:
        if isinstance(index, slice):
            return Sequential(*self.layers[index])
        return self.layers[index]

    def __len__(self) -> int:
        return len(self.layers)

    def __iter__(self) -> Iterator[Layer]:
        return iter(self.layers)

    def __repr__(self) -> str:
        lines = []
        for i, layer in enumerate(self.layers):
            text = repr(layer).replace("\n", "\n  ")  # indent a nested Sequential
            lines.append(f"  ({i}): {text}")
        return "Sequential(\n" + "\n".join(lines) + "\n)" if lines else "Sequential()"


def _summary_rows(net: Sequential, prefix: str, width: int) -> list[tuple[str, str, str]]:
    rows = []
    for i, layer in enumerate(net.layers):
        path = f"{prefix}{i}"
        if isinstance(layer, Sequential):
            rows.append((f"{path} Sequential", "", ""))
            rows += _summary_rows(layer, f"{path}.", width)
            width = layer.output_width(width)
            continue
        width = layer.output_width(width)
        rows.append((f"{path} {layer!r}", str(width), f"{layer.num_parameters():,}"))
    return rows


def _refuse_repeated_layers(layers: tuple[Layer, ...]) -> None:
    """Raise if one layer object appears twice (also inside nested Sequentials).

    A repeated layer would overwrite its own cached input and gradients, giving wrong
    gradients, and the optimiser would update its parameters twice per step.
    """
    seen: dict[int, str] = {}

    def visit(layer: Layer, path: str) -> None:
        if id(layer) in seen:
            raise ValueError(
                f"layer {path} ({layer!r}) is the same object as layer {seen[id(layer)]}; "
                "each position needs its own layer (weight sharing is not supported)"
            )
        seen[id(layer)] = path
        if isinstance(layer, Sequential):
            for i, inner in enumerate(layer.layers):
                visit(inner, f"{path}.{i}")

    for i, layer in enumerate(layers):
        visit(layer, str(i))
