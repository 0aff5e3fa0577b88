"""The training job and its run folder: config, determinism, KeepBest, files, load_run."""

from __future__ import annotations

import io
import json
import pickle
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from minigrad.data import Cifar10Split
from minigrad.experiment.config import BEST, SUBOPTIMAL, ConfigError, TrainConfig
from minigrad.experiment.job import Accuracies, TrainingInterrupted, build_model, run_training
from minigrad.experiment.progress import ProgressBar
from minigrad.experiment.run_folder import (
    CONFIG_FILE,
    METRICS_FILE,
    WEIGHTS_FILE,
    RunFolderError,
    center_rows,
    claim_new_run_folder,
    claim_run_folder,
    history_csv,
    history_from_csv,
    load_run,
    prepare_run_folder,
    read_history,
    run_metrics,
    timing_record,
    write_config,
    write_results,
)
from minigrad.files.atomic import (
    atomic_write,
    write_json_atomic,
    write_npz_atomic,
    write_text_atomic,
)
from minigrad.training.callbacks import Callback
from minigrad.training.history import History
from minigrad.training.keep_best import KeepBest

TINY = TrainConfig(hidden_size=6, num_iters=30, batch_size=20, learning_rate=1e-3, reg=0.01,
                   num_training=100, num_validation=30, num_test=30)


def synthetic_split(dtype: str = "float32", seed: int = 0) -> Cifar10Split:
    """Random 3072-wide rows with labels that depend on them (so training can learn)."""
    rng = np.random.default_rng(seed)
    mean = rng.uniform(100, 150, 3072)

    def rows(n: int) -> tuple[np.ndarray, np.ndarray]:
        X = rng.standard_normal((n, 3072)).astype(dtype)
        return X, np.argmax(X[:, :10], axis=1).astype(np.int64)

    X_train, y_train = rows(100)
    X_val, y_val = rows(30)
    X_test, y_test = rows(30)
    return Cifar10Split(X_train, y_train, X_val, y_val, X_test, y_test, mean)


# ---------------------------------------------------------------- TrainConfig


def test_presets_are_the_workbooks_settings() -> None:
    assert (BEST.hidden_size, BEST.num_iters, BEST.batch_size) == (50, 12000, 200)
    assert (BEST.learning_rate, BEST.lr_decay, BEST.reg) == (4e-4, 0.95, 0.3)
    assert (SUBOPTIMAL.num_iters, SUBOPTIMAL.learning_rate, SUBOPTIMAL.reg) == (1000, 1e-4, 0.25)
    assert BEST.dtype == "float32" and BEST.sampling == "replacement"


def test_config_round_trips_through_json_and_pickle() -> None:
    config = BEST.replace(seed=3, optimizer="adam", reg=0)
    assert TrainConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    assert pickle.loads(pickle.dumps(config)) == config
    assert isinstance(config.reg, float)  # normalised, so JSON is stable


