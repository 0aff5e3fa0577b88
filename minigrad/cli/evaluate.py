"""``minigrad evaluate RUN_DIR``: reload a run's weights and measure them on CIFAR-10 again.

The raw images are centred with the mean image stored in weights.npz, so the numbers are
those of the saved model on whatever data is given; on the data the run was trained on
they equal metrics.json exactly.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from minigrad.cli.command import CommandError
from minigrad.data import load_cifar10_split
from minigrad.experiment.job import Accuracies, evaluate_model
from minigrad.experiment.run_folder import LoadedRun, load_run

__all__ = ["add_parser", "evaluate_run", "run"]

_NAMES = (("val", "val_acc", "validation"), ("test", "test_acc", "test"),
          ("train", "train_acc", "training"))


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``evaluate`` subcommand to ``subparsers``."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "evaluate",
        help="reload a run folder's weights and print their accuracies",
        description="Rebuild the net of a run folder from config.json and weights.npz, and "
        "print its validation, test and training accuracy on CIFAR-10 (the same splits "
        "as the run), comparing them with metrics.json.",
    )
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a folder written by minigrad train")
    parser.add_argument(
        "--data-dir", metavar="DIR",
        help="folder with the CIFAR-10 python batches (default: $MINIGRAD_CIFAR10, then the "
        "per-user cache, then a download)",
    )
    parser.add_argument("--quiet", action="store_true", help="print the accuracies only")
    return parser


def evaluate_run(
    run_dir: str | os.PathLike[str], data_dir: str | os.PathLike[str] | None = None
) -> tuple[LoadedRun, Accuracies]:
    """Load a run folder and measure its weights on the run's CIFAR-10 splits.

    Returns
    -------
    The loaded run and the accuracies of its weights.
    """
    loaded = load_run(run_dir)
    config = loaded.config
    try:
        raw = load_cifar10_split(
            config.num_training, config.num_validation, config.num_test,
            root=data_dir, dtype=np.uint8, subtract_mean=False,
        )
    except ValueError as exc:  # the run's split sizes do not fit this data
        raise CommandError(str(exc)) from exc
    split = replace(
        raw,
        X_train=loaded.preprocess(raw.X_train),
        X_val=loaded.preprocess(raw.X_val),
        X_test=loaded.preprocess(raw.X_test),
        mean_image=loaded.mean_image,
    )
    return loaded, evaluate_model(loaded.model, split)


def run(args: argparse.Namespace, stdout: TextIO | None = None) -> int:
    """Run ``minigrad evaluate`` with parsed ``args``; 0 on success."""
    out = sys.stdout if stdout is None else stdout
    if not args.quiet:
        print(f"loading {Path(args.run_dir) / 'weights.npz'} and CIFAR-10 ...", file=sys.stderr)
    loaded, measured = evaluate_run(args.run_dir, args.data_dir)
    differences = []
    for attribute, key, label in _NAMES:
        value = getattr(measured, attribute)
        print(f"{label} accuracy: {value:.4f}", file=out)
        if loaded.metrics.get(key) != value:
            differences.append(f"{label} {loaded.metrics.get(key)!r} vs {value!r}")
    if differences:
        print(
            "differs from metrics.json (" + "; ".join(differences) + "): is this the data "
            "the run was trained on?",
            file=out,
        )
    elif not args.quiet:
        print("matches metrics.json", file=out)
    return 0
