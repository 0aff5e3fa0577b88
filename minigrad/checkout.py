"""Let ``minigrad.models``, ``minigrad.optim`` and ``minigrad.data`` import from a checkout.

The repository keeps ``models/``, ``optim/`` and ``data/`` beside ``minigrad/`` and the
install maps them into the package (``package-dir`` in ``pyproject.toml``). Python started
in the checkout's root finds the folder ``minigrad/`` first, before any installed copy, and
that folder has no ``models/`` inside; this finder then looks for those three sub-packages
beside it. It answers for those three names only, and only when ``minigrad/`` sits in a
minigrad checkout, so an installed minigrad never consults it.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from importlib.abc import MetaPathFinder
from importlib.machinery import ModuleSpec, PathFinder
from pathlib import Path
from types import ModuleType

__all__ = ["MAPPED_SUBPACKAGES", "install_checkout_finder"]

MAPPED_SUBPACKAGES = ("data", "models", "optim")


class _CheckoutFinder(MetaPathFinder):
    def __init__(self, root: Path) -> None:
        self.root = str(root)

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None = None,
        target: ModuleType | None = None,
    ) -> ModuleSpec | None:
        parent, _, name = fullname.rpartition(".")
        if parent != "minigrad" or name not in MAPPED_SUBPACKAGES:
            return None
        return PathFinder.find_spec(fullname, [self.root])


def install_checkout_finder(package_dir: Path) -> None:
    """Add the finder when ``package_dir`` (the imported ``minigrad/``) is in a checkout."""
    root = package_dir.parent
    if (package_dir / "models").is_dir() or not (root / "pyproject.toml").is_file():
        return  # an installed minigrad: the sub-packages are inside it
    if not all((root / name / "__init__.py").is_file() for name in MAPPED_SUBPACKAGES):
        return
    if not any(isinstance(finder, _CheckoutFinder) for finder in sys.meta_path):
        sys.meta_path.append(_CheckoutFinder(root))