def test_config_from_dict_fills_missing_keys_and_rejects_unknown_ones() -> None:
    assert TrainConfig.from_dict({"seed": 4}) == BEST.replace(seed=4)
    with pytest.raises(ConfigError, match="'lerning_rate'"):
        TrainConfig.from_dict({"lerning_rate": 1e-3})


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"learning_rate": -1e-3}, "learning_rate must be a finite number > 0"),
        ({"learning_rate": float("nan")}, "learning_rate"),
        ({"lr_decay": 1.5}, "lr_decay"),
        ({"reg": -0.1}, "reg"),
        ({"hidden_size": 0}, "hidden_size must be a positive integer"),
        ({"num_iters": 2.5}, "num_iters"),
        ({"batch_size": True}, "batch_size"),
        ({"seed": -1}, "seed"),
        ({"dtype": "float16"}, "unknown dtype 'float16'"),
        ({"optimizer": "adamw"}, "unknown optimizer 'adamw'; choose one of"),
        ({"sampling": "bootstrap"}, "unknown sampling"),
    ],
)
def test_bad_settings_are_named(change: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        BEST.replace(**change)


# ---------------------------------------------------------------- run_training


def test_same_seed_same_numbers_other_seed_other_numbers() -> None:
    split = synthetic_split()
    first, again = run_training(TINY, split), run_training(TINY, split)
    assert first.history == again.history
    assert (first.val_acc, first.test_acc, first.train_acc) == (
        again.val_acc, again.test_acc, again.train_acc)
    for name, array in first.model.params.items():
        np.testing.assert_array_equal(array, again.model.params[name])
    other = run_training(TINY.replace(seed=1), split)
    assert other.history.loss != first.history.loss


def test_run_training_does_not_touch_numpys_global_generator() -> None:
    np.random.seed(123)
    expected = np.random.random()
    np.random.seed(123)
    run_training(TINY, synthetic_split())
    assert np.random.random() == expected


def test_run_training_learns_and_reports_the_final_weights() -> None:
    split = synthetic_split()
    result = run_training(TINY.replace(num_iters=200, learning_rate=0.1, reg=0.0), split)
    assert result.iterations == 200 and len(result.history.loss) == 200
    # It fits the 100 training rows (chance is 0.1, the initial loss ln 10 = 2.30).
    assert np.mean(result.history.loss[-10:]) < 1.5 and result.train_acc > 0.3
    predictions = np.argmax(result.model.forward(split.X_val), axis=1)
    assert result.val_acc == float(np.mean(predictions == split.y_val))
    assert result.model.params["0.W"].dtype == np.float32


def test_run_training_rejects_data_in_another_dtype() -> None:
    with pytest.raises(ConfigError, match="float64.*dtype='float32'"):
        run_training(TINY, synthetic_split("float64"))


def test_shuffle_sampling_and_other_optimizers_run() -> None:
    result = run_training(TINY.replace(sampling="shuffle", optimizer="momentum"),
                          synthetic_split())
    assert len(result.history.epoch_iterations) == 30 // (100 // 20)


# ---------------------------------------------------------------- KeepBest, ProgressBar


def test_keep_best_copies_on_improvement_only_and_restores() -> None:
    model = build_model(TINY, 4)
    trainer = SimpleNamespace(model=model, iteration=0)
    improvements: list[float | None] = []
    keeper = KeepBest(on_improve=lambda k: improvements.append(k.best_val_acc))
    keeper.on_train_begin(trainer)  # type: ignore[arg-type]
    assert not keeper.has_best
    for iteration, val_acc in enumerate([0.2, 0.5, 0.5, 0.3, None]):
        for array in model.params.values():
            array.fill(iteration)  # the "weights" after this epoch
        trainer.iteration = iteration
        keeper.on_epoch_end(trainer, iteration, 0.0, val_acc)  # type: ignore[arg-type]
    assert improvements == [0.2, 0.5]  # the tie and the drop are no improvement
    assert (keeper.best_val_acc, keeper.best_epoch, keeper.best_iteration) == (0.5, 1, 1)
    held = model.params["0.W"]
    keeper.restore(model)
    assert model.params["0.W"] is held and np.all(held == 1.0)


def test_keep_best_restore_before_any_epoch_is_an_error() -> None:
    with pytest.raises(RuntimeError, match="no best state yet"):
        KeepBest().restore(build_model(TINY, 4))


def test_progress_bar_draws_when_enabled_and_stays_silent_when_not() -> None:
    split = synthetic_split()
    shown, hidden = io.StringIO(), io.StringIO()
    run_training(TINY, split, [ProgressBar(TINY.num_iters, every=10, enabled=True, file=shown)])
    run_training(TINY, split, [ProgressBar(TINY.num_iters, file=hidden)])  # not a TTY
    assert "30/30" in shown.getvalue() and "loss=" in shown.getvalue()
    assert hidden.getvalue() == ""


# ---------------------------------------------------------------- files


def test_history_csv_round_trips_and_fills_epoch_rows_only() -> None:
    history = History(loss=[2.3, 2.1, 1.9, 1.8], train_acc=[0.1, 0.3], val_acc=[0.15, 0.25],
                      epoch_iterations=[0, 2])
    text = history_csv(history)
    lines = text.splitlines()
    assert lines[0] == "iteration,loss,epoch,train_acc,val_acc"
    assert lines[1] == "0,2.3,0,0.1,0.15"
    assert lines[2] == "1,2.1,,,"
    assert history_from_csv(text) == history
    without_val = History(loss=[1.0], train_acc=[0.5], epoch_iterations=[0])
    assert history_from_csv(history_csv(without_val)) == without_val


def test_history_csv_with_a_bad_header_is_refused() -> None:
    with pytest.raises(RunFolderError, match="header"):
        history_from_csv("a,b\n1,2\n")


def test_atomic_write_failure_keeps_the_old_file_and_leaves_no_temp(tmp_path: Path) -> None:
    target = write_text_atomic(tmp_path / "x.txt", "old")

    def fail(file: object) -> None:
        file.write(b"half")  # type: ignore[attr-defined]
        raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError):
        atomic_write(target, fail)
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["x.txt"]


