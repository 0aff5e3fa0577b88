"""``minigrad evaluate RUN_DIR``: reload a run's weights and measure them on CIFAR-10 again.

Runs trained on augmented or per-channel normalised images are measured on the image
pipeline with the statistics saved in weights.npz, never augmented. ``--flip``,
``--translate`` and ``--normalize`` may be given, as on ``minigrad train``, to state what
the run did; they are checked against the run's config.json.

The work is :func:`minigrad.experiment.run_evaluation.evaluate_run`; this prints the
accuracies and whether they match metrics.json (they do on the data the run was trained on).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, TextIO

from minigrad.cli.command import CommandError
from minigrad.experiment.config import INPUT_NORMALIZATIONS, TrainConfig
from minigrad.experiment.run_evaluation import evaluate_run
from minigrad.experiment.run_folder import WEIGHTS_FILE, read_config

__all__ = ["add_parser", "run"]

_LABELS = {"val": "validation", "test": "test", "train": "training"}  # in printing order


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
    pipeline = parser.add_argument_group(
        "data pipeline (optional; evaluation never augments and always applies the run's "
        "normalisation: given, these must match the run's config.json)")
    pipeline.add_argument("--flip", action=argparse.BooleanOptionalAction,
                          help="the run flipped its training images")
    pipeline.add_argument("--translate", type=int, metavar="K",
                          help="the run translated its training images by up to K pixels")
    pipeline.add_argument("--normalize", choices=INPUT_NORMALIZATIONS,
                          help="the run's input normalisation")
    parser.add_argument("--quiet", action="store_true", help="print the accuracies only")
    return parser


def check_pipeline_options(args: argparse.Namespace, config: TrainConfig) -> None:
    """``CommandError`` naming the first pipeline option that contradicts the run's config.

    The statistics are the run's own (weights.npz), so another normalisation would score
    a net on inputs it was never trained on; a contradicting flag is most likely a
    command pasted for another run.
    """
    for name in ("flip", "translate", "normalize"):
        given, recorded = getattr(args, name, None), getattr(config, name)
        if given is not None and given != recorded:
            flag = f"--{name}" if name != "flip" else ("--flip" if given else "--no-flip")
            value = "" if name == "flip" else f" {given}"
            raise CommandError(
                f"{flag}{value} contradicts the run, which was trained with "
                f"{name}={recorded!r} (config.json); evaluation applies the run's own "
                "normalisation and never augments: leave the option out"
            )


def run(args: argparse.Namespace, stdout: TextIO | None = None) -> int:
    """Run ``minigrad evaluate`` with parsed ``args``; 0 on success."""
    out = sys.stdout if stdout is None else stdout
    check_pipeline_options(args, read_config(args.run_dir))
    if not args.quiet:
        print(f"loading {Path(args.run_dir) / WEIGHTS_FILE} and CIFAR-10 ...", file=sys.stderr)
    evaluation = evaluate_run(args.run_dir, args.data_dir)
    for split, label in _LABELS.items():
        print(f"{label} accuracy: {getattr(evaluation.accuracies, split):.4f}", file=out)
    mismatches = evaluation.mismatches()
    if mismatches:
        print(
            "differs from metrics.json ("
            + "; ".join(f"{_LABELS[split]} {recorded!r} vs {measured!r}"
                        for split, (recorded, measured) in mismatches.items())
            + "): is this the data the run was trained on?",
            file=out,
        )
    elif not args.quiet:
        print("matches metrics.json", file=out)
    return 0
