"""How much memory this process may still allocate, and a check before a large allocation.

A request for a 100 000 000-unit hidden layer should fail at once with a sentence, not
minutes later with a ``MemoryError`` traceback (or the kernel's OOM killer). The estimate
is the smallest of what the machine has (``MemAvailable`` plus free swap, or
``sysconf``), what the control group allows, and what the address-space and data
limits (``ulimit -v``, ``ulimit -d``) leave. Each source that cannot be read is skipped;
when none can, nothing is refused.
"""

from __future__ import annotations

import os
from pathlib import Path

from minigrad.files.bounded_read import format_bytes

__all__ = ["InsufficientMemoryError", "available_memory", "check_memory"]

_CGROUP_UNLIMITED = 1 << 60  # cgroup v1 writes "no limit" as a number near 2**63


class InsufficientMemoryError(ValueError):
    """An allocation would need more memory than this process can get."""


def _read_small(path: str) -> str | None:
    try:
        return Path(path).read_text(encoding="ascii", errors="replace")
    except OSError:
        return None


def _kib_field(text: str | None, field: str) -> int | None:
    """``field: N kB`` of a /proc file, in bytes."""
    if text is None:
        return None
    for line in text.splitlines():
        if line.startswith(field + ":"):
            parts = line.split()
            if len(parts) >= 2 and parts[1].isdigit():
                return int(parts[1]) * 1024
    return None


def _machine_available() -> int | None:
    meminfo = _read_small("/proc/meminfo")
    available = _kib_field(meminfo, "MemAvailable")
    if available is not None:
        return available + (_kib_field(meminfo, "SwapFree") or 0)
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def _cgroup_available() -> int | None:
    for limit_file, usage_file in (
        ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),  # v2
        ("/sys/fs/cgroup/memory/memory.limit_in_bytes",
         "/sys/fs/cgroup/memory/memory.usage_in_bytes"),  # v1
    ):
        limit, usage = _read_small(limit_file), _read_small(usage_file)
        if limit is None or usage is None:
            continue
        limit, usage = limit.strip(), usage.strip()
        if limit.isdigit() and usage.isdigit() and int(limit) < _CGROUP_UNLIMITED:
            return max(0, int(limit) - int(usage))
    return None


def _rlimit_left() -> int | None:
    try:
        import resource
    except ImportError:  # Windows
        return None
    status = _read_small("/proc/self/status")
    left = []
    for limit_name, field in (("RLIMIT_AS", "VmSize"), ("RLIMIT_DATA", "VmData")):
        limit_id = getattr(resource, limit_name, None)
        if limit_id is None:
            continue
        soft, _ = resource.getrlimit(limit_id)
        if soft != resource.RLIM_INFINITY and soft >= 0:
            left.append(max(0, soft - (_kib_field(status, field) or 0)))
    return min(left) if left else None


def available_memory() -> int | None:
    """Bytes this process can probably still allocate, or None if no source says."""
    known = [
        value for value in (_machine_available(), _cgroup_available(), _rlimit_left())
        if value is not None
    ]
    return min(known) if known else None


def check_memory(nbytes: int, what: str, available: int | None = None) -> None:
    """Raise :class:`InsufficientMemoryError` if ``nbytes`` exceed the available memory.

    Parameters
    ----------
    nbytes : the planned allocation.
    what : its description, the start of the message (e.g. ``"--hidden-size 100000000"``).
    available : the bytes available (default: :func:`available_memory`).
    """
    free = available_memory() if available is None else available
    if free is not None and nbytes > free:
        raise InsufficientMemoryError(
            f"{what} needs about {format_bytes(nbytes)} of memory, but only "
            f"{format_bytes(free)} are available"
        )
