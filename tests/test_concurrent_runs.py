"""Two ``minigrad train`` processes started at the same moment never share a run folder.

Both are released at one instant after their imports, and both see the same clock
second (``time.strftime`` is pinned in the children), so both pick the same default
folder name: the exclusive ``mkdir`` must give one of them the ``-2`` suffix, and both
must finish, each in its own folder.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

STAMP = "20240102-030405"
CHILD = """
import sys, time
from minigrad.cli.command import main
time.strftime = lambda fmt, *args: {stamp!r}  # both runs in the same second
start = float(sys.argv[1])
while time.time() < start:
    time.sleep(0.001)
sys.exit(main(sys.argv[2:]))
"""
SMALL = ["--num-training", "400", "--num-validation", "50", "--num-test", "50",
         "--num-iters", "30", "--batch-size", "50", "--hidden-size", "8", "--quiet"]


def test_two_trains_started_together_finish_in_two_folders(
    fake_data: Path, tmp_path: Path
) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "OMP_NUM_THREADS": "1",
           "OPENBLAS_NUM_THREADS": "1", "MPLBACKEND": "Agg"}
    start = time.time() + 8  # after both have imported numpy and minigrad
    argv = ["train", "--data-dir", str(fake_data), *SMALL]
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD.format(stamp=STAMP), repr(start), *argv],
            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for _ in range(2)
    ]
    outputs = [process.communicate(timeout=300) for process in processes]
    for process, (_, err) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, err
        assert "Traceback" not in err
    folders = sorted(p.name for p in (tmp_path / "runs").iterdir())
    assert folders == [f"{STAMP}-best-seed0", f"{STAMP}-best-seed0-2"]
    printed = {out.strip().splitlines()[-1] for out, _ in outputs}
    assert printed == {f"run folder: runs/{name}" for name in folders}
    for name in folders:
        run_dir = tmp_path / "runs" / name
        metrics = json.loads((run_dir / "metrics.json").read_text())
        assert metrics["status"] == "complete" and metrics["iterations"] == 30
        assert not (run_dir / ".minigrad.lock").exists()  # released when the run was saved
        # Each folder holds one run's history, not two interleaved.
        assert len((run_dir / "history.csv").read_text().splitlines()) == 1 + 30
