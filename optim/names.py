"""Looking things up by name with an error that lists the known names."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

__all__ = ["lookup"]

T = TypeVar("T")


def lookup(registry: Mapping[str, T], name: object, kind: str) -> T:
    """``registry[name]``, or ``ValueError`` naming ``kind`` and listing the known names."""
    try:
        return registry[name]  # type: ignore[index]
    except (KeyError, TypeError):
        known = ", ".join(sorted(registry))
        raise ValueError(f"unknown {kind} {name!r}; known {kind}s: {known}") from None
