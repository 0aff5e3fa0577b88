"""Walking a model's layers, nested Sequentials included, by their path names."""

from __future__ import annotations

from collections.abc import Iterator

from minigrad.layer import Layer
from minigrad.sequential import Sequential

__all__ = ["named_layers"]


def named_layers(model: Layer, prefix: str = "") -> Iterator[tuple[str, Layer]]:
    """Every leaf layer of ``model`` with its path name, in forward order.

    The path names are the prefixes of the parameter names: ``"2"`` for the third layer of
    a Sequential (whose parameters are ``"2.W"``...), ``"1.0"`` for the first layer of a
    Sequential at position 1. A model that is not a Sequential is its own only leaf, named
    ``prefix`` (``""`` at the top).
    """
    if isinstance(model, Sequential):
        for i, layer in enumerate(model.layers):
            yield from named_layers(layer, f"{prefix}.{i}" if prefix else str(i))
    else:
        yield prefix, model