def test_atomic_writers_refuse_what_would_need_pickle_or_is_not_json(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="object"):
        write_npz_atomic(tmp_path / "w.npz", {"a": np.array([None, 1])})
    with pytest.raises(ValueError):
        write_json_atomic(tmp_path / "m.json", {"val_acc": float("nan")})
    assert list(tmp_path.iterdir()) == []


def test_center_rows_matches_the_float64_subtraction_rounded_once() -> None:
    rng = np.random.default_rng(0)
    raw = rng.integers(0, 256, (5, 32, 32, 3), dtype=np.uint8)
    mean = rng.uniform(0, 255, 3072)
    rows = center_rows(raw, mean, "float32")
    assert rows.shape == (5, 3072) and rows.dtype == np.float32
    np.testing.assert_array_equal(rows, (raw.reshape(5, -1) - mean).astype(np.float32))


def _write_run(folder: Path) -> tuple[Path, Accuracies]:
    split = synthetic_split()
    result = run_training(TINY, split)
    prepare_run_folder(folder)
    write_config(folder, TINY)
    measured = Accuracies(result.train_acc, result.val_acc, result.test_acc)
    assert split.mean_image is not None
    write_results(
        folder, config=TINY, params=result.model.params, mean_image=split.mean_image,
        history=result.history,
        metrics=run_metrics(status="complete", accuracies=measured, config=TINY,
                            iterations=result.iterations, epochs=len(result.history.train_acc),
                            weights="final", weights_iteration=result.iterations - 1),
        timing=timing_record(result.seconds, result.iterations),
        model_summary=result.model.summary(),
    )
    return folder, measured


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    return _write_run(tmp_path / "run")[0]


def test_run_folder_has_every_file_and_the_weights_load_without_pickle(run_dir: Path) -> None:
    names = {p.name for p in run_dir.iterdir()}
    assert names == {"config.json", "weights.npz", "history.csv", "metrics.json", "timing.json",
                     "loss.png", "accuracy.png", "weights.png", "report.md"}
    with np.load(run_dir / WEIGHTS_FILE, allow_pickle=False) as archive:
        assert set(archive.files) == {"0.W", "0.b", "2.W", "2.b", "mean_image"}
        assert archive["0.W"].shape == (6, 3072) and archive["mean_image"].shape == (3072,)
    report = (run_dir / "report.md").read_text()
    for picture in ("loss.png", "accuracy.png", "weights.png"):
        assert f"]({picture})" in report
    assert "validation accuracy" in report
    metrics = json.loads((run_dir / METRICS_FILE).read_text())
    assert metrics["status"] == "complete" and "seconds" not in metrics
    assert json.loads((run_dir / "timing.json").read_text())["seconds"] >= 0


def test_load_run_rebuilds_the_model_that_scores_what_metrics_say(tmp_path: Path) -> None:
    folder, measured = _write_run(tmp_path / "run")
    loaded = load_run(folder)
    assert loaded.config == TINY
    split = synthetic_split()
    predictions = np.argmax(loaded.model.forward(split.X_val), axis=1)
    assert float(np.mean(predictions == split.y_val)) == measured.val == loaded.metrics["val_acc"]
    np.testing.assert_array_equal(loaded.mean_image, split.mean_image)


def test_prepare_run_folder_refuses_a_used_folder(run_dir: Path) -> None:
    with pytest.raises(RunFolderError, match="not empty"):
        prepare_run_folder(run_dir)


def test_load_run_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(RunFolderError, match="does not exist"):
        load_run(tmp_path / "nope")


def test_load_run_unfinished_run(run_dir: Path) -> None:
    (run_dir / METRICS_FILE).unlink()
    with pytest.raises(RunFolderError, match="has not finished"):
        load_run(run_dir)


def test_load_run_corrupt_weights(run_dir: Path) -> None:
    (run_dir / WEIGHTS_FILE).write_bytes(b"PK\x03\x04 garbage")
    with pytest.raises(RunFolderError, match="corrupt"):
        load_run(run_dir)


