"""examples/two_layer_net.py runs headless on fake data and saves its figures."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from fake_cifar import write_fake_cifar

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "two_layer_net.py"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
FIGURES = (
    "toy_loss_history", "subopt_accuracy_history", "subopt_loss_history",
    "best_accuracy_history", "subopt_weights", "best_weights",
)


def test_example_runs_as_a_script_and_writes_its_pngs(tmp_path: Path) -> None:
    # The fast mode needs 2000 + 200 training images and 200 test images.
    data = write_fake_cifar(tmp_path / "cifar", num_cases_per_batch=500).root
    out = tmp_path / "figures"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(sys.path),
        "MINIGRAD_CIFAR10": str(data),
        "MINIGRAD_EXAMPLE_FAST": "1",
        "MINIGRAD_EXAMPLE_OUT": str(out),
        "MPLBACKEND": "Agg",
    }
    done = subprocess.run(
        [sys.executable, str(EXAMPLE)], cwd=tmp_path, env=env,
        capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    # The toy cells print the workbook's numbers; the CIFAR cells get to the end.
    assert "Difference between your loss and correct loss:\n0.0" in done.stdout
    assert "Final training loss:  0.0144978645" in done.stdout
    assert "iteration 100 / 200: loss" in done.stdout
    assert "Test accuracy: " in done.stdout
    for name in FIGURES:
        path = out / f"{name}.png"
        assert path.read_bytes()[:8] == PNG_MAGIC, name
