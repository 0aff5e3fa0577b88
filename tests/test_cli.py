"""``minigrad train`` / ``minigrad evaluate`` end to end on small fake CIFAR-10 batches."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from fake_cifar import write_fake_cifar

from minigrad.cli import command as cli
from minigrad.cli import train as cli_train
from minigrad.experiment.config import BEST, SUBOPTIMAL
from minigrad.experiment.run_evaluation import evaluate_run
from minigrad.experiment.training_run import default_run_dir
from minigrad.training.callbacks import Callback
from minigrad.training.trainer import Trainer

SMALL = ["--num-training", "400", "--num-validation", "50", "--num-test", "50",
         "--num-iters", "60", "--batch-size", "50", "--learning-rate", "1e-3", "--quiet"]


@pytest.fixture(scope="module")
def fake_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Seven fake batch files of 100 images each (500 train, 100 test)."""
    return write_fake_cifar(tmp_path_factory.mktemp("cifar"), num_cases_per_batch=100).root


def train(fake_data: Path, out: Path, *extra: str) -> int:
    return cli.main(["train", "--data-dir", str(fake_data), "--out", str(out), *SMALL, *extra])


def read_history(run_dir: Path) -> list[dict[str, str]]:
    with open(run_dir / "history.csv", newline="") as file:
        return list(csv.DictReader(file))


