"""Runs on the image pipeline end to end: config, job, run folder, CLI and search.

The library pieces (augmentation, normalisation, the batch source) have their own tests;
these check that a run which augments or normalises per channel trains on uint8 images,
records its pipeline, saves its statistics, and is measured again exactly as it trained.
"""

from __future__ import annotations

import json
import math
import zipfile
from pathlib import Path

import numpy as np
import pytest

from minigrad.cli import command as cli
from minigrad.data.image_rows import ImageRows
from minigrad.data.image_split import Cifar10Images, load_cifar10_images
from minigrad.data.sampling import make_sampler
from minigrad.experiment.config import AUGMENTED, BEST, PRESETS, WIDE, ConfigError, TrainConfig
from minigrad.experiment.input_pipeline import load_run_data
from minigrad.experiment.job import learning_rate_schedule, run_training
from minigrad.experiment.run_evaluation import evaluate_run
from minigrad.experiment.run_folder import RunFolderError, load_run
from minigrad.training.trainer import evaluate_accuracy

SIZES = ["--num-training", "400", "--num-validation", "50", "--num-test", "50"]
SMALL = [*SIZES, "--num-iters", "40", "--batch-size", "50", "--quiet"]


def train(fake_data: Path, out: Path, *extra: str) -> int:
    return cli.main(["train", "--data-dir", str(fake_data), "--out", str(out), *SMALL, *extra])


