"""Ctrl-C, SIGTERM and SIGHUP stop a search the same way.

Inside :func:`stop_on_signals` each of the three raises :class:`SearchStopped` (a
``KeyboardInterrupt``, so everything that already cleans up after Ctrl-C does so after the
others too) in the main thread, once: a second signal while the search winds down is
noted, not raised, so the clean-up (stopping the workers, enqueuing the interrupted trials
again) runs to its end. :func:`exit_code` is then ``128 + signal number`` (130, 143, 129),
as a shell reports a process ended by that signal.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType

__all__ = ["STOP_SIGNALS", "SearchStopped", "exit_code", "received", "stop_on_signals"]

STOP_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)
)

_received: list[int] = []


class SearchStopped(KeyboardInterrupt):
    """A stop signal arrived; ``signum`` says which."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"stopped by {signal.Signals(signum).name}")
        self.signum = signum


def received() -> int | None:
    """The first stop signal received inside the current :func:`stop_on_signals` block."""
    return _received[0] if _received else None


def exit_code(default: int = int(signal.SIGINT)) -> int:
    """``128 + `` the signal that stopped the search (``default``: Ctrl-C without one)."""
    signum = received()
    return 128 + (default if signum is None else signum)


def _handler(signum: int, frame: FrameType | None) -> None:
    first = not _received
    _received.append(signum)
    if first:
        raise SearchStopped(signum)


@contextlib.contextmanager
def stop_on_signals() -> Iterator[None]:
    """Turn the stop signals into :class:`SearchStopped` inside the block (main thread
    only; elsewhere the block runs with the handlers as they are)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _received.clear()
    previous = {signum: signal.signal(signum, _handler) for signum in STOP_SIGNALS}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
