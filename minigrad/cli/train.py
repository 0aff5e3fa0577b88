"""``minigrad train``: train a fully connected net on CIFAR-10 and write a run folder.

The options start from a preset (the workbook's two-layer net, or ``deep``) and override
single settings, the architecture included (``--hidden-dims 512 256 --normalization
batchnorm --dropout 0.1 --activation gelu --loss hinge --weight-init he``); the work is
:func:`minigrad.experiment.training_run.train_into_folder` (see there what the folder holds
after a finished, interrupted or diverged run). Exit codes: 0 when training finished, 130
after Ctrl-C (the folder is consistent), 1 when it diverged.

Data: ``minigrad.data.load_cifar10_split`` (``get_cifar10_data`` plus the mean image, which
weights.npz stores so new images can be preprocessed), from ``--data-dir`` or as
``find_cifar10`` resolves it (``$MINIGRAD_CIFAR10``, the cache, a download).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterable
from dataclasses import fields
from typing import Any

from minigrad.cli.command import EXIT_INTERRUPTED, CommandError
from minigrad.experiment.config import (
    ACTIVATION_NAMES,
    DTYPES,
    INPUT_NORMALIZATIONS,
    LOSSES,
    MAX_TRANSLATE,
    NORMALIZATION_NAMES,
    PADDINGS,
    PRESETS,
    SAMPLINGS,
    SCHEDULES,
    WEIGHT_INITS,
    TrainConfig,
)
from minigrad.experiment.input_pipeline import load_run_data
from minigrad.experiment.job import CIFAR10_ROW_WIDTH, check_training_memory
from minigrad.experiment.progress import stage
from minigrad.experiment.run_folder import (
    STATUS_COMPLETE,
    STATUS_INTERRUPTED,
    claim_run_folder,
)
from minigrad.experiment.training_run import claim_default_run_dir, train_into_folder
from minigrad.files.folder_lock import FolderLock
from minigrad.files.output_paths import check_output_path, remove_if_empty
from minigrad.optim import OPTIMIZERS
from minigrad.training.callbacks import Callback

__all__ = ["add_parser", "config_from_args", "run"]

EXIT_CODES = {STATUS_COMPLETE: 0, STATUS_INTERRUPTED: EXIT_INTERRUPTED}
"""The exit code of each run status (a diverged run raises; ``main`` maps that to 1)."""

_WIDTHS = "widths"  # the kind of --hidden-dims: any number of ints
_METAVARS = {"hidden_size": "H", "dropout": "P", "translate": "K"}

# Options that set a TrainConfig field: (flag, type or choices or _WIDTHS, what it is).
_SETTINGS: tuple[tuple[str, Any, str], ...] = (
    ("--hidden-dims", _WIDTHS, "widths of the hidden layers, in order (none: a linear "
     "classifier)"),
    ("--hidden-size", int, "the two-layer shorthand: one hidden layer of H units"),
    ("--normalization", NORMALIZATION_NAMES, "normalisation after each hidden affine layer"),
    ("--dropout", float, "probability of dropping a hidden unit in training, in [0, 1)"),
    ("--activation", ACTIVATION_NAMES, "activation of the hidden layers"),
    ("--loss", LOSSES, "softmax cross-entropy or the multiclass hinge (SVM) loss"),
    ("--weight-init", WEIGHT_INITS, "initial weights: std * randn, or He's "
     "sqrt(2 / fan_in) * randn"),
    ("--num-iters", int, "training iterations"),
    ("--batch-size", int, "rows per minibatch"),
    ("--learning-rate", float, "initial learning rate (> 0)"),
    ("--lr-decay", float, "learning-rate factor per epoch, in (0, 1]"),
    ("--reg", float, "L2 strength (>= 0)"),
    ("--std", float, "standard deviation of the initial weights with --weight-init normal"),
    ("--optimizer", tuple(sorted(OPTIMIZERS)), "update rule"),
    ("--sampling", SAMPLINGS, "minibatches with replacement (the workbook's) or shuffled epochs"),
    ("--schedule", SCHEDULES, "learning rate: times --lr-decay per epoch (the workbook's), or "
     "cosine annealing to 0 over the run"),
    ("--normalize", INPUT_NORMALIZATIONS, "input pixels: subtract the training mean image "
     "(the workbook's), or standardise each colour channel"),
    ("--flip", bool, "mirror each training image left-right with probability 1/2"),
    ("--translate", int, f"shift each training image by up to K pixels (0-{MAX_TRANSLATE})"),
    ("--padding", PADDINGS, "the border a translation uncovers: zeros, or the mirrored image"),
    ("--seed", int, "seed of the initial weights, the dropout masks and the minibatches"),
    ("--dtype", DTYPES, "precision of the data and the parameters"),
    ("--num-training", int, "training images"),
    ("--num-validation", int, "validation images (taken after the training images)"),
    ("--num-test", int, "test images"),
)


OPTION_NAMES = {flag[2:].replace("-", "_"): flag for flag, _, _ in _SETTINGS}
"""The command-line option of each TrainConfig field (``"hidden_dims": "--hidden-dims"``)."""


def _show(value: Any) -> str:
    """A default as the command line would spell it (hidden widths space-separated)."""
    if isinstance(value, tuple):
        return " ".join(map(str, value)) or "none"
    return str(value)


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``train`` subcommand to ``subparsers``."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "train",
        help="train a fully connected net on CIFAR-10 and write a run folder",
        description="Train a fully connected net on CIFAR-10, the workbook's two-layer net "
        "by default. Settings start from a preset (the workbook's best net by default); "
        "each option overrides one, the architecture included. "
        "Writes config.json, weights.npz, history.csv, metrics.json, timing.json, "
        "loss.png, accuracy.png, weights.png and report.md into the run folder.",
    )
    parser.add_argument(
        "--preset", choices=sorted(PRESETS), default="best",
        help="starting settings: the workbook's best net, its first, sub-optimal one, "
        "deep (3072-512-256-10 with batch norm and dropout 0.1, He initialisation, Adam, "
        "10 shuffled epochs), augmented (the workbook's 3072-50-10 net on flipped and "
        "translated images, normalised per channel), or wide (one hidden layer of 1024 "
        "with dropout, on augmented images) (default: best)",
    )
    settings = parser.add_argument_group("settings (default: the preset's)")
    for flag, kind, what in _SETTINGS:
        name = flag[2:].replace("-", "_")
        default = _show(getattr(PRESETS["best"], name))
        if kind == _WIDTHS:
            settings.add_argument(flag, type=int, nargs="*", metavar="H",
                                  help=f"{what} (best: {default})")
        elif kind is bool:
            settings.add_argument(flag, action=argparse.BooleanOptionalAction,
                                  help=f"{what} (best: {'on' if default == 'True' else 'off'})")
        elif isinstance(kind, tuple):
            settings.add_argument(flag, choices=kind, help=f"{what} (best: {default})")
        else:
            settings.add_argument(flag, type=kind, metavar=_METAVARS.get(name, name.upper()),
                                  help=f"{what} (best: {default})")
    parser.add_argument(
        "--data-dir", metavar="DIR",
        help="folder with the CIFAR-10 python batches (default: $MINIGRAD_CIFAR10, then the "
        "per-user cache, then a download)",
    )
    parser.add_argument(
        "--out", metavar="DIR",
        help="run folder to create; must not exist or be empty, and is locked while the run "
        "writes it (default: runs/<timestamp>-<preset>-seed<k>, -2, -3 ... if taken)",
    )
    parser.add_argument(
        "--quiet", action="store_true",
        help="no progress bar or progress messages (the results are still printed)",
    )
    return parser


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """The preset named by ``args.preset`` with every given option applied.

    Raises
    ------
    CommandError : options that contradict each other (``--hidden-size`` with
        ``--hidden-dims``; ``--std`` for weights that are not ``normal``).
    ConfigError : an invalid setting or combination (see ``TrainConfig``).
    """
    if args.hidden_size is not None and args.hidden_dims is not None:
        raise CommandError(
            "--hidden-size H is the shorthand for --hidden-dims H; give one of them"
        )
    changes = {
        field.name: getattr(args, field.name)
        for field in fields(TrainConfig)
        if getattr(args, field.name, None) is not None
    }
    config = PRESETS[args.preset].replace(**changes)
    if args.std is not None and config.weight_init != "normal":
        raise CommandError(
            f"--std is the scale of --weight-init normal, but the weights are "
            f"{config.weight_init!r} (the {args.preset} preset's or --weight-init's); "
            "add --weight-init normal or leave out --std"
        )
    if args.lr_decay is not None and config.schedule != "exponential":
        raise CommandError(
            f"--lr-decay is the factor of --schedule exponential, but the schedule is "
            f"{config.schedule!r}; add --schedule exponential or leave out --lr-decay"
        )
    return config


def _option_names(args: argparse.Namespace) -> dict[str, str]:
    """:data:`OPTION_NAMES`, naming the net by the option the user gave for it."""
    names = dict(OPTION_NAMES)
    if args.hidden_size is not None:
        del names["hidden_dims"]  # messages say --hidden-size H, as typed
    return names


def _claim_folder(args: argparse.Namespace, config: TrainConfig) -> tuple[FolderLock, bool]:
    """The run folder, created and locked; and whether this call created it."""
    if args.out is not None:
        out = check_output_path(args.out, "--out")
        created = not os.path.lexists(out)
        return claim_run_folder(out), created
    return claim_default_run_dir(args.preset, config.seed), True


def run(args: argparse.Namespace, callbacks: Iterable[Callback] = ()) -> int:
    """Run ``minigrad train`` with parsed ``args``; ``callbacks`` join the training loop.

    Every setting, the memory they need and the run folder are checked (and the folder
    created and locked) before the seconds spent loading the data.
    """
    config = config_from_args(args)
    check_training_memory(config, CIFAR10_ROW_WIDTH, option_names=_option_names(args))
    lock, created = _claim_folder(args, config)
    try:
        with lock:
            with stage("loading CIFAR-10", quiet=args.quiet):
                split = load_run_data(config, args.data_dir)
            outcome = train_into_folder(
                config, split, lock.folder, callbacks=callbacks,
                progress=False if args.quiet else None,
            )
    except BaseException:
        if created:
            remove_if_empty(lock.folder)  # e.g. the data was missing: leave no empty folder
        raise
    print(outcome.summary())
    return EXIT_CODES[outcome.status]
