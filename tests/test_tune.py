"""``minigrad tune``: reproducible trials, streamed results, divergence, interrupt and resume."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from fake_cifar import write_fake_cifar
from hypothesis import given
from hypothesis import strategies as st

from minigrad.cli.command import main
from minigrad.tune.results import (
    COLUMNS,
    TrialLog,
    TrialResult,
    best_result,
    leaderboard,
    read_results,
    result_row,
)
from minigrad.tune.search import RESULTS_FILE, SearchSettings, run_search, write_summary
from minigrad.tune.space import (
    LR_FAMILIES,
    SearchSpace,
    Trial,
    TuneError,
    sample_trials,
)

REPO = Path(__file__).resolve().parent.parent


def _split(num_train: int = 120, width: int = 12, seed: int = 0) -> SimpleNamespace:
    """Random rows whose label is the arg-max of a few features: learnable, and fast."""
    rng = np.random.default_rng(seed)

    def rows(n: int) -> tuple[np.ndarray, np.ndarray]:
        X = rng.standard_normal((n, width)).astype(np.float32)
        return X, np.argmax(X[:, :10], axis=1)

    (X_train, y_train), (X_val, y_val), (X_test, y_test) = rows(num_train), rows(40), rows(40)
    return SimpleNamespace(X_train=X_train, y_train=y_train, X_val=X_val, y_val=y_val,
                           X_test=X_test, y_test=y_test)


SMALL = SearchSpace(num_iters=(20, 40), batch_sizes=(10, 20), std=0.1)


# ------------------------------------------------------------------ the search space


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"lr_sgd": (-1e-3, 1e-2)}, "lr_sgd LOW must be a finite number > 0, got -0.001"),
        ({"lr_adaptive": (1e-2, 1e-4)}, "lr_adaptive must be LOW <= HIGH"),
        ({"reg": (0.0, 1.0)}, "reg LOW must be a finite number > 0, got 0.0"),
        ({"reg": (-0.5, 1.0)}, "reg LOW must be a finite number > 0"),
        ({"lr_decay": (0.9, 1.5)}, r"lr_decay HIGH must be a finite number > 0 and <= 1, got 1.5"),
        ({"optimizers": ("adam", "lbfgs")}, "unknown optimizer 'lbfgs'"),
        ({"optimizers": ()}, "at least one optimiser"),
        ({"batch_sizes": (100, 0)}, r"batch_sizes\[1\] must be a positive integer, got 0"),
        ({"num_iters": (0, 10)}, "num_iters LOW must be a positive integer, got 0"),
        ({"num_epochs": (5, 2)}, "num_epochs must be LOW <= HIGH"),
        ({"hidden_size": -3}, "hidden_size must be a positive integer"),
        ({"sampling": "random"}, "unknown sampling 'random'"),
        ({"num_iters": (1.5, 3)}, "num_iters LOW must be an integer, got float 1.5"),
        ({"reg": 0.5}, "reg must be a pair LOW HIGH, got 0.5"),
        ({"lr_sgd": (1e-3, "1e-2")}, "lr_sgd HIGH must be a real number, got str '1e-2'"),
    ],
)
def test_bad_search_space_is_named(kwargs: dict, message: str) -> None:
    with pytest.raises(TuneError, match=message):
        SearchSpace(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"num_trials": 0}, "num_trials must be a positive integer"),
        ({"seed": -1}, "seed must be >= 0, got -1"),
        ({"patience": 0}, "patience must be a positive integer"),
        ({"target_acc": 1.5}, "target_acc must be a finite number > 0 and <= 1, got 1.5"),
        ({"seed": True}, "seed must be an integer, got bool True"),
        ({"patience": 2.0}, "patience must be an integer, got float 2.0"),
    ],
)
def test_bad_search_settings_are_named(kwargs: dict, message: str) -> None:
    with pytest.raises(TuneError, match=message):
        SearchSettings(**kwargs)


def test_settings_are_normalised_to_json_scalars() -> None:
    settings = SearchSettings(num_trials=np.int64(3), seed=np.int32(4), target_acc=1)
    assert (type(settings.num_trials), type(settings.seed)) == (int, int)
    assert isinstance(settings.target_acc, float) and settings.target_acc == 1.0
    with pytest.raises(TuneError, match="num_trials must be a positive integer, got 0"):
        sample_trials(SearchSpace(), 0, 0, num_train=100)


@given(seed=st.integers(0, 2**32 - 1), epochs=st.booleans())
def test_trials_are_reproducible_in_range_and_prefix_stable(seed: int, epochs: bool) -> None:
    space = SearchSpace(num_epochs=(2, 5) if epochs else None)
    trials = sample_trials(space, seed, 12, num_train=1000)
    assert trials == sample_trials(space, seed, 12, num_train=1000)
    assert trials[:5] == sample_trials(space, seed, 5, num_train=1000)  # more trials: same first
    assert [t.trial_id for t in trials] == list(range(12))
    for trial in trials:
        low, high = space.lr_range(trial.optimizer)
        assert low <= trial.learning_rate <= high * (1 + 1e-12)
        assert space.reg[0] <= trial.reg <= space.reg[1] * (1 + 1e-12)
        assert space.lr_decay[0] <= trial.lr_decay <= space.lr_decay[1]
        assert trial.batch_size in space.batch_sizes
        if epochs:
            assert trial.num_epochs is not None and 2 <= trial.num_epochs <= 5
            assert trial.num_iters == trial.num_epochs * (1000 // trial.batch_size)
        else:
            assert trial.num_epochs is None and 1000 <= trial.num_iters <= 4000


def test_learning_rates_follow_the_optimizer_family() -> None:
    trials = sample_trials(SearchSpace(), 0, 200, num_train=1000)
    for family, (low, high) in {"sgd": (1e-4, 3e-3), "momentum": (3e-5, 1e-3),
                                "adaptive": (1e-4, 1e-2)}.items():
        rates = [t.learning_rate for t in trials if LR_FAMILIES[t.optimizer] == family]
        assert rates and low <= min(rates) and max(rates) <= high
    assert {t.optimizer for t in trials} == set(LR_FAMILIES)
    # Log-uniform: about half the draws below the geometric midpoint.
    adaptive = [t.learning_rate for t in trials if LR_FAMILIES[t.optimizer] == "adaptive"]
    assert 0.3 < np.mean(np.array(adaptive) < 1e-3) < 0.7


def test_changing_one_range_changes_only_that_setting() -> None:
    before = sample_trials(SearchSpace(), 3, 10, num_train=1000)
    after = sample_trials(SearchSpace(reg=(0.05, 0.5)), 3, 10, num_train=1000)
    for old, new in zip(before, after, strict=True):
        assert (old.optimizer, old.learning_rate, old.batch_size, old.seed) == (
            new.optimizer, new.learning_rate, new.batch_size, new.seed)
        assert 0.05 <= new.reg <= 0.5 + 1e-12


# ------------------------------------------------------------------ the results file


def _result(
    trial_id: int, status: str = "ok", val_acc: float | None = 0.1 + 0.01 / 3
) -> TrialResult:
    trial = Trial(trial_id, "adam", 1e-3 / 7, 0.1 / 3, 0.95, 200, 1000, None, 12345)
    return TrialResult(trial, status, val_acc=val_acc, best_val_acc=val_acc, train_acc=0.5,
                       iterations=1000, seconds=1 / 3, iters_to_target=None,
                       message="" if status == "ok" else "boom,\n with \"quotes\"")


def test_results_round_trip_exactly(tmp_path: Path) -> None:
    log, previous = TrialLog.open(tmp_path / "t.csv", resume=False)
    assert previous == []
    written = [_result(0), _result(1, "diverged", None), _result(2, "failed", None)]
    with log:
        for result in written:
            log.append(result)
    back = read_results(tmp_path / "t.csv")
    assert [r.trial for r in back] == [r.trial for r in written]
    assert back[0] == written[0]
    assert back[2].message == 'boom, with "quotes"'  # one line per trial
    header = (tmp_path / "t.csv").read_text().splitlines()[0]
    assert header.split(",") == list(COLUMNS)


def test_a_torn_last_row_is_dropped_on_resume(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    log, _ = TrialLog.open(path, resume=False)
    with log:
        log.append(_result(0))
    with open(path, "a") as file:  # killed in the middle of writing trial 1
        file.write(",".join(result_row(_result(1)))[:20])
    log, previous = TrialLog.open(path, resume=True)
    with log:
        assert [r.trial.trial_id for r in previous] == [0]
        log.append(_result(1))
    assert [r.trial.trial_id for r in read_results(path)] == [0, 1]


def test_bad_results_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(TuneError, match="nothing to resume"):
        TrialLog.open(tmp_path / "none.csv", resume=True)
    (tmp_path / "other.csv").write_text("a,b\n1,2\n")
    with pytest.raises(TuneError, match="not a results file"):
        TrialLog.open(tmp_path / "other.csv", resume=True)
    with pytest.raises(TuneError, match="exists; pass --resume"):
        TrialLog.open(tmp_path / "other.csv", resume=False)
    path = tmp_path / "dup.csv"
    log, _ = TrialLog.open(path, resume=False)
    with log:
        log.append(_result(4))
        log.append(_result(4))
    with pytest.raises(TuneError, match="line 3: trial 4 appears twice"):
        read_results(path)
    lines = path.read_text().splitlines()
    path.write_text("\n".join([lines[0], lines[1].replace(",ok,", ",great,")]) + "\n")
    with pytest.raises(TuneError, match="line 2: unknown status 'great'"):
        read_results(path)


def test_leaderboard_ranks_by_validation_accuracy() -> None:
    results = [_result(0, val_acc=0.3), _result(1, val_acc=0.5), _result(2, "diverged", None),
               _result(3, val_acc=0.5)]
    assert best_result(results) == results[1]  # ties: the lower trial id
    board = leaderboard(results, top=2).splitlines()
    assert board[1].split()[:2] == ["1", "1"] and board[2].split()[:2] == ["2", "3"]
    assert len(board) == 4
    assert board[-1] == "4 trials: 3 ok, 1 diverged, 0 failed"


# ------------------------------------------------------------------ running a search


def test_a_diverging_trial_is_recorded_and_the_search_goes_on(tmp_path: Path) -> None:
    space = SearchSpace(optimizers=("sgd", "adam"), lr_sgd=(1e8, 1e8), num_iters=(20, 40),
                        batch_sizes=(20,), std=0.1)
    results = run_search(_split(), SearchSettings(space, num_trials=6, seed=0), tmp_path,
                         progress=False)
    statuses = {(r.trial.optimizer, r.status) for r in results}
    assert statuses == {("sgd", "diverged"), ("adam", "ok")}
    for r in results:
        if r.status == "diverged":
            assert r.val_acc is None and "diverged" in r.message
        else:
            assert r.val_acc is not None and 0 <= r.val_acc <= 1 and r.iterations > 0
    assert len(read_results(tmp_path / RESULTS_FILE)) == 6
    board = write_summary(tmp_path, results)
    assert "diverged" in board.splitlines()[-1]
    assert (tmp_path / "search.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "leaderboard.txt").read_text().strip() == board


def test_a_failing_trial_is_recorded_as_failed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import minigrad.tune.workers as workers

    real_training = workers.run_training

    def flaky(config: object, split: object, callbacks: object) -> object:
        if config.optimizer == "rmsprop":  # type: ignore[attr-defined]
            raise MemoryError("out of memory in this trial")
        return real_training(config, split, callbacks)  # type: ignore[arg-type]

    monkeypatch.setattr(workers, "run_training", flaky)
    results = run_search(_split(), SearchSettings(SMALL, num_trials=4), tmp_path, progress=False)
    assert {r.status for r in results if r.trial.optimizer == "rmsprop"} == {"failed"}
    assert {r.status for r in results if r.trial.optimizer != "rmsprop"} == {"ok"}
    failed = next(r for r in results if r.status == "failed")
    assert failed.message == "MemoryError: out of memory in this trial"


def test_data_of_another_dtype_is_refused_before_any_trial(tmp_path: Path) -> None:
    split = _split()
    split.X_val = split.X_val.astype(np.float64)
    with pytest.raises(TuneError, match="X_val is float64 but the search uses float32"):
        run_search(split, SearchSettings(SMALL, num_trials=2), tmp_path, progress=False)
    assert not (tmp_path / RESULTS_FILE).exists()


def test_target_accuracy_and_patience_are_recorded(tmp_path: Path) -> None:
    space = SearchSpace(optimizers=("adam",), lr_adaptive=(1e-2, 1e-2), num_iters=(300, 300),
                        batch_sizes=(20,), std=0.1)
    settings = SearchSettings(space, num_trials=1, target_acc=0.3, patience=2)
    (result,) = run_search(_split(), settings, tmp_path, progress=False)
    assert result.iters_to_target is not None and result.iters_to_target % 6 == 0
    assert result.seconds_to_target is not None and 0 < result.seconds_to_target <= result.seconds
    assert result.iterations < 300  # patience ended it early


def test_parallel_workers_give_the_same_results(tmp_path: Path) -> None:
    split, settings = _split(), SearchSettings(SMALL, num_trials=4, seed=1)
    serial = run_search(split, settings, tmp_path / "serial", workers=1, progress=False)
    parallel = run_search(split, settings, tmp_path / "parallel", workers=2, progress=False)
    by_id = {r.trial.trial_id: r for r in parallel}
    assert sorted(by_id) == [0, 1, 2, 3]
    for r in serial:
        assert (by_id[r.trial.trial_id].status, by_id[r.trial.trial_id].val_acc) == (
            r.status, r.val_acc)


def test_an_interrupted_search_resumes_without_losing_or_rerunning_trials(tmp_path: Path) -> None:
    split, settings = _split(), SearchSettings(SMALL, num_trials=7, seed=2)
    seen: list[int] = []

    def interrupt_after_three(result: TrialResult) -> None:
        seen.append(result.trial.trial_id)
        if len(seen) == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_search(split, settings, tmp_path, progress=False, on_result=interrupt_after_three)
    first = read_results(tmp_path / RESULTS_FILE)
    assert [r.trial.trial_id for r in first] == seen == [0, 1, 2]

    rerun: list[int] = []
    results = run_search(split, settings, tmp_path, resume=True, progress=False,
                         on_result=lambda r: rerun.append(r.trial.trial_id))
    assert rerun == [3, 4, 5, 6]
    final = read_results(tmp_path / RESULTS_FILE)
    assert sorted(r.trial.trial_id for r in final) == list(range(7))
    assert final[:3] == first  # the finished rows are untouched
    assert results == final
    # Extending the search runs only the new trials.
    more: list[int] = []
    run_search(split, SearchSettings(SMALL, num_trials=9, seed=2), tmp_path, resume=True,
               progress=False, on_result=lambda r: more.append(r.trial.trial_id))
    assert more == [7, 8]


def test_resume_refuses_other_settings_or_data(tmp_path: Path) -> None:
    split, settings = _split(), SearchSettings(SMALL, num_trials=2, seed=0)
    run_search(split, settings, tmp_path, progress=False)
    with pytest.raises(TuneError, match=r"space.reg, seed differ"):
        run_search(split, SearchSettings(SearchSpace(num_iters=(20, 40), batch_sizes=(10, 20),
                                                     std=0.1, reg=(0.1, 0.2)), 2, seed=1),
                   tmp_path, resume=True, progress=False)
    with pytest.raises(TuneError, match="ran on a split of sizes"):
        run_search(_split(num_train=100), settings, tmp_path, resume=True, progress=False)
    with pytest.raises(TuneError, match="exists; resume that search"):
        run_search(split, settings, tmp_path, progress=False)
    with pytest.raises(TuneError, match="search.json is missing"):
        run_search(split, settings, tmp_path / "elsewhere", resume=True, progress=False)


def test_resume_refuses_a_results_file_edited_to_other_trials(tmp_path: Path) -> None:
    split, settings = _split(), SearchSettings(SMALL, num_trials=2, seed=0)
    run_search(split, settings, tmp_path, progress=False)
    path = tmp_path / RESULTS_FILE
    rows = list(csv.reader(path.read_text().splitlines()))
    rows[1][COLUMNS.index("reg")] = "0.5"
    path.write_text("\n".join(",".join(row) for row in rows) + "\n")
    with pytest.raises(TuneError, match="was drawn with other settings"):
        run_search(split, settings, tmp_path, resume=True, progress=False)


# ------------------------------------------------------------------ the command line


@pytest.fixture(scope="module")
def fake_cifar(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_fake_cifar(tmp_path_factory.mktemp("cifar"), num_cases_per_batch=30).root


def _tune_args(data: Path, out: Path, trials: int, iters: str = "60 80") -> list[str]:
    return [
        "tune", "--data-dir", str(data), "--out", str(out), "--trials", str(trials),
        "--num-training", "120", "--num-validation", "20", "--num-test", "20",
        "--num-iters", *iters.split(), "--batch-sizes", "20", "--std", "0.01",
        "--optimizers", "adam", "sgd", "--workers", "1", "--quiet",
    ]


@pytest.mark.parametrize("workers", ["1", "2"])
def test_cli_tune_writes_results_plot_and_the_best_run_folder(
    fake_cifar: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], workers: str
) -> None:
    out = tmp_path / "search"
    assert main([*_tune_args(fake_cifar, out, 3, "10 15"), "--workers", workers]) == 0
    printed = capsys.readouterr().out
    results = read_results(out / RESULTS_FILE)
    assert len(results) == 3
    best = best_result(results)
    assert best is not None
    assert "3 trials:" in printed and f"best-trial-{best.trial.trial_id:04d}" in printed
    run_dir = out / f"best-trial-{best.trial.trial_id:04d}"
    for name in ("config.json", "weights.npz", "metrics.json", "history.csv"):
        assert (run_dir / name).is_file()
    import json

    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["val_acc"] == best.val_acc  # the retrained net is the trial's net
    assert (out / "search.png").is_file()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--lr-sgd", "-0.001", "0.01"], "lr_sgd LOW must be a finite number > 0"),
        (["--reg", "-0.1", "1"], "reg LOW must be a finite number > 0"),
        (["--workers", "0"], "--workers must be a positive integer"),
        (["--trials", "0"], "num_trials must be a positive integer"),
    ],
)
def test_cli_bad_options_are_named(
    fake_cifar: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str],
    message: str,
) -> None:
    assert main(_tune_args(fake_cifar, tmp_path / "s", 2) + extra) == 2
    assert message in capsys.readouterr().err


def test_cli_resume_needs_out(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tune", "--resume"]) == 2
    assert "--resume needs --out" in capsys.readouterr().err
    assert main(["tune", "--optimizers", "lbfgs"]) == 2
    assert "invalid choice: 'lbfgs'" in capsys.readouterr().err


def test_a_killed_cli_search_resumes_every_trial_exactly_once(
    fake_cifar: Path, tmp_path: Path
) -> None:
    out, trials = tmp_path / "search", 20
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
           "MPLBACKEND": "Agg"}
    args = [sys.executable, "-m", "minigrad", *_tune_args(fake_cifar, out, trials, "100 150"),
            "--no-save-best"]
    process = subprocess.Popen(args, cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
    csv_path, deadline = out / RESULTS_FILE, time.monotonic() + 120
    try:
        while time.monotonic() < deadline and process.poll() is None:
            if csv_path.exists() and csv_path.read_text().count("\n") >= 1 + 3:
                break
            time.sleep(0.01)
        process.send_signal(signal.SIGKILL)  # no chance to clean up
    finally:
        process.wait(timeout=30)
    before = read_results(csv_path)
    assert 3 <= len(before) < trials, process.stderr.read().decode()  # type: ignore[union-attr]

    resumed = subprocess.run([*args, "--resume"], cwd=REPO, env=env, capture_output=True,
                             text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    after = read_results(csv_path)
    ids = [r.trial.trial_id for r in after]
    assert sorted(ids) == list(range(trials))  # every trial exactly once
    assert after[: len(before)] == before  # the finished ones were not run again
    assert f"{trials} trials:" in resumed.stdout


# ------------------------------------------------------------------ hostile input


def _one_line(err: str, message: str) -> None:
    lines = err.strip().splitlines()
    assert [line for line in lines if "error:" in line] == lines[-1:], err
    assert message in lines[-1], err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--top", "-1"], "--top must be a positive integer, got -1"),
        (["--top", "0"], "--top must be a positive integer, got 0"),
        (["--trials", "1000000000"], "num_trials must be <= 1000000, got 1000000000"),
        (["--hidden-size", "100000000"], "--hidden-size 100000000 needs about"),
        (["--batch-sizes", "20", "1000000000"], "--batch-sizes 1000000000 needs about"),
        (["--num-iters", "0", "10"], "num_iters LOW must be a positive integer, got 0"),
        (["--target-acc", "nan"], "target_acc must be a finite number"),
    ],
)
def test_cli_options_that_cannot_work_are_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    # No data: every option must be refused before the data is looked for.
    assert main(_tune_args(tmp_path / "no-data", tmp_path / "s", 2) + extra) == 2
    _one_line(capsys.readouterr().err, message)
    assert not (tmp_path / "s").exists()


def test_leaderboard_refuses_a_negative_top() -> None:
    results = [_result(0, val_acc=0.3), _result(1, val_acc=0.5)]
    with pytest.raises(TuneError, match="top must be a positive integer, got -1"):
        leaderboard(results, top=-1)
    assert len(leaderboard(results, top=1).splitlines()) == 3  # header, one row, counts


@pytest.fixture(scope="module")
def small_search(fake_cifar: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("search") / "s"
    assert main([*_tune_args(fake_cifar, out, 2, "10 12"), "--no-save-best"]) == 0
    return out


def _copy(folder: Path, target: Path) -> Path:
    target.mkdir()
    for path in folder.iterdir():
        if path.is_file():
            (target / path.name).write_bytes(path.read_bytes())
    return target


def _row_edit(column: str, value: str) -> object:
    def edit(folder: Path) -> None:
        lines = (folder / RESULTS_FILE).read_text().splitlines()
        cells = next(csv.reader([lines[1]]))
        cells[COLUMNS.index(column)] = value
        lines[1] = ",".join(cells)
        (folder / RESULTS_FILE).write_text("\n".join(lines) + "\n")

    return edit


def _bytes_in_results(data: bytes) -> object:
    def edit(folder: Path) -> None:
        (folder / RESULTS_FILE).write_bytes((folder / RESULTS_FILE).read_bytes() + data)

    return edit


def _search_json(text: bytes) -> object:
    def edit(folder: Path) -> None:
        (folder / "search.json").write_bytes(text)

    return edit


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (_bytes_in_results(b"3,ok,adam,\xff\xfe\n"), "trials.csv is not UTF-8 text"),
        (_bytes_in_results(b"3,ok\x00,adam\n"), "trials.csv, line 4: "),
        (_bytes_in_results(b'"' + b"x" * 200_000 + b'"\n'), "field larger than field limit"),
        (_row_edit("val_acc", "nan"), "line 2: val_acc must be a finite number >= 0 and <= 1"),
        (_row_edit("val_acc", "1.5"), "line 2: val_acc must be a finite number >= 0 and <= 1"),
        (_row_edit("trial_id", "-1"), "line 2: trial_id must be >= 0, got -1"),
        (_row_edit("seconds", "-inf"), "line 2: seconds must be a finite number >= 0"),
        (_row_edit("optimizer", "lbfgs"), "line 2: unknown optimizer 'lbfgs'"),
        (_row_edit("iterations", "9" * 5000), "line 2: "),
        (_search_json(b"[" * 20_000 + b"]" * 20_000), "search.json is not a file minigrad wrote"),
        (_search_json(b"[1, 2]"), "search.json must hold a JSON object"),
        (_search_json(b'{"settings": [1], "data": {"num_training": 120, "num_validation": 20, '
                      b'"num_test": 20}}'), "search settings must be a mapping, got list"),
        (_search_json(b'{"settings": {}, "data": 5}'), "'data' must give the three split sizes"),
        (_search_json(b'{"settings": {"seed": ' + b"1" * 4400 + b'}}'), "an integer of 4400"),
    ],
)
def test_cli_resume_of_a_damaged_search_is_one_line(
    small_search: Path, fake_cifar: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    damage: object, message: str,
) -> None:
    folder = _copy(small_search, tmp_path / "s")
    damage(folder)  # type: ignore[operator]
    assert main([*_tune_args(fake_cifar, folder, 3, "10 12"), "--resume", "--no-save-best"]) == 2
    _one_line(capsys.readouterr().err, message)


def test_cli_tune_into_a_folder_another_process_writes_is_refused(
    small_search: Path, fake_cifar: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = _copy(small_search, tmp_path / "s")
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\nfrom minigrad.files.folder_lock import "
         "lock_folder\nlock = lock_folder(sys.argv[1])\nprint('held', flush=True)\n"
         "time.sleep(60)", str(folder)],
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        argv = [*_tune_args(fake_cifar, folder, 3, "10 12"), "--resume", "--no-save-best"]
        assert main(argv) == 2
        _one_line(capsys.readouterr().err, f"is in use by PID {holder.pid}")
        assert len(read_results(folder / RESULTS_FILE)) == 2  # nothing was run or written
    finally:
        holder.kill()
        holder.wait(timeout=30)


def test_a_search_without_out_gets_its_own_folder(
    fake_cifar: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    args = _tune_args(fake_cifar, tmp_path, 1, "10 12")
    args = args[: args.index("--out")] + args[args.index("--out") + 2 :]
    assert main([*args, "--no-save-best"]) == 0
    assert main([*args, "--no-save-best"]) == 0  # same second, same seed: a -2 folder
    folders = sorted(p.name for p in (tmp_path / "runs").iterdir())
    assert len(folders) == 2 and all("-tune-seed0" in name for name in folders)
    assert all(not (tmp_path / "runs" / n / ".minigrad.lock").exists() for n in folders)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"optimizers": "sgd"}, "optimizers must be a list of optimiser names, got 'sgd'"),
        ({"batch_sizes": 5}, "batch_sizes must be a list of batch sizes, got 5"),
        ({"lr_sgd": [[1, 2], [3]]}, "lr_sgd LOW must be a real number, got list"),
    ],
)
def test_search_space_values_of_the_wrong_kind_are_named(kwargs: dict, message: str) -> None:
    with pytest.raises(TuneError, match=message):
        SearchSpace.from_dict(kwargs)


def test_a_failed_search_leaves_no_empty_default_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    args = _tune_args(tmp_path / "no-data", tmp_path, 1)
    args = args[: args.index("--out")] + args[args.index("--out") + 2 :]
    assert main(args) == 2
    assert "does not exist" in capsys.readouterr().err
    assert list((tmp_path / "runs").iterdir()) == []
