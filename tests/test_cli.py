"""``minigrad train`` / ``minigrad evaluate`` end to end on small fake CIFAR-10 batches."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from fake_cifar import write_fake_cifar
from hostile_files import (
    bomb_npz,
    corrupt_deflate,
    deep_json,
    npy_bytes,
    npy_header,
    npz_bytes,
    set_method,
    zip_of,
)

from minigrad.cli import command as cli
from minigrad.cli import train as cli_train
from minigrad.experiment.config import BEST, SUBOPTIMAL
from minigrad.experiment.run_evaluation import evaluate_run
from minigrad.experiment.training_run import default_run_dir
from minigrad.training.callbacks import Callback
from minigrad.training.trainer import Trainer

SMALL = ["--num-training", "400", "--num-validation", "50", "--num-test", "50",
         "--num-iters", "60", "--batch-size", "50", "--learning-rate", "1e-3", "--quiet"]


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
        (["train", "--out", ""], "--out is empty"),
        (["tune", "--out", "", "--data-dir", "{tmp}"], "--out is empty"),
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


# ------------------------------------------------------------------ hostile files and options


def assert_one_line_error(err: str, message: str) -> None:
    """``err`` ends with one ``error:`` line holding ``message``, and has no traceback."""
    lines = err.strip().splitlines()
    assert [line for line in lines if "error:" in line] == lines[-1:], err
    assert message in lines[-1], err
    assert "Traceback" not in err


def copy_run(finished_run: Path, target: Path) -> Path:
    target.mkdir()
    for path in finished_run.iterdir():
        (target / path.name).write_bytes(path.read_bytes())
    return target


def weights_of(run_dir: Path) -> dict[str, np.ndarray]:
    with np.load(run_dir / "weights.npz", allow_pickle=False) as archive:
        return {name: archive[name] for name in archive.files}


def _deep(run_dir: Path) -> None:
    (run_dir / "config.json").write_bytes(deep_json(50_000))


def _huge_int(run_dir: Path) -> None:
    (run_dir / "metrics.json").write_text('{"val_acc": ' + "7" * 5000 + "}")


def _nan_metrics(run_dir: Path) -> None:
    text = (run_dir / "metrics.json").read_text()
    (run_dir / "metrics.json").write_text(text.replace('"seed": 0', '"seed": NaN'))


def _list_config(run_dir: Path) -> None:
    (run_dir / "config.json").write_text("[1, 2, 3]")


def _latin1_config(run_dir: Path) -> None:
    (run_dir / "config.json").write_bytes(b'{"dtype": "caf\xe9"}')


def _header_2_50(run_dir: Path) -> None:
    arrays = weights_of(run_dir)
    members = [(f"{k}.npy", npy_bytes(v)) for k, v in arrays.items() if k != "2.b"]
    members.append(("2.b.npy", npy_header("<f4", (2**50,)) + bytes(40)))
    (run_dir / "weights.npz").write_bytes(zip_of(members))


def _deflate_corrupt(run_dir: Path) -> None:
    compressed = npz_bytes(weights_of(run_dir), zipfile.ZIP_DEFLATED)
    (run_dir / "weights.npz").write_bytes(corrupt_deflate(compressed))


def _lzma(run_dir: Path) -> None:
    (run_dir / "weights.npz").write_bytes(npz_bytes(weights_of(run_dir), zipfile.ZIP_LZMA))


def _unknown_method(run_dir: Path) -> None:
    (run_dir / "weights.npz").write_bytes(set_method(npz_bytes(weights_of(run_dir)), 77))


def _truncated(run_dir: Path) -> None:
    data = (run_dir / "weights.npz").read_bytes()
    (run_dir / "weights.npz").write_bytes(data[: len(data) // 3])


def _object_member(run_dir: Path) -> None:
    arrays = weights_of(run_dir)
    members = [(f"{k}.npy", npy_bytes(v)) for k, v in arrays.items() if k != "2.b"]
    members.append(("2.b.npy", npy_header("|O", (10,)) + bytes(80)))
    (run_dir / "weights.npz").write_bytes(zip_of(members))


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (_deep, "config.json is not a file minigrad wrote: its JSON nests 50000 levels deep"),
        (_huge_int, "an integer of 5000 digits"),
        (_nan_metrics, "NaN is not a JSON number"),
        (_list_config, "must hold a JSON object {...}, got a JSON array"),
        (_latin1_config, "config.json is not UTF-8 text"),
        (_header_2_50, "member '2.b' declares float32 of shape (1125899906842624,)"),
        (_deflate_corrupt, "is corrupt"),
        (_lzma, "compression method 14 (LZMA); only stored and deflate"),
        (_unknown_method, "compression method 77 (unknown)"),
        (_truncated, "weights.npz is corrupt or not an .npz file"),
        (_object_member, "member '2.b' has dtype '|O'; only plain numbers"),
    ],
    ids=lambda value: getattr(value, "__name__", "")[1:] or None,
)
def test_evaluate_a_hostile_run_folder_is_one_line_and_exit_2(
    damage: object, message: str, fake_data: Path, finished_run: Path, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    run_dir = copy_run(finished_run, tmp_path / "run")
    damage(run_dir)  # type: ignore[operator]
    assert cli.main(["evaluate", str(run_dir), "--data-dir", str(fake_data), "--quiet"]) == 2
    assert_one_line_error(capsys.readouterr().err, message)


def test_an_extra_512_mib_member_is_refused_by_name_before_anything_is_inflated(
    fake_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    run_dir = tmp_path / "run"
    assert train(fake_data, run_dir, "--hidden-size", "250") == 0
    arrays = weights_of(run_dir)
    assert 3_000_000 <= sum(a.nbytes for a in arrays.values()) < 4_000_000  # a 3 MB weights.npz
    (run_dir / "weights.npz").write_bytes(bomb_npz(arrays, "extra", 512 << 20))
    assert (run_dir / "weights.npz").stat().st_size < 5 << 20
    opened: list[str] = []
    real_open = zipfile.ZipFile.open

    def spy(self: zipfile.ZipFile, name: object, *args: object, **kwargs: object) -> object:
        opened.append(getattr(name, "filename", name))  # type: ignore[arg-type]
        return real_open(self, name, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(zipfile.ZipFile, "open", spy)
    assert cli.main(["evaluate", str(run_dir), "--data-dir", str(fake_data), "--quiet"]) == 2
    assert_one_line_error(capsys.readouterr().err, "holds an unexpected array 'extra'")
    assert opened == []  # refused from the zip directory: not one member was opened


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--hidden-size", "100000000", "--hidden-size 100000000 needs about"),
        ("--batch-size", "1000000000", "--batch-size 1000000000 needs about"),
        ("--num-training", "1000000000000", "--num-training 1000000000000 needs about"),
        ("--num-iters", "0", "num_iters must be a positive integer"),
        ("--batch-size", "-5", "batch_size must be a positive integer"),
        ("--seed", "9" * 5000, "invalid int value"),
        ("--learning-rate", "1e999", "learning_rate must be a finite number > 0, got inf"),
        ("--lr-decay", "nan", "lr_decay must be a finite number"),
    ],
)
def test_train_options_that_cannot_work_are_one_line_before_any_data_is_read(
    option: str, value: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "out"
    # No data folder: the option must be refused before the data is looked for.
    argv = ["train", "--data-dir", str(tmp_path / "no-data"), "--out", str(out), option, value]
    assert cli.main(argv) == 2
    assert_one_line_error(capsys.readouterr().err, message)
    assert not out.exists()


def _symlink_loop(tmp_path: Path) -> Path:
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    return tmp_path / "a"


def _a_file(tmp_path: Path) -> Path:
    (tmp_path / "file").write_text("not a folder")
    return tmp_path / "file"


def _under_a_file(tmp_path: Path) -> Path:
    return _a_file(tmp_path) / "run"


def _broken_link(tmp_path: Path) -> Path:
    (tmp_path / "link").symlink_to(tmp_path / "nowhere")
    return tmp_path / "link"


def _unencodable(tmp_path: Path) -> Path:
    return tmp_path / "run-\ud800"  # a lone surrogate: no file system encoding takes it


@pytest.mark.parametrize(
    ("where", "message"),
    [
        (_symlink_loop, "a symbolic-link loop"),
        (_a_file, "exists and is not a folder"),
        (_under_a_file, "is not a folder"),
        (_broken_link, "is a broken symbolic link"),
        (_unencodable, "cannot be encoded by the file system"),
    ],
    ids=lambda value: getattr(value, "__name__", "")[1:] or None,
)
def test_an_unusable_out_is_one_line_before_training(
    where: object, message: str, fake_data: Path, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = where(tmp_path)  # type: ignore[operator]
    assert train(fake_data, out) == 2
    err = capsys.readouterr().err
    assert_one_line_error(err, message)
    assert "loading CIFAR-10" not in err  # refused before the data


def test_an_out_name_that_is_not_utf8_still_gets_a_complete_folder(
    fake_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = Path(os.fsdecode(os.fsencode(tmp_path) + b"/run-\xff"))  # bytes the FS keeps
    assert train(fake_data, out) == 0
    assert (out / "metrics.json").is_file()  # report.md no longer fails after training
    assert "# minigrad run run-\\udcff" in (out / "report.md").read_text(encoding="utf-8")
    assert "run folder: " in capsys.readouterr().out


def test_train_into_a_folder_another_process_writes_is_refused_naming_it(
    fake_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "busy"
    out.mkdir()
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\nfrom minigrad.files.folder_lock import "
         "lock_folder\nlock = lock_folder(sys.argv[1])\nprint('held', flush=True)\n"
         "time.sleep(60)", str(out)],
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        assert train(fake_data, out) == 2
        assert_one_line_error(capsys.readouterr().err, f"is in use by PID {holder.pid}")
    finally:
        holder.kill()
        holder.wait(timeout=30)
    assert train(fake_data, out) == 0  # the holder died: its stale lock is taken over


def test_a_failed_train_leaves_no_empty_default_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert cli.main(["train", "--data-dir", str(tmp_path / "missing"), *SMALL]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert list((tmp_path / "runs").iterdir()) == []


def test_loaded_run_predict_refuses_what_has_no_class(finished_run: Path) -> None:
    from minigrad.experiment.run_folder import load_run

    run = load_run(finished_run)
    good = np.full((2, 32, 32, 3), 128, dtype=np.uint8)
    assert run.predict(good).shape == (2,)
    np.testing.assert_array_equal(run.predict(good.reshape(2, -1)), run.predict(good))
    cases: list[tuple[object, type, str]] = [
        (np.full((2, 3072), np.nan), ValueError, "images contains 6144 NaN or inf"),
        (np.full((1, 32, 32, 3), np.inf, dtype=np.float32), ValueError, "NaN or inf"),
        (np.zeros((0, 3072)), ValueError, "empty batch"),
        (np.zeros((0, 32, 32, 3)), ValueError, "empty batch"),
        ("an image", TypeError, "must be a numpy array, got str"),
        (np.array(["a"] * 3072).reshape(1, 3072), TypeError, "must hold real numbers"),
        (np.zeros((2, 3072), dtype=bool), TypeError, "must hold real numbers"),
        (np.zeros((2, 3072), dtype=complex), TypeError, "must hold real numbers"),
        (np.zeros((2, 3, 32, 32)), ValueError, r"shape \(N, 32, 32, 3\) or \(N, 3072\)"),
        (np.zeros((2, 3071)), ValueError, r"got \(2, 3071\)"),
        (np.zeros(3072), ValueError, r"got \(3072,\)"),
        (np.array(5.0), ValueError, r"got \(\)"),
    ]
    for images, error, message in cases:
        with pytest.raises(error, match=message):
            run.predict(images)  # type: ignore[arg-type]