@pytest.fixture(scope="module")
def augmented_run(fake_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "augmented"
    assert train(fake_data, out, "--preset", "augmented") == 0
    return out


# ------------------------------------------------------------------ the config


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"translate": 16}, "translate"),
        ({"translate": -1}, "translate"),
        ({"translate": 1.5}, "translate"),
        ({"flip": "yes"}, "flip"),
        ({"flip": 1}, "flip"),
        ({"normalize": "zca"}, "normalize"),
        ({"padding": "wrap"}, "padding"),
        ({"schedule": "linear"}, "schedule"),
    ],
)
def test_bad_pipeline_settings_are_named(changes: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        TrainConfig(**changes)


def test_the_pipeline_settings_round_trip_and_old_configs_read_as_the_workbook() -> None:
    assert TrainConfig.from_dict(AUGMENTED.to_dict()) == AUGMENTED
    old = BEST.to_dict()
    for key in ("schedule", "normalize", "flip", "translate", "padding"):
        del old[key]  # a config.json written before the image pipeline existed
    assert TrainConfig.from_dict(old) == BEST
    assert not BEST.uses_image_pipeline
    assert AUGMENTED.uses_image_pipeline and WIDE.uses_image_pipeline
    assert BEST.replace(normalize="per-channel").uses_image_pipeline
    assert BEST.replace(translate=1).augments and not BEST.replace(normalize="per-channel").augments
    assert AUGMENTED.hidden_dims == (50,) and AUGMENTED.is_two_layer_net
    assert {"augmented", "wide"} <= set(PRESETS)


@pytest.mark.parametrize("sampling", ["shuffle", "replacement"])
@pytest.mark.parametrize("num_iters", [1, 7, 40, 41, 80])
def test_the_cosine_schedule_spans_the_epochs_the_run_trains_in(
    sampling: str, num_iters: int
) -> None:
    config = BEST.replace(schedule="cosine", num_iters=num_iters, batch_size=10,
                          sampling=sampling)
    sampler = make_sampler(sampling, 100, 10, np.random.default_rng(0))
    schedule = learning_rate_schedule(config, sampler.is_epoch_end)
    # The epoch each iteration trains in, as the trainer advances it.
    epoch, rates = 0, []
    for it in range(num_iters):
        rates.append(schedule(epoch))
        epoch += sampler.is_epoch_end(it)
    assert rates[0] == config.learning_rate
    assert min(rates) > 0  # the last epoch still learns
    assert all(a >= b for a, b in zip(rates, rates[1:], strict=False))  # annealed, never raised
    exponential = learning_rate_schedule(BEST.replace(lr_decay=0.5), sampler.is_epoch_end)
    assert math.isclose(exponential(2), BEST.learning_rate * 0.25)


# ------------------------------------------------------------------ the job


def test_an_augmented_run_trains_on_uint8_images_and_refuses_float_rows(fake_data: Path) -> None:
    config = AUGMENTED.replace(num_training=400, num_validation=50, num_test=50, num_iters=16,
                               batch_size=50)
    images = load_run_data(config, fake_data)
    assert isinstance(images, Cifar10Images) and images.train_images.dtype == np.uint8
    assert images.train_images.shape == (400, 32, 32, 3)
    result = run_training(config, images)
    assert result.iterations == 16
    rows = load_run_data(BEST.replace(num_training=400, num_validation=50, num_test=50),
                         fake_data)
    with pytest.raises(ConfigError, match="uint8 images"):
        run_training(config, rows)
    with pytest.raises(ConfigError, match="float rows"):
        run_training(BEST.replace(num_iters=2), images)


def test_the_images_are_views_of_the_loaded_data_not_copies(fake_data: Path) -> None:
    images = load_cifar10_images(400, 50, 50, root=fake_data)
    assert images.train_images.base is not None
    assert np.shares_memory(images.train_images, images.val_images) is False
    assert images.train_images.base is images.val_images.base  # one loaded array


# ------------------------------------------------------------------ the run folder


def test_the_run_folder_records_the_pipeline_and_its_statistics(augmented_run: Path) -> None:
    config = json.loads((augmented_run / "config.json").read_text())
    assert (config["flip"], config["translate"], config["normalize"]) == (
        AUGMENTED.flip, AUGMENTED.translate, AUGMENTED.normalize)
    with np.load(augmented_run / "weights.npz", allow_pickle=False) as saved:
        std = saved["input_std"]
        mean = saved["mean_image"]
    assert std.shape == mean.shape == (3072,)
    # per-channel: one value per channel, repeated over the pixels
    assert np.array_equal(std.reshape(-1, 3), np.tile(std[:3], (1024, 1)))
    assert np.all(std > 0)


def test_evaluate_reproduces_an_augmented_run_exactly(
    fake_data: Path, augmented_run: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    evaluation = evaluate_run(augmented_run, fake_data)
    assert evaluation.mismatches() == {}
    assert cli.main(["evaluate", str(augmented_run), "--data-dir", str(fake_data),
                     "--flip", "--translate", str(AUGMENTED.translate),
                     "--normalize", "per-channel"]) == 0
    assert "matches metrics.json" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("option", "named"),
    [(["--no-flip"], "--no-flip"), (["--translate", "0"], "--translate 0"),
     (["--normalize", "mean-image"], "--normalize mean-image")],
)
def test_evaluate_refuses_pipeline_options_that_contradict_the_run(
    fake_data: Path, augmented_run: Path, capsys: pytest.CaptureFixture[str],
    option: list[str], named: str,
) -> None:
    code = cli.main(["evaluate", str(augmented_run), "--data-dir", str(fake_data), *option])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert named in err and "contradicts the run" in err


def test_predict_converts_uint8_images_as_training_did(
    fake_data: Path, augmented_run: Path
) -> None:
    loaded = load_run(augmented_run)
    images = load_cifar10_images(400, 50, 50, root=fake_data)
    rows = ImageRows(images.test_images, loaded.normalization, loaded.config.dtype)
    assert np.array_equal(loaded.preprocess(images.test_images), rows.to_array())
    predicted = loaded.predict(images.test_images)
    accuracy = float(np.mean(predicted == images.y_test))
    assert accuracy == evaluate_accuracy(loaded.model, rows, images.y_test)
    as_float = loaded.preprocess(images.test_images.astype(np.float64))
    np.testing.assert_allclose(as_float, rows.to_array(), rtol=1e-5, atol=1e-5)


def _rewrite_weights(run: Path, out: Path, change: dict) -> Path:
    """A copy of ``run`` whose weights.npz has the arrays of ``change`` (None deletes)."""
    out.mkdir()
    for path in run.iterdir():
        if path.is_file():
            (out / path.name).write_bytes(path.read_bytes())
    with np.load(run / "weights.npz", allow_pickle=False) as saved:
        arrays = {name: saved[name] for name in saved.files}
    for name, value in change.items():
        if value is None:
            arrays.pop(name)
        else:
            arrays[name] = value
    np.savez(out / "weights.npz", **arrays)
    return out


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"input_std": None}, "no 'input_std'"),
        ({"input_std": np.full(3072, np.nan)}, "finite and > 0"),
        ({"input_std": np.zeros(3072)}, "finite and > 0"),
        ({"input_std": np.ones(100)}, "must be float"),
    ],
)
def test_a_damaged_input_std_is_named(
    augmented_run: Path, tmp_path: Path, change: dict, message: str
) -> None:
    broken = _rewrite_weights(augmented_run, tmp_path / "broken", change)
    with pytest.raises(RunFolderError, match=message):
        load_run(broken)


def test_an_input_std_in_a_mean_image_run_is_refused(fake_data: Path, tmp_path: Path) -> None:
    run = tmp_path / "workbook"
    assert train(fake_data, run) == 0
    broken = _rewrite_weights(run, tmp_path / "broken", {"input_std": np.ones(3072)})
    with pytest.raises(RunFolderError, match="normalize='mean-image'"):
        load_run(broken)
    assert zipfile.is_zipfile(run / "weights.npz")


# ------------------------------------------------------------------ the command line