def test_load_run_weights_that_do_not_fit_the_config(run_dir: Path) -> None:
    write_config(run_dir, TINY.replace(hidden_size=7))
    with pytest.raises(RunFolderError,
                       match=r"'0.W' has shape \(6, 3072\) but this model's is \(7, 3072\)"):
        load_run(run_dir)


def test_load_run_missing_parameter(run_dir: Path) -> None:
    with np.load(run_dir / WEIGHTS_FILE) as archive:
        arrays = {name: archive[name] for name in archive.files if name != "2.b"}
    write_npz_atomic(run_dir / WEIGHTS_FILE, arrays)
    with pytest.raises(RunFolderError, match="does not fit the net of config.json: .*no '2.b'"):
        load_run(run_dir)


def test_load_run_non_finite_weights(run_dir: Path) -> None:
    with np.load(run_dir / WEIGHTS_FILE) as archive:
        arrays = {name: archive[name] for name in archive.files}
    arrays["2.W"][0, 0] = np.nan
    write_npz_atomic(run_dir / WEIGHTS_FILE, arrays)
    with pytest.raises(RunFolderError, match="'2.W' holds NaN or inf"):
        load_run(run_dir)


def test_load_run_bad_config(run_dir: Path) -> None:
    (run_dir / CONFIG_FILE).write_text('{"learning_rate": -1}')
    with pytest.raises(RunFolderError, match="learning_rate"):
        load_run(run_dir)
    (run_dir / CONFIG_FILE).write_text("{not json")
    with pytest.raises(RunFolderError, match="not valid JSON"):
        load_run(run_dir)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("0.5", "val_acc must be a real number, got str '0.5'"),
        (1.5, "val_acc must be a finite number >= 0 and <= 1, got 1.5"),
        (None, "val_acc must be a real number, got NoneType None"),
    ],
)
def test_load_run_checks_the_accuracies_in_metrics(
    tmp_path: Path, value: object, message: str
) -> None:
    folder, _ = _write_run(tmp_path / "run")
    metrics = json.loads((folder / METRICS_FILE).read_text())
    metrics["val_acc"] = value
    (folder / METRICS_FILE).write_text(json.dumps(metrics))
    with pytest.raises(RunFolderError, match=f"metrics.json: {message}"):
        load_run(folder)


class _StopAt(Callback):
    def __init__(self, k: int) -> None:
        self.k = k

    def on_iteration_end(self, trainer: object, iteration: int, loss: float) -> None:
        if iteration == self.k:
            raise KeyboardInterrupt


def test_ctrl_c_in_run_training_carries_the_state_so_far_and_pickles() -> None:
    with pytest.raises(TrainingInterrupted) as caught:
        run_training(TINY, synthetic_split(), [_StopAt(12)])
    stop = caught.value
    assert isinstance(stop, KeyboardInterrupt)
    assert stop.iterations == 13 and len(stop.history.loss) == 13
    copy = pickle.loads(pickle.dumps(stop))
    assert copy.iterations == 13 and copy.history == stop.history


def test_keep_best_state_round_trips_through_a_trainer_checkpoint_state() -> None:
    split = synthetic_split()
    keeper = KeepBest()
    run_training(TINY, split, [keeper])
    state = keeper.state_dict()
    restored = KeepBest()
    restored.load_state_dict(state)
    assert (restored.best_val_acc, restored.best_epoch, restored.best_iteration) == (
        keeper.best_val_acc, keeper.best_epoch, keeper.best_iteration)
    assert restored.best_state is not None and keeper.best_state is not None
    for name, array in keeper.best_state.items():
        np.testing.assert_array_equal(restored.best_state[name], array)
        assert restored.best_state[name] is not array
    empty = KeepBest()
    empty.load_state_dict(KeepBest().state_dict())
    assert not empty.has_best
    with pytest.raises(ValueError, match="both a best state and its accuracy"):
        empty.load_state_dict({**state, "best_state": None})


# ---------------------------------------------------------------- hostile run folders


