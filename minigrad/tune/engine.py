"""Optuna, the search engine, is an optional dependency (the ``tune`` extra)."""

from __future__ import annotations

import importlib.util

from minigrad.tune.space import TuneError

__all__ = ["INSTALL_HINT", "optuna_installed", "require_optuna"]

INSTALL_HINT = (
    "minigrad tune runs on Optuna, which is not installed: "
    "pip install 'minigrad[tune]' (or: pip install optuna)"
)


def optuna_installed() -> bool:
    """Whether ``import optuna`` would find it."""
    try:
        return importlib.util.find_spec("optuna") is not None
    except (ImportError, ValueError):  # e.g. sys.modules["optuna"] = None
        return False


def require_optuna() -> None:
    """``TuneError`` with :data:`INSTALL_HINT` when Optuna cannot be imported."""
    try:
        import optuna  # noqa: F401
    except ImportError:
        raise TuneError(INSTALL_HINT) from None