def test_train_options_set_the_pipeline(fake_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert train(fake_data, out, "--flip", "--translate", "3", "--padding", "reflect",
                 "--normalize", "per-channel", "--schedule", "cosine") == 0
    config = json.loads((out / "config.json").read_text())
    assert (config["flip"], config["translate"], config["padding"], config["normalize"],
            config["schedule"]) == (True, 3, "reflect", "per-channel", "cosine")
    off = tmp_path / "off"
    assert train(fake_data, off, "--preset", "augmented", "--no-flip", "--translate", "0") == 0
    config = json.loads((off / "config.json").read_text())
    assert (config["flip"], config["translate"]) == (False, 0)
    assert config["normalize"] == "per-channel"  # still the image pipeline


@pytest.mark.parametrize(
    ("options", "named"),
    [
        (["--translate", "16"], "translate"),
        (["--translate", "-2"], "translate"),
        (["--preset", "augmented", "--lr-decay", "0.9"], "--lr-decay"),
        (["--normalize", "zca"], "--normalize"),
    ],
)
def test_bad_pipeline_options_are_one_line(
    fake_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    options: list[str], named: str,
) -> None:
    assert train(fake_data, tmp_path / "run", *options) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and named in err
    assert not (tmp_path / "run").exists()


# ------------------------------------------------------------------ the search

PIPELINE_SPACE = dict(num_iters=(16, 24), batch_sizes=(50,), flip=(False, True),
                      translate=(0, 2), normalize=("mean-image", "per-channel"),
                      schedules=("exponential", "cosine"))


def test_pipeline_choices_leave_every_older_draw_where_it_was() -> None:
    from minigrad.tune.space import SearchSpace, sample_trial

    searched = SearchSpace(**PIPELINE_SPACE)
    plain = SearchSpace(num_iters=(16, 24), batch_sizes=(50,))
    seen = set()
    for trial_id in range(40):
        a, b = sample_trial(plain, 3, trial_id, 400), sample_trial(searched, 3, trial_id, 400)
        assert (a.optimizer, a.learning_rate, a.reg, a.lr_decay, a.num_iters, a.seed) == (
            b.optimizer, b.learning_rate, b.reg, b.lr_decay, b.num_iters, b.seed)
        assert (a.flip, a.translate, a.normalize, a.schedule) == (
            False, 0, "mean-image", "exponential")
        seen.add((b.flip, b.translate, b.normalize, b.schedule))
    assert len(seen) >= 10  # the 16 combinations are all reachable


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"translate": (0, 16)}, "translate"), ({"flip": (1,)}, "flip"),
     ({"normalize": ()}, "at least one"), ({"schedules": ("step",)}, "schedules")],
)
def test_bad_pipeline_choices_are_named(kwargs: dict, message: str) -> None:
    from minigrad.tune.space import SearchSpace, TuneError

    with pytest.raises(TuneError, match=message):
        SearchSpace(**kwargs)


def test_a_search_over_the_pipeline_trains_each_trial_on_its_data(
    fake_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("optuna", reason="minigrad tune needs the tune extra (Optuna)")
    import csv

    out = tmp_path / "search"
    code = cli.main(["tune", "--data-dir", str(fake_data), "--out", str(out), *SIZES,
                     "--trials", "6", "--workers", "1", "--num-iters", "16", "24",
                     "--batch-sizes", "50", "--flip", "off", "on", "--translate", "0", "2",
                     "--normalize", "mean-image", "per-channel",
                     "--schedules", "exponential", "cosine", "--quiet"])
    assert code == 0, capsys.readouterr().err
    with open(out / "trials.csv", newline="") as file:
        rows = list(csv.DictReader(file))
    assert len(rows) == 6 and all(row["status"] == "ok" for row in rows)
    assert {row["normalize"] for row in rows} <= {"mean-image", "per-channel"}
    (best,) = sorted(out.glob("best-trial-*"))
    config = json.loads((best / "config.json").read_text())
    ranked = max(rows, key=lambda row: float(row["val_acc"]))
    assert (str(config["flip"]), str(config["translate"]), config["normalize"]) == (
        ranked["flip"], ranked["translate"], ranked["normalize"])
    assert evaluate_run(best, fake_data).mismatches() == {}


def test_search_data_holds_only_what_the_space_needs(fake_data: Path) -> None:
    from minigrad.tune.search_data import load_search_data

    sizes = {"num_training": 400, "num_validation": 50, "num_test": 50}
    images_only = load_search_data(sizes, rows=False, images=True, dtype="float32",
                                   root=fake_data)
    assert images_only.rows is None and images_only.images is not None
    with pytest.raises(ConfigError, match="no float rows"):
        images_only.for_config(BEST)
    rows_only = load_search_data(sizes, rows=True, images=False, dtype="float32",
                                 root=fake_data)
    with pytest.raises(ConfigError, match="no images"):
        rows_only.for_config(AUGMENTED)
    assert rows_only.sizes == images_only.sizes == sizes