@pytest.fixture(scope="module")
def finished_run(fake_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "first"
    assert train(fake_data, out) == 0
    return out


def test_train_prints_accuracies_and_writes_the_folder(
    fake_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert train(fake_data, tmp_path / "run") == 0
    printed = capsys.readouterr().out
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert f"validation accuracy: {metrics['val_acc']:.4f}" in printed
    assert f"test accuracy: {metrics['test_acc']:.4f}" in printed
    assert "wall time:" in printed
    assert metrics["status"] == "complete" and metrics["iterations"] == 60
    assert metrics["weights"] == "final" and metrics["weights_iteration"] == 59
    assert len(read_history(tmp_path / "run")) == 60


def test_same_seed_twice_gives_byte_identical_results(
    fake_data: Path, finished_run: Path, tmp_path: Path
) -> None:
    again = tmp_path / "again"
    assert train(fake_data, again) == 0
    for name in ("metrics.json", "config.json", "history.csv"):
        assert (again / name).read_bytes() == (finished_run / name).read_bytes(), name
    with np.load(again / "weights.npz", allow_pickle=False) as a, \
            np.load(finished_run / "weights.npz", allow_pickle=False) as b:
        assert a.files == b.files
        for name in a.files:
            np.testing.assert_array_equal(a[name], b[name])


def test_another_seed_gives_another_run(
    fake_data: Path, finished_run: Path, tmp_path: Path
) -> None:
    assert train(fake_data, tmp_path / "seed1", "--seed", "1") == 0
    assert read_history(tmp_path / "seed1") != read_history(finished_run)


def test_options_override_the_preset(
    fake_data: Path, finished_run: Path, tmp_path: Path
) -> None:
    config = json.loads((finished_run / "config.json").read_text())
    expected = BEST.replace(num_training=400, num_validation=50, num_test=50, num_iters=60,
                            batch_size=50, learning_rate=1e-3)
    assert config == expected.to_dict()
    args = cli.build_parser().parse_args(["train", "--preset", "suboptimal", "--reg", "0.5"])
    assert cli_train.config_from_args(args) == SUBOPTIMAL.replace(reg=0.5)


def test_weights_load_without_pickle(finished_run: Path) -> None:
    with np.load(finished_run / "weights.npz", allow_pickle=False) as archive:
        assert set(archive.files) == {"0.W", "0.b", "2.W", "2.b", "mean_image"}
        assert archive["0.W"].dtype == np.float32 and archive["0.W"].shape == (50, 3072)


def test_evaluate_reproduces_metrics_exactly(
    fake_data: Path, finished_run: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    metrics = json.loads((finished_run / "metrics.json").read_text())
    _, measured = evaluate_run(finished_run, fake_data)
    assert (measured.val, measured.test, measured.train) == (
        metrics["val_acc"], metrics["test_acc"], metrics["train_acc"])
    assert cli.main(["evaluate", str(finished_run), "--data-dir", str(fake_data)]) == 0
    printed = capsys.readouterr().out
    assert f"validation accuracy: {metrics['val_acc']:.4f}" in printed
    assert "matches metrics.json" in printed


def test_evaluate_on_other_data_says_it_differs(
    finished_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = write_fake_cifar(tmp_path / "other", num_cases_per_batch=100, seed=7).root
    assert cli.main(["evaluate", str(finished_run), "--data-dir", str(other), "--quiet"]) == 0
    assert "differs from metrics.json" in capsys.readouterr().out


class InterruptAt(Callback):
    """Simulates Ctrl-C right after iteration ``k``."""

    def __init__(self, k: int) -> None:
        self.k = k

    def on_iteration_end(self, trainer: Trainer, iteration: int, loss: float) -> None:
        if iteration == self.k:
            raise KeyboardInterrupt


def interrupted_train(fake_data: Path, out: Path, k: int, *extra: str) -> int:
    args = cli.build_parser().parse_args(
        ["train", "--data-dir", str(fake_data), "--out", str(out), *SMALL, *extra])
    return cli_train.run(args, callbacks=[InterruptAt(k)])


def test_ctrl_c_leaves_the_best_weights_and_metrics_that_describe_them(
    fake_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "stopped"
    assert interrupted_train(fake_data, out, 37, "--learning-rate", "3e-3") == cli.EXIT_INTERRUPTED
    metrics = json.loads((out / "metrics.json").read_text())
    printed = capsys.readouterr().out
    assert "interrupted after 38 iterations; saved the weights with the best validation " in printed
    assert f"validation accuracy {metrics['val_acc']:.4f}" in printed
    assert metrics["status"] == "interrupted" and metrics["iterations"] == 38
    history = read_history(out)
    assert len(history) == 38
    # The weights are those of the epoch with the best validation accuracy so far.
    epochs = [row for row in history if row["epoch"]]
    best = max(float(row["val_acc"]) for row in epochs)
    first_best = next(row for row in epochs if float(row["val_acc"]) == best)
    assert metrics["weights"] == "best_validation"
    assert metrics["weights_iteration"] == int(first_best["iteration"])
    assert metrics["val_acc"] == best
    # ... and metrics.json states exactly what those weights score.
    _, measured = evaluate_run(out, fake_data)
    assert (measured.val, measured.test, measured.train) == (
        metrics["val_acc"], metrics["test_acc"], metrics["train_acc"])
    assert {"loss.png", "accuracy.png", "weights.png", "report.md"} <= {
        p.name for p in out.iterdir()}


def test_ctrl_c_before_the_first_epoch_end_keeps_the_last_weights(
    fake_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "early"
    # Shuffled epochs of 400 / 50 = 8 iterations: the first ends after iteration 7.
    code = interrupted_train(fake_data, out, 3, "--sampling", "shuffle")
    assert code == cli.EXIT_INTERRUPTED
    assert "saved the last weights (no epoch had ended)" in capsys.readouterr().out
    metrics = json.loads((out / "metrics.json").read_text())
    assert (metrics["weights"], metrics["weights_iteration"]) == ("last", 3)
    _, measured = evaluate_run(out, fake_data)
    assert measured.val == metrics["val_acc"]


def test_no_subcommand_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main([]) == 2
    assert "train" in capsys.readouterr().err


def test_default_run_folder_name(tmp_path: Path) -> None:
    first = default_run_dir("best", 3, parent=tmp_path)
    assert first.parent == tmp_path and first.name.endswith("-best-seed3")
    first.mkdir()
    assert default_run_dir("best", 3, parent=tmp_path).name.startswith(first.name)
    assert default_run_dir("best", 3, parent=tmp_path) != first


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["train", "--optimizer", "adamw"], "invalid choice: 'adamw'"),
        (["train", "--learning-rate", "-0.001"], "learning_rate must be a finite number > 0"),
        (["train", "--num-iters", "0"], "num_iters must be a positive integer"),
        (["train", "--num-iters", "ten"], "invalid int value"),
        (["train", "--num-training", "1000"], "exceeds the 500 training images"),
        (["train", "--data-dir", "{tmp}/missing"], "does not exist"),
        (["evaluate", "{tmp}/no-such-run"], "does not exist"),
        (["evaluate", "{corrupt}"], "corrupt or not an .npz file"),
        (["train", "--out", "{used}"], "is not empty"),
        (["frobnicate"], "invalid choice"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    argv: list[str],
    message: str,
    fake_data: Path,
    finished_run: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    for name in ("config.json", "metrics.json"):
        (corrupt / name).write_bytes((finished_run / name).read_bytes())
    (corrupt / "weights.npz").write_bytes(b"not a zip file")
    places = {"tmp": str(tmp_path), "corrupt": str(corrupt), "used": str(finished_run)}
    argv = [part.format(**places) for part in argv]
    if argv[0] == "train" and "--data-dir" not in argv:
        argv += ["--data-dir", str(fake_data)]
    if argv[0] == "train" and "--out" not in argv:
        argv += ["--out", str(tmp_path / "out")]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    # One line says what is wrong (a progress line like "loading ..." may come before it).
    assert [line for line in lines if "error:" in line] == lines[-1:], err
    assert message in lines[-1]
    assert "Traceback" not in err


def test_python_m_minigrad_train_help() -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run(
        [sys.executable, "-m", "minigrad", "train", "--help"],
        capture_output=True, text=True, timeout=120, env=env,
    )
    assert done.returncode == 0, done.stderr
    for option in ("--learning-rate", "--preset", "--dtype", "--out", "--num-training"):
        assert option in done.stdout


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_divergence_exits_1_and_leaves_no_metrics(
    fake_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "diverged"
    assert train(fake_data, out, "--learning-rate", "1e8") == cli.EXIT_DIVERGED
    assert "diverged" in capsys.readouterr().err
    assert (out / "config.json").exists() and not (out / "metrics.json").exists()
