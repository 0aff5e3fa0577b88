"""The benchmark runs end to end and prints its table; no test asserts a time."""

from __future__ import annotations

import io
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # benchmarks/ lives in the repository, it is not installed
    sys.path.insert(0, str(ROOT))

from benchmarks import iteration as benchmark  # noqa: E402

ROW = r"\s+\d+\.\d{3}\s+\d+\.\d{3}\s+\d+\.\d{3}"  # median, min, max
CHECK = r"\s+\d+\.\d{3}\s+\d+\.\d{3}\s+\d+\.\d{3}\s+<=? [\d.]+\s+(PASS|FAIL)"


def test_quick_run_prints_the_table_and_the_checks() -> None:
    out = io.StringIO()
    checks = benchmark.run(benchmark.QUICK, with_torch=False, out=out)
    text = out.getvalue()
    assert "CPU:" in text and "NumPy" in text
    for name in ("minigrad float32", "minigrad float64", "plain NumPy float64 (workbook)",
                 "floor float32", "floor float64", "X @ W1.T", "dh.T @ X", "gather"):
        assert re.search(re.escape(name) + r".*?" + ROW, text), name
    assert re.search(r"PyTorch CPU float32\s+skipped", text)
    for label in ("1. minigrad float32 / floor float32",
                  "2. minigrad float32 / plain NumPy float64",
                  "4. minigrad float64 / plain NumPy float64"):
        assert re.search(re.escape(label) + CHECK, text), label
    assert re.search(r"3\. minigrad float32 / PyTorch float32\s+skipped", text)
    assert [c.label[:2] for c in checks] == ["1.", "2.", "4."]
    assert all(c.ratio > 0 and c.ratio_of_mins > 0 for c in checks)


def test_quick_command_line_run_exits_zero() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.iteration", "--quick", "--no-torch",
         "--blocks", "2", "--iters", "2"],
        cwd=ROOT, capture_output=True, text=True, timeout=600, check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "acceptance" in result.stdout
    assert re.search(r"minigrad float32" + ROW, result.stdout)
