"""``minigrad train`` / ``evaluate`` for nets other than the workbook's, on fake CIFAR-10.

The architecture options map to ``TrainConfig``, config.json records them (and an old
config.json with ``hidden_size`` still reads), ``evaluate`` rebuilds a batch-norm + dropout
+ GELU net from the run folder and reproduces metrics.json exactly, the hinge loss trains,
and options that cannot work together are refused in one line with exit code 2.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from minigrad.cli import command as cli
from minigrad.cli import train as cli_train
from minigrad.experiment.config import BEST, DEEP, MAX_HIDDEN_LAYERS, SUBOPTIMAL, TrainConfig
from minigrad.experiment.job import build_model, net_state_sizes
from minigrad.experiment.run_evaluation import evaluate_run
from minigrad.experiment.run_folder import WEIGHTS_PNG_UNITS, load_run
from minigrad.initializers import normal
from minigrad.models import fully_connected_net, two_layer_net
from minigrad.training.callbacks import Callback
from minigrad.training.trainer import Trainer

SMALL = ["--num-training", "400", "--num-validation", "50", "--num-test", "50",
         "--num-iters", "40", "--batch-size", "50", "--learning-rate", "1e-3", "--quiet"]
# A net from every part of the catalogue the CLI reaches.
DEEP_GELU = ["--hidden-dims", "24", "16", "--normalization", "batchnorm", "--dropout", "0.2",
             "--activation", "gelu", "--weight-init", "he", "--optimizer", "adam",
             "--sampling", "shuffle", "--reg", "1e-3"]


def train(fake_data: Path, out: Path, *extra: str) -> int:
    return cli.main(["train", "--data-dir", str(fake_data), "--out", str(out), *SMALL, *extra])


@pytest.fixture(scope="module")
def deep_run(fake_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "deep"
    assert train(fake_data, out, *DEEP_GELU) == 0
    return out


def parse(*argv: str) -> TrainConfig:
    return cli_train.config_from_args(cli.build_parser().parse_args(["train", *argv]))


def read_json(path: Path) -> dict:
    return json.loads(path.read_text())


# ---------------------------------------------------------------- options -> config


def test_architecture_options_map_to_the_config() -> None:
    config = parse(*DEEP_GELU, "--loss", "hinge")
    assert config == BEST.replace(
        hidden_dims=(24, 16), normalization="batchnorm", dropout=0.2, activation="gelu",
        weight_init="he", optimizer="adam", sampling="shuffle", reg=1e-3, loss="hinge",
    )
    assert config.hidden_dims == (24, 16) and config.hidden_size is None
    assert parse() == BEST and parse().is_two_layer_net
    assert parse("--activation", "leaky_relu", "--normalization", "layernorm").activation == (
        "leaky_relu")


def test_hidden_size_is_the_two_layer_shorthand() -> None:
    assert parse("--hidden-size", "30") == parse("--hidden-dims", "30") == BEST.replace(
        hidden_dims=(30,))
    assert parse("--hidden-size", "30").hidden_size == 30
    # On a preset with another depth it replaces the widths and keeps the rest.
    shallow = parse("--preset", "deep", "--hidden-size", "40")
    assert shallow == DEEP.replace(hidden_dims=(40,))
    assert shallow.normalization == "batchnorm" and not shallow.is_two_layer_net
    # No widths: a linear classifier.
    assert parse("--hidden-dims").hidden_dims == ()


def test_presets() -> None:
    assert parse("--preset", "deep") == DEEP
    assert (DEEP.hidden_dims, DEEP.normalization, DEEP.dropout) == ((512, 256), "batchnorm", 0.1)
    assert (DEEP.optimizer, DEEP.weight_init, DEEP.sampling) == ("adam", "he", "shuffle")
    # The workbook's presets keep their architecture.
    for preset in (BEST, SUBOPTIMAL):
        assert preset.hidden_dims == (50,) and preset.is_two_layer_net
        assert (preset.loss, preset.weight_init, preset.std) == ("softmax", "normal", 1e-4)


# ---------------------------------------------------------------- config.json


def test_config_round_trips_the_architecture_through_json() -> None:
    config = DEEP.replace(activation="gelu", loss="hinge", hidden_dims=[7, 5, 3])
    assert config.hidden_dims == (7, 5, 3)  # a list becomes a tuple
    data = json.loads(json.dumps(config.to_dict()))
    assert data["hidden_dims"] == [7, 5, 3] and "hidden_size" not in data
    again = TrainConfig.from_dict(data)
    assert again == config and again.hidden_dims == (7, 5, 3)
    assert hash(again) == hash(config)


def test_the_run_folder_records_the_architecture(deep_run: Path) -> None:
    data = read_json(deep_run / "config.json")
    assert data["hidden_dims"] == [24, 16]
    assert (data["normalization"], data["dropout"], data["activation"]) == (
        "batchnorm", 0.2, "gelu")
    assert (data["loss"], data["weight_init"]) == ("softmax", "he")
    assert TrainConfig.from_dict(data) == parse(*DEEP_GELU, *SMALL)


def test_an_old_config_json_with_hidden_size_still_loads(
    fake_data: Path, tmp_path: Path
) -> None:
    run_dir = tmp_path / "old"
    assert train(fake_data, run_dir, "--hidden-size", "12") == 0
    new = read_json(run_dir / "config.json")
    # config.json as minigrad wrote it before the architecture was a setting.
    old = {key: value for key, value in new.items()
           if key not in ("hidden_dims", "normalization", "dropout", "activation", "loss",
                          "weight_init")}
    old["hidden_size"] = 12
    (run_dir / "config.json").write_text(json.dumps(old, indent=2, sort_keys=True))
    loaded = load_run(run_dir)
    assert loaded.config.hidden_dims == (12,) and loaded.config == TrainConfig.from_dict(new)
    assert evaluate_run(run_dir, fake_data).mismatches() == {}


# ---------------------------------------------------------------- evaluate


def test_evaluate_rebuilds_a_batchnorm_dropout_gelu_net_and_reproduces_metrics(
    fake_data: Path, deep_run: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    metrics = read_json(deep_run / "metrics.json")
    evaluation = evaluate_run(deep_run, fake_data)
    assert (evaluation.accuracies.val, evaluation.accuracies.test,
            evaluation.accuracies.train) == (
        metrics["val_acc"], metrics["test_acc"], metrics["train_acc"])
    assert evaluation.mismatches() == {}
    capsys.readouterr()
    assert cli.main(["evaluate", str(deep_run), "--data-dir", str(fake_data)]) == 0
    assert "matches metrics.json" in capsys.readouterr().out


def test_the_loaded_net_holds_the_saved_buffers_and_predicts_in_eval_mode(
    deep_run: Path,
) -> None:
    loaded = load_run(deep_run)
    model = loaded.model
    kinds = [type(layer).__name__ for layer in model]
    assert kinds == ["Affine", "BatchNorm1d", "GELU", "Dropout"] * 2 + ["Affine"]
    assert not model.training  # dropout off, running statistics on
    with np.load(deep_run / "weights.npz", allow_pickle=False) as saved:
        assert {"1.running_mean", "1.running_var", "5.running_mean", "5.running_var",
                "1.gamma", "1.beta"} <= set(saved.files)
        for name, array in {**model.params, **model.buffers}.items():
            np.testing.assert_array_equal(array, saved[name], err_msg=name)
        # Training moved the running statistics away from their initial 0 and 1.
        assert not np.allclose(saved["1.running_var"], 1.0)
    rows = np.random.default_rng(0).integers(0, 256, size=(20, 3072)).astype(np.uint8)
    np.testing.assert_array_equal(loaded.predict(rows), loaded.predict(rows))


def test_same_seed_twice_gives_byte_identical_results_with_dropout(
    fake_data: Path, deep_run: Path, tmp_path: Path
) -> None:
    again = tmp_path / "again"
    assert train(fake_data, again, *DEEP_GELU) == 0
    for name in ("metrics.json", "config.json", "history.csv"):
        assert (again / name).read_bytes() == (deep_run / name).read_bytes(), name


def test_report_shows_the_model_summary_and_weights_png_the_first_layer(
    deep_run: Path,
) -> None:
    report = (deep_run / "report.md").read_text()
    summary = load_run(deep_run).model.summary()
    assert f"## Model\n\n```\n{summary}\n```" in report
    assert "BatchNorm1d" in summary and "Dropout" in summary
    assert "| hidden_dims | 24 16 |" in report
    # 24 first-layer units: a 5 x 5 grid of 32-pixel images, 3 pixels apart, shown 2x.
    with Image.open(deep_run / "weights.png") as image:
        assert image.size == (2 * (5 * 32 + 4 * 3),) * 2


def test_weights_png_shows_at_most_256_units(fake_data: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "wide"
    assert train(fake_data, run_dir, "--hidden-dims", "300", "--num-iters", "2") == 0
    side = 16  # WEIGHTS_PNG_UNITS = 256 units, a 16 x 16 grid
    assert side * side == WEIGHTS_PNG_UNITS
    with Image.open(run_dir / "weights.png") as image:
        assert image.size == (2 * (side * 32 + (side - 1) * 3),) * 2
    assert "The first 256 of the 300 units." in (run_dir / "report.md").read_text()


def test_a_linear_classifier_shows_its_class_templates(fake_data: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "linear"
    assert train(fake_data, run_dir, "--hidden-dims", "--loss", "hinge") == 0
    with np.load(run_dir / "weights.npz", allow_pickle=False) as saved:
        assert set(saved.files) == {"0.W", "0.b", "mean_image"}
        assert saved["0.W"].shape == (10, 3072)
    with Image.open(run_dir / "weights.png") as image:  # 10 templates: a 4 x 4 grid
        assert image.size == (2 * (4 * 32 + 3 * 3),) * 2
    assert evaluate_run(run_dir, fake_data).mismatches() == {}


class InterruptAt(Callback):
    """Simulates Ctrl-C right after iteration ``k``."""

    def __init__(self, k: int) -> None:
        self.k = k

    def on_iteration_end(self, trainer: Trainer, iteration: int, loss: float) -> None:
        if iteration == self.k:
            raise KeyboardInterrupt


def test_ctrl_c_keeps_the_best_parameters_and_running_statistics(
    fake_data: Path, tmp_path: Path
) -> None:
    out = tmp_path / "stopped"
    args = cli.build_parser().parse_args(
        ["train", "--data-dir", str(fake_data), "--out", str(out), *SMALL, *DEEP_GELU])
    assert cli_train.run(args, callbacks=[InterruptAt(29)]) == cli.EXIT_INTERRUPTED
    metrics = read_json(out / "metrics.json")
    rows = (out / "history.csv").read_text().splitlines()[1:]
    val_accs = [float(row.split(",")[4]) for row in rows if row.split(",")[2]]
    assert metrics["weights"] == "best_validation" and metrics["val_acc"] == max(val_accs)
    assert evaluate_run(out, fake_data).mismatches() == {}


# ---------------------------------------------------------------- the loss


def test_the_hinge_loss_trains_from_the_cli(fake_data: Path, tmp_path: Path) -> None:
    runs = {}
    for loss in ("softmax", "hinge"):
        run_dir = tmp_path / loss
        assert train(fake_data, run_dir, "--loss", loss, "--hidden-dims", "32",
                     "--optimizer", "adam", "--num-iters", "80", "--reg", "0") == 0
        losses = [float(line.split(",")[1]) for line in
                  (run_dir / "history.csv").read_text().splitlines()[1:]]
        runs[loss] = losses
        assert read_json(run_dir / "config.json")["loss"] == loss
        assert evaluate_run(run_dir, fake_data).mismatches() == {}
        # 400 random images, memorised: the training accuracy beats chance (0.1) well.
        assert read_json(run_dir / "metrics.json")["train_acc"] > 0.3
        assert np.mean(losses[-10:]) < 0.5 * losses[0]
    # Scores start near 0 (std 1e-4): softmax gives log(10), the hinge C - 1 = 9 margins.
    assert runs["softmax"][0] == pytest.approx(np.log(10), abs=0.01)
    assert runs["hinge"][0] == pytest.approx(9.0, abs=0.01)


# ---------------------------------------------------------------- the workbook's net


def test_the_default_config_builds_the_workbooks_net_with_the_same_draws() -> None:
    seed_sequence = np.random.SeedSequence(BEST.seed).spawn(2)[0]
    built = build_model(BEST, 3072, rng=np.random.default_rng(seed_sequence))
    workbook = two_layer_net(3072, 50, 10, weight_init=normal(1e-4, np.random.default_rng(
        seed_sequence)), dtype="float32")
    assert repr(built) == repr(workbook)
    for name, array in workbook.state_dict().items():
        np.testing.assert_array_equal(built.state_dict()[name], array, err_msg=name)
    # fully_connected_net with the same initialiser is the same net too.
    general = fully_connected_net(3072, [50], 10, weight_init=normal(1e-4, np.random.default_rng(
        seed_sequence)), dtype="float32")
    assert repr(general) == repr(workbook)
    for name, array in workbook.state_dict().items():
        np.testing.assert_array_equal(general.state_dict()[name], array, err_msg=name)


@pytest.mark.parametrize(
    "config",
    [BEST, DEEP, DEEP.replace(normalization="layernorm", dropout=0.0), BEST.replace(
        hidden_dims=())],
    ids=["best", "deep", "layernorm", "linear"],
)
def test_net_state_sizes_count_what_build_model_builds(config: TrainConfig) -> None:
    model = build_model(config, 3072)
    parameters, buffers = net_state_sizes(config, 3072)
    assert parameters == model.num_parameters() == sum(a.size for a in model.params.values())
    assert buffers == sum(array.size for array in model.buffers.values())


# ---------------------------------------------------------------- bad input


def assert_one_line_error(err: str, message: str) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "error:" in lines[0], err
    assert message in lines[0], err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--hidden-size", "50", "--hidden-dims", "50"],
         "--hidden-size H is the shorthand for --hidden-dims H; give one of them"),
        (["--dropout", "1"], "dropout must be a finite number >= 0 and < 1, got 1.0"),
        (["--dropout", "-0.1"], "dropout must be a finite number >= 0 and < 1"),
        (["--dropout", "nan"], "dropout must be a finite number"),
        (["--normalization", "groupnorm"], "argument --normalization: invalid choice"),
        (["--activation", "swish"], "argument --activation: invalid choice: 'swish'"),
        (["--loss", "mse"], "argument --loss: invalid choice: 'mse'"),
        (["--weight-init", "xavier"], "argument --weight-init: invalid choice"),
        (["--hidden-dims", "0"], "hidden_dims[0] must be a positive integer, got 0"),
        (["--hidden-dims", "64", "-3"], "hidden_dims[1] must be a positive integer, got -3"),
        (["--hidden-dims", "64", "wide"], "argument --hidden-dims: invalid int value: 'wide'"),
        (["--hidden-dims", *["8"] * (MAX_HIDDEN_LAYERS + 1)],
         f"hidden_dims may list at most {MAX_HIDDEN_LAYERS} hidden layers, got 65"),
        (["--hidden-dims", "--dropout", "0.5"],
         "dropout=0.5 acts on hidden layers, but hidden_dims is empty (a linear classifier)"),
        (["--hidden-dims", "--normalization", "batchnorm", "--activation", "tanh"],
         "normalization='batchnorm', activation='tanh' act on hidden layers"),
        (["--normalization", "batchnorm", "--batch-size", "1"],
         "normalization='batchnorm' needs minibatches of at least 2 rows"),
        (["--preset", "deep", "--num-training", "1"],
         "normalization='batchnorm' needs minibatches of at least 2 rows"),
        (["--weight-init", "he", "--std", "0.01"],
         "--std is the scale of --weight-init normal, but the weights are 'he'"),
        (["--preset", "deep", "--std", "0.01"], "(the deep preset's or --weight-init's)"),
        (["--hidden-dims", "100000000"], "--hidden-dims 100000000 needs about"),
        (["--hidden-dims", "512", "100000000"], "--hidden-dims 512 100000000 needs about"),
        (["--hidden-size", "100000000"], "--hidden-size 100000000 needs about"),
        (["--preset", "deep", "--batch-size", "100000000"], "--batch-size 100000000 needs about"),
    ],
)
def test_options_that_cannot_work_are_one_line_and_exit_2_before_any_data_is_read(
    options: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    argv = ["train", "--data-dir", str(tmp_path / "no-data"), "--out", str(out), *options]
    assert cli.main(argv) == 2
    assert_one_line_error(capsys.readouterr().err, message)
    assert not out.exists()


def test_std_with_weight_init_normal_is_fine() -> None:
    assert parse("--preset", "deep", "--weight-init", "normal", "--std", "0.01").std == 0.01


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"normalization": "groupnorm"}, "unknown normalization 'groupnorm'"),
        ({"hidden_dims": "512"}, "hidden_dims must be a sequence of positive integers"),
        ({"hidden_dims": [512, 2.5]}, "hidden_dims[1] must be an integer, got float 2.5"),
        ({"hidden_size": 64, "hidden_dims": [64, 32]}, "hidden_size=64 is the shorthand"),
        ({"activation": "relu6"}, "unknown activation 'relu6'"),
    ],
)
def test_evaluate_refuses_a_config_json_with_a_bad_architecture_in_one_line(
    deep_run: Path,
    tmp_path: Path,
    change: dict,
    message: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    run_dir = tmp_path / "bad"
    run_dir.mkdir()
    for path in deep_run.iterdir():
        (run_dir / path.name).write_bytes(path.read_bytes())
    (run_dir / "config.json").write_text(
        json.dumps({**read_json(deep_run / "config.json"), **change}))
    assert cli.main(["evaluate", str(run_dir), "--data-dir", str(tmp_path / "no-data")]) == 2
    err = capsys.readouterr().err
    assert_one_line_error(err.splitlines()[-1], message)
    assert "config.json" in err.splitlines()[-1]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"normalization": "none"}, "holds an unexpected array '1.gamma'"),
        ({"normalization": "layernorm"}, "holds an unexpected array '1.running_mean'"),
        ({"hidden_dims": [24, 16, 8]}, "'8.W' has shape (10, 16) but this model's is (8, 16)"),
        ({"hidden_dims": [24, 17]}, r"'4.W' has shape (16, 24) but this model's is (17, 24)"),
    ],
)
def test_evaluate_refuses_weights_of_another_architecture_in_one_line(
    deep_run: Path,
    tmp_path: Path,
    change: dict,
    message: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    run_dir = tmp_path / "other"
    run_dir.mkdir()
    for path in deep_run.iterdir():
        (run_dir / path.name).write_bytes(path.read_bytes())
    (run_dir / "config.json").write_text(
        json.dumps({**read_json(deep_run / "config.json"), **change}))
    assert cli.main(["evaluate", str(run_dir), "--data-dir", str(tmp_path / "no-data")]) == 2
    err = capsys.readouterr().err
    assert_one_line_error(err.splitlines()[-1], message)
