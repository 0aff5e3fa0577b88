"""What the benchmark tests share: the repository on sys.path, one quick run, its row patterns.

``benchmarks/`` lives in the repository and is not installed, so importing this module puts
the repository root on ``sys.path`` first.
"""

from __future__ import annotations

import functools
import io
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import iteration as benchmark  # noqa: E402

ROW = r"\s+\d+\.\d{3}\s+\d+\.\d{3}\s+\d+\.\d{3}"  # median, min, max
CHECK = r"\s+\d+\.\d{3}\s+\d+\.\d{3}\s+\d+\.\d{3}\s+<=? [\d.]+\s+(PASS|FAIL)"


@functools.cache
def quick_run() -> tuple[benchmark.Report, str]:
    """``benchmark.measure(QUICK)`` without PyTorch, once per test session: report, printout."""
    out = io.StringIO()
    report = benchmark.measure(benchmark.QUICK, with_torch=False, out=out)
    return report, out.getvalue()