def _weights(folder: Path) -> dict[str, np.ndarray]:
    with np.load(folder / WEIGHTS_FILE, allow_pickle=False) as archive:
        return {name: archive[name] for name in archive.files}


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("deep metrics", "metrics.json is not a file minigrad wrote: its JSON nests 10000"),
        ("huge hidden_size", r"hidden_dims=\(100000000,\) needs about .* of memory to load"),
        ("config with an int of 4400 digits", "an integer of 4400 digits"),
        ("duplicate key", "the key 'seed' appears twice"),
        ("mean image 2-D", r"'mean_image' must be a 1-D float array .*got float64 of shape"),
        ("mean image int", r"'mean_image' must be a 1-D float array .*int64"),
        ("mean image NaN", "'mean_image' holds NaN or inf"),
        ("no mean image", "has no 'mean_image' array"),
        ("extra member", "holds an unexpected array 'notes'"),
        ("wrong dtype", "'0.W' is float64 but this model's is float32"),
    ],
)
def test_load_run_names_each_hostile_file(run_dir: Path, damage: str, message: str) -> None:
    from hostile_files import deep_json

    arrays = _weights(run_dir)
    if damage == "deep metrics":
        (run_dir / METRICS_FILE).write_bytes(deep_json(10_000, "{"))
    elif damage == "huge hidden_size":
        write_config(run_dir, TINY.replace(hidden_size=100_000_000))
    elif damage == "config with an int of 4400 digits":
        (run_dir / CONFIG_FILE).write_text('{"seed": ' + "3" * 4400 + "}")
    elif damage == "duplicate key":
        (run_dir / CONFIG_FILE).write_text('{"seed": 1, "seed": 2}')
    elif damage == "mean image 2-D":
        write_npz_atomic(run_dir / WEIGHTS_FILE, {**arrays, "mean_image": np.zeros((2, 3072))})
    elif damage == "mean image int":
        write_npz_atomic(run_dir / WEIGHTS_FILE, {**arrays, "mean_image": np.zeros(3072, int)})
    elif damage == "mean image NaN":
        arrays["mean_image"][5] = np.nan
        write_npz_atomic(run_dir / WEIGHTS_FILE, arrays)
    elif damage == "no mean image":
        del arrays["mean_image"]
        write_npz_atomic(run_dir / WEIGHTS_FILE, arrays)
    elif damage == "extra member":
        write_npz_atomic(run_dir / WEIGHTS_FILE, {**arrays, "notes": np.zeros(3)})
    elif damage == "wrong dtype":
        write_npz_atomic(run_dir / WEIGHTS_FILE, {**arrays, "0.W": arrays["0.W"].astype("f8")})
    with pytest.raises(RunFolderError, match=message):
        load_run(run_dir)


def test_read_history_names_bad_text(run_dir: Path) -> None:
    assert read_history(run_dir).loss[:2] == history_from_csv(
        (run_dir / "history.csv").read_text()).loss[:2]
    (run_dir / "history.csv").write_bytes(b"iteration,loss,epoch,train_acc,val_acc\n0,\xff,,,\n")
    with pytest.raises(RunFolderError, match=r"history.csv is not UTF-8 text: .*\(line 2\)"):
        read_history(run_dir)
    with pytest.raises(RunFolderError, match="line 2: 3 cells, expected 5"):
        history_from_csv("iteration,loss,epoch,train_acc,val_acc\n0,1.0,\n")
    with pytest.raises(RunFolderError, match="not a CSV file: field larger"):
        history_from_csv('iteration,loss,epoch,train_acc,val_acc\n"' + "1" * 200_000 + '"\n')


def test_claiming_a_run_folder(tmp_path: Path) -> None:
    from minigrad.files.folder_lock import LOCK_FILE

    with claim_new_run_folder(tmp_path / "runs", "stem") as first:
        with claim_new_run_folder(tmp_path / "runs", "stem") as second:
            assert (first.folder.name, second.folder.name) == ("stem", "stem-2")
            assert (second.folder / LOCK_FILE).exists()
    assert not (second.folder / LOCK_FILE).exists()
    # A lock file left by a killed run does not make a folder "used"; a file does.
    (first.folder / LOCK_FILE).write_text('{"pid": 999999999}')
    with claim_run_folder(first.folder) as again:
        assert again.taken_over_from == 999999999
        (first.folder / "config.json").write_text("{}")
    with pytest.raises(RunFolderError, match="is not empty"):
        claim_run_folder(first.folder)


def test_train_into_folder_checks_memory_before_making_the_folder(tmp_path: Path) -> None:
    from minigrad.experiment.training_run import train_into_folder

    with pytest.raises(ConfigError, match=r"hidden_dims=\(100000000,\) needs about"):
        train_into_folder(TINY.replace(hidden_size=100_000_000), synthetic_split(),
                          tmp_path / "run")
    assert not (tmp_path / "run").exists()
