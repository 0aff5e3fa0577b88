"""``minigrad train``: train the two-layer net on CIFAR-10 and write a run folder.

Ctrl-C during training leaves a consistent folder: weights.npz holds the weights with
the best validation accuracy so far (saved at every improvement), history.csv the
curves so far, and metrics.json (status "interrupted") the accuracies of exactly those
weights; the command then exits 130. A finished run saves the final weights, as the
workbook reports the final net. If training diverges (NaN loss) the command exits 1 and
the folder keeps config.json and the best weights so far, without metrics.json.

Data: ``data.load_cifar10_split`` (``get_cifar10_data`` plus the mean image, which
weights.npz stores so new images can be preprocessed), from ``--data-dir`` or as
``find_cifar10`` resolves it (``$MINIGRAD_CIFAR10``, the cache, a download).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterable
from dataclasses import fields
from pathlib import Path
from typing import Any, TextIO

from minigrad.cli.command import EXIT_INTERRUPTED, CommandError
from minigrad.data import Cifar10Split, load_cifar10_split
from minigrad.experiment.config import DTYPES, PRESETS, SAMPLINGS, TrainConfig
from minigrad.experiment.job import (
    Accuracies,
    TrainingInterrupted,
    evaluate_model,
    run_training,
)
from minigrad.experiment.progress import ProgressBar
from minigrad.experiment.run_folder import (
    STATUS_COMPLETE,
    STATUS_INTERRUPTED,
    check_run_folder_free,
    prepare_run_folder,
    run_metrics,
    timing_record,
    write_config,
    write_results,
    write_weights,
)
from minigrad.optim import OPTIMIZERS
from minigrad.training.callbacks import Callback
from minigrad.training.keep_best import KeepBest

__all__ = ["add_parser", "config_from_args", "default_run_dir", "run", "train_into_folder"]

DEFAULT_RUNS_FOLDER = Path("runs")

# Options that set a TrainConfig field: (flag, type or choices, what it is).
_SETTINGS: tuple[tuple[str, Any, str], ...] = (
    ("--hidden-size", int, "hidden units H"),
    ("--num-iters", int, "training iterations"),
    ("--batch-size", int, "rows per minibatch"),
    ("--learning-rate", float, "initial learning rate (> 0)"),
    ("--lr-decay", float, "learning-rate factor per epoch, in (0, 1]"),
    ("--reg", float, "L2 strength (>= 0)"),
    ("--std", float, "standard deviation of the initial weights"),
    ("--optimizer", tuple(sorted(OPTIMIZERS)), "update rule"),
    ("--sampling", SAMPLINGS, "minibatches with replacement (the workbook's) or shuffled epochs"),
    ("--seed", int, "seed of the initial weights and the minibatches"),
    ("--dtype", DTYPES, "precision of the data and the parameters"),
    ("--num-training", int, "training images"),
    ("--num-validation", int, "validation images (taken after the training images)"),
    ("--num-test", int, "test images"),
)


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``train`` subcommand to ``subparsers``."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "train",
        help="train the two-layer net on CIFAR-10 and write a run folder",
        description="Train the workbook's two-layer net on CIFAR-10. Settings start from "
        "a preset (the workbook's best net by default); each option overrides one. "
        "Writes config.json, weights.npz, history.csv, metrics.json, timing.json, "
        "loss.png, accuracy.png, weights.png and report.md into the run folder.",
    )
    parser.add_argument(
        "--preset", choices=sorted(PRESETS), default="best",
        help="starting settings: the workbook's best net or its first, sub-optimal one "
        "(default: best)",
    )
    settings = parser.add_argument_group("settings (default: the preset's)")
    for flag, kind, what in _SETTINGS:
        name = flag[2:].replace("-", "_")
        default = getattr(PRESETS["best"], name)
        if isinstance(kind, tuple):
            settings.add_argument(flag, choices=kind, help=f"{what} (best: {default})")
        else:
            settings.add_argument(flag, type=kind, metavar=name.upper(),
                                  help=f"{what} (best: {default})")
    parser.add_argument(
        "--data-dir", metavar="DIR",
        help="folder with the CIFAR-10 python batches (default: $MINIGRAD_CIFAR10, then the "
        "per-user cache, then a download)",
    )
    parser.add_argument(
        "--out", metavar="DIR",
        help="run folder to create; must not exist or be empty "
        "(default: runs/<timestamp>-<preset>-seed<k>)",
    )
    parser.add_argument(
        "--quiet", action="store_true",
        help="no progress bar or progress messages (the results are still printed)",
    )
    return parser


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """The preset named by ``args.preset`` with every given option applied."""
    changes = {
        field.name: getattr(args, field.name)
        for field in fields(TrainConfig)
        if getattr(args, field.name, None) is not None
    }
    return PRESETS[args.preset].replace(**changes)


def default_run_dir(preset: str, seed: int, parent: Path = DEFAULT_RUNS_FOLDER) -> Path:
    """``runs/<YYYYmmdd-HHMMSS>-<preset>-seed<k>``, with ``-2``, ``-3``... if taken."""
    stem = f"{time.strftime('%Y%m%d-%H%M%S')}-{preset}-seed{seed}"
    candidate, number = parent / stem, 1
    while candidate.exists():
        number += 1
        candidate = parent / f"{stem}-{number}"
    return candidate


def _save_interrupted(
    stop: TrainingInterrupted,
    keeper: KeepBest,
    config: TrainConfig,
    split: Cifar10Split,
    run_dir: Path,
) -> Accuracies:
    """Write the folder of an interrupted run around the best weights so far."""
    model = stop.model
    if keeper.has_best:
        keeper.restore(model)
        weights, weights_iteration = "best_validation", keeper.best_iteration
    else:  # interrupted before the first epoch ended: keep the weights as they are
        weights, weights_iteration = "last", (stop.iterations - 1 if stop.iterations else None)
    measured = evaluate_model(model, split)
    assert split.mean_image is not None
    write_results(
        run_dir,
        config=config,
        params=model.params,
        mean_image=split.mean_image,
        history=stop.history,
        metrics=run_metrics(
            status=STATUS_INTERRUPTED, accuracies=measured, config=config,
            iterations=stop.iterations, epochs=len(stop.history.epoch_iterations),
            weights=weights, weights_iteration=weights_iteration,
        ),
        timing=timing_record(stop.seconds, stop.iterations),
    )
    return measured


def train_into_folder(
    config: TrainConfig,
    split: Cifar10Split,
    run_dir: Path,
    *,
    callbacks: Iterable[Callback] = (),
    quiet: bool = False,
    stdout: TextIO | None = None,
) -> int:
    """Train, write the run folder, print the results; return the exit code.

    Parameters
    ----------
    config : the settings.
    split : CIFAR-10 prepared in ``config.dtype``, with its mean image.
    run_dir : the run folder (created; must not hold files).
    callbacks : extra training callbacks (e.g. tests inject a Ctrl-C through one).
    quiet : no progress bar.
    stdout : where the results are printed (default ``sys.stdout``).

    Returns
    -------
    0 when training finished, 130 when it was interrupted.
    """
    out = sys.stdout if stdout is None else stdout
    if split.mean_image is None:
        raise ValueError("the split must carry its mean image (load it with subtract_mean=True)")
    mean_image = split.mean_image
    prepare_run_folder(run_dir)
    write_config(run_dir, config)

    def save_best(keeper: KeepBest) -> None:
        assert keeper.best_params is not None
        write_weights(run_dir, keeper.best_params, mean_image)

    keeper = KeepBest(on_improve=save_best)
    bar = ProgressBar(config.num_iters, enabled=False if quiet else None)
    try:
        result = run_training(config, split, [bar, keeper, *callbacks])
    except TrainingInterrupted as stop:
        bar.close()
        measured = _save_interrupted(stop, keeper, config, split, run_dir)
        print(
            f"interrupted after {stop.iterations} iterations; saved the weights with the best "
            f"validation accuracy so far: validation accuracy {measured.val:.4f}, "
            f"test accuracy {measured.test:.4f}\nrun folder: {run_dir}",
            file=out,
        )
        return EXIT_INTERRUPTED
    finally:
        bar.close()
    measured = Accuracies(train=result.train_acc, val=result.val_acc, test=result.test_acc)
    write_results(
        run_dir,
        config=config,
        params=result.model.params,
        mean_image=mean_image,
        history=result.history,
        metrics=run_metrics(
            status=STATUS_COMPLETE, accuracies=measured, config=config,
            iterations=result.iterations, epochs=len(result.history.epoch_iterations),
            weights="final", weights_iteration=result.iterations - 1,
        ),
        timing=timing_record(result.seconds, result.iterations),
    )
    print(
        f"validation accuracy: {result.val_acc:.4f}\n"
        f"test accuracy: {result.test_acc:.4f}\n"
        f"training accuracy: {result.train_acc:.4f}\n"
        f"wall time: {result.seconds:.1f} s ({result.iterations} iterations)\n"
        f"run folder: {run_dir}",
        file=out,
    )
    return 0


def run(args: argparse.Namespace, callbacks: Iterable[Callback] = ()) -> int:
    """Run ``minigrad train`` with parsed ``args``; ``callbacks`` join the training loop."""
    config = config_from_args(args)
    run_dir = Path(args.out) if args.out else default_run_dir(args.preset, config.seed)
    check_run_folder_free(run_dir)  # fail before spending seconds on the data
    if not args.quiet:
        print("loading CIFAR-10 ...", file=sys.stderr)
    try:
        split = load_cifar10_split(
            config.num_training, config.num_validation, config.num_test,
            root=args.data_dir, dtype=config.dtype,
        )
    except ValueError as exc:  # split sizes larger than the data
        raise CommandError(str(exc)) from exc
    return train_into_folder(config, split, run_dir, callbacks=callbacks, quiet=args.quiet)
