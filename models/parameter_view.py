"""A dict-like view that gives a model's parameters friendlier names."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, MutableMapping

import numpy as np

__all__ = ["ParameterView"]


class ParameterView(MutableMapping[str, np.ndarray]):
    """Maps alias names (``"W1"``) to arrays of an underlying parameter dict (``"0.W"``).

    Reading returns the very arrays the layers compute with. Assigning copies the new
    values into that array (after checking the shape), so the layers keep seeing the
    parameter instead of being silently cut off from it.
    """

    def __init__(self, source: Mapping[str, np.ndarray], aliases: Mapping[str, str]) -> None:
        self._source = source
        self._aliases = dict(aliases)

    def __getitem__(self, name: str) -> np.ndarray:
        return self._source[self._aliases[name]]

    def __setitem__(self, name: str, value: np.ndarray) -> None:
        if name not in self._aliases:
            raise KeyError(f"no parameter {name!r}; the parameters are {list(self._aliases)}")
        target = self[name]
        value = np.asarray(value)
        if value.shape != target.shape:
            raise ValueError(
                f"cannot assign shape {value.shape} to parameter {name!r} of shape {target.shape}"
            )
        np.copyto(target, value, casting="same_kind")

    def __delitem__(self, name: str) -> None:
        raise TypeError("parameters cannot be deleted from a model")

    def __iter__(self) -> Iterator[str]:
        return iter(self._aliases)

    def __len__(self) -> int:
        return len(self._aliases)

    def __repr__(self) -> str:
        shapes = ", ".join(f"{k!r}: {self[k].shape}" for k in self)
        return f"ParameterView({{{shapes}}})"
