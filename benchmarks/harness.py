"""Interleaved timing: every contender is timed in every block, so they share the load.

A contender is a function ``run(n) -> list of n timestamps`` (``time.perf_counter`` after
each of ``n`` iterations). The contenders run in a fresh random order in every block, so
none of them always follows the same neighbour. Before its block a contender waits
``pause`` seconds, so the thread pools the previous one used are asleep again: OpenBLAS's
worker threads spin for about 0.1 s after their last call and OpenMP's (PyTorch) for about
10 ms, each taking a core from whoever runs next. The block then runs ``settle + iters``
iterations and times the last ``iters`` (from the timestamp before them to the last one),
so waking the contender's own threads, its per-call set-up (argument checks) and cold
caches are not counted as iteration time.

The machine is shared, so each block (one turn of every contender) also records the share of
the CPUs' time that other processes (and, in a virtual machine, the host: steal time) took
while it ran, from ``/proc/stat`` and ``/proc/self/stat``; :meth:`Timing.clean` keeps the
blocks during which the machine was ours.
"""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["Runner", "Stats", "Timed", "Timing", "machine_header", "stamped", "time_interleaved"]

Runner = Callable[[int], Sequence[float]]


@dataclass(frozen=True)
class Stats:
    """Milliseconds per iteration over the blocks."""

    blocks: tuple[float, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.blocks)

    @property
    def min(self) -> float:
        return min(self.blocks)

    @property
    def max(self) -> float:
        return max(self.blocks)


@dataclass(frozen=True)
class Timed:
    """A named contender."""

    name: str
    run: Runner


@dataclass(frozen=True)
class Timing:
    """What :func:`time_interleaved` measured.

    Attributes
    ----------
    stats : milliseconds per iteration of each contender, every block.
    foreign : per block, the share of all CPUs' time used by other processes (and steal)
        while the block ran; empty where ``/proc`` is unavailable.
    """

    stats: dict[str, Stats]
    foreign: tuple[float, ...]

    def clean(self, limit: float) -> dict[str, Stats]:
        """The stats over the blocks whose foreign share was at most ``limit``."""
        keep = [i for i, share in enumerate(self.foreign) if share <= limit]
        return {
            name: Stats(tuple(stats.blocks[i] for i in keep)) for name, stats in self.stats.items()
        }


Ticks = tuple[int, int, int]


def _cpu_ticks() -> Ticks | None:
    """(busy, total) clock ticks of all CPUs and this process's own ticks, or None."""
    try:
        with open("/proc/stat", encoding="ascii") as stat:
            values = [int(v) for v in stat.readline().split()[1:9]]
        with open("/proc/self/stat", encoding="ascii") as own:
            fields = own.read().rsplit(")", 1)[1].split()
    except (OSError, ValueError, IndexError):
        return None
    idle = values[3] + values[4]  # idle, iowait; steal counts as busy (the host took it)
    return sum(values) - idle, sum(values), int(fields[11]) + int(fields[12])  # utime + stime


def _foreign_share(before: Ticks | None, after: Ticks | None) -> float | None:
    if before is None or after is None or after[1] <= before[1]:
        return None
    busy, total, own = (a - b for a, b in zip(after, before, strict=True))
    return max(busy - own, 0) / total


def _block_ms(run: Runner, iters: int, settle: int, pause: float) -> float:
    time.sleep(pause)
    stamps = run(settle + iters)
    return (stamps[-1] - stamps[settle - 1]) / iters * 1e3


def time_interleaved(
    contenders: Sequence[Timed],
    *,
    blocks: int,
    iters: int,
    warmup: int,
    settle: int = 3,
    pause: float = 0.12,
) -> Timing:
    """Per-iteration milliseconds of each contender, ``blocks`` blocks of ``iters``.

    Every contender first runs ``warmup`` untimed iterations; then each block times each
    contender once (after ``pause`` seconds idle and ``settle`` untimed iterations), in a
    random order (seeded).
    """
    if settle < 1:
        raise ValueError("settle must be >= 1: the first timestamp starts the clock")
    for contender in contenders:
        contender.run(warmup)
    times: dict[str, list[float]] = {c.name: [] for c in contenders}
    foreign: list[float | None] = []
    order = np.random.default_rng(0)
    for _ in range(blocks):
        before = _cpu_ticks()
        for i in order.permutation(len(contenders)):
            contender = contenders[i]
            times[contender.name].append(_block_ms(contender.run, iters, settle, pause))
        foreign.append(_foreign_share(before, _cpu_ticks()))
    stats = {name: Stats(tuple(values)) for name, values in times.items()}
    known = tuple(share for share in foreign if share is not None)
    return Timing(stats, known if len(known) == blocks else ())


def stamped(step: Callable[[], object]) -> Runner:
    """A runner that calls ``step()`` ``n`` times, stamping the time after each call."""

    def run(n: int) -> list[float]:
        stamps = []
        clock = time.perf_counter
        for _ in range(n):
            step()
            stamps.append(clock())
        return stamps

    return run


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _blas_lines() -> list[str]:
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return ["BLAS: (pip install threadpoolctl to show the BLAS library and its threads)"]
    lines = []
    for pool in threadpool_info():
        lines.append(
            f"{pool.get('user_api')}: {pool.get('internal_api')} {pool.get('version')} "
            f"kernel={pool.get('architecture', '?')} threads={pool.get('num_threads')} "
            f"({os.path.basename(pool.get('filepath', ''))})"
        )
    return lines or ["BLAS: threadpoolctl found no thread pools"]


def machine_header(extra: Sequence[str] = ()) -> str:
    """CPU, cores, load, NumPy/BLAS and thread settings, one fact per line."""
    lines = [
        f"CPU: {_cpu_model()}, {os.cpu_count()} logical cores; "
        f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}",
        f"Python {platform.python_version()}, NumPy {np.__version__}",
        *_blas_lines(),
    ]
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
        if var in os.environ:
            lines.append(f"{var}={os.environ[var]}")
    lines.extend(extra)
    return "\n".join(lines)
