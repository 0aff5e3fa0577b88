"""``minigrad tune``: random hyper-parameter search on CIFAR-10, in parallel and resumable.

Writes into the search folder: ``search.json`` (settings), ``trials.csv`` (one row per
finished trial, streamed), ``search.png`` (validation accuracy over learning rate and reg),
``leaderboard.txt``, and ``best-trial-<id>/``, the best trial retrained into a run folder
like ``minigrad train`` writes. Ctrl-C (or a kill) keeps every finished trial;
``minigrad tune --resume --out DIR`` runs the rest.
"""

from __future__ import annotations

import argparse
import os
import sys
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

from minigrad.cli.command import EXIT_DIVERGED, EXIT_INTERRUPTED, CommandError
from minigrad.data import Cifar10Split
from minigrad.experiment.config import DTYPES, SAMPLINGS, TrainConfig
from minigrad.experiment.job import CIFAR10_ROW_WIDTH, check_training_memory, load_split
from minigrad.experiment.run_folder import run_finished
from minigrad.experiment.training_run import claim_default_run_dir
from minigrad.files.folder_lock import FolderLock
from minigrad.files.output_paths import check_output_path, printable_path, remove_if_empty
from minigrad.tune.best_trial import best_trial_dir, retrain_best_trial
from minigrad.tune.results import TrialResult, best_result
from minigrad.tune.search import (
    RESULTS_FILE,
    SearchSettings,
    check_new_search_folder,
    claim_search_folder,
    finished_trials,
    read_settings,
    run_search,
    write_summary,
)
from minigrad.tune.space import LR_FAMILIES, SearchSpace
from minigrad.validation import check_positive_int

__all__ = ["add_parser", "run", "settings_from_args"]

_RANGE_OPTIONS = (
    # (flag, SearchSpace field, type, what)
    ("--lr-sgd", "lr_sgd", float, "log-uniform learning-rate range for sgd"),
    ("--lr-momentum", "lr_momentum", float, "... for momentum and nesterov"),
    ("--lr-adaptive", "lr_adaptive", float, "... for rmsprop, adam and adagrad"),
    ("--reg", "reg", float, "log-uniform range of the L2 strength"),
    ("--lr-decay", "lr_decay", float, "uniform range of the per-epoch learning-rate factor"),
    ("--num-iters", "num_iters", int, "uniform range of training iterations"),
    ("--epochs", "num_epochs", int, "or of epochs (epochs x N // batch iterations)"),
)


_MEMORY_OPTIONS = {
    "hidden_size": "--hidden-size", "batch_size": "--batch-sizes", "num_training": "--num-training"
}


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``tune`` subcommand to ``subparsers``."""
    defaults = SearchSpace()
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "tune",
        help="random hyper-parameter search (parallel, resumable)",
        description="Random search over optimiser, learning rate, reg, decay, length and "
        "batch size of the two-layer net on CIFAR-10. Results stream to trials.csv in the "
        "search folder; --resume continues an interrupted search.",
    )
    search = parser.add_argument_group("the search")
    search.add_argument("--trials", type=int, metavar="N", help="number of trials (default 20)")
    search.add_argument("--seed", type=int, metavar="S", help="seed of the search (default 0)")
    search.add_argument(
        "--optimizers", nargs="+", choices=sorted(LR_FAMILIES), metavar="NAME",
        help=f"optimisers to draw from (default: all of {', '.join(defaults.optimizers)})",
    )
    for flag, name, kind, what in _RANGE_OPTIONS:
        default = getattr(defaults, name)
        shown = "off" if default is None else f"{default[0]:g} {default[1]:g}"
        search.add_argument(
            flag, nargs=2, type=kind, metavar=("LOW", "HIGH"), help=f"{what} (default {shown})"
        )
    search.add_argument(
        "--batch-sizes", nargs="+", type=int, metavar="B",
        help=f"batch sizes to draw from (default {' '.join(map(str, defaults.batch_sizes))})",
    )
    search.add_argument("--hidden-size", type=int, metavar="H",
                        help=f"hidden units, fixed (default {defaults.hidden_size})")
    search.add_argument("--sampling", choices=SAMPLINGS,
                        help=f"minibatch sampling, fixed (default {defaults.sampling})")
    search.add_argument("--dtype", choices=DTYPES, help=f"precision (default {defaults.dtype})")
    search.add_argument("--std", type=float, help=f"initial weight scale (default {defaults.std})")
    search.add_argument("--patience", type=int, metavar="EPOCHS",
                        help="early-stop a trial after this many epochs without improvement")
    search.add_argument("--target-acc", type=float, metavar="ACC",
                        help="record iterations and seconds each trial needs to reach ACC")
    run_group = parser.add_argument_group("running")
    run_group.add_argument("--out", metavar="DIR",
                           help="search folder (default runs/<timestamp>-tune-seed<S>)")
    run_group.add_argument("--resume", action="store_true",
                           help="continue the search in --out, skipping finished trials")
    run_group.add_argument("--workers", type=int, metavar="W",
                           help=f"parallel worker processes (default {os.cpu_count()})")
    run_group.add_argument("--top", type=int, default=10, metavar="K",
                           help="rows of the leaderboard, >= 1 (default 10)")
    run_group.add_argument("--no-save-best", action="store_true",
                           help="do not retrain the best trial into a run folder")
    run_group.add_argument("--quiet", action="store_true", help="no progress bar")
    data = parser.add_argument_group("data")
    data.add_argument("--data-dir", metavar="DIR",
                      help="folder with the CIFAR-10 python batches (default $MINIGRAD_CIFAR10)")
    base = TrainConfig()
    for flag in ("--num-training", "--num-validation", "--num-test"):
        name = flag[2:].replace("-", "_")
        data.add_argument(flag, type=int, default=getattr(base, name), metavar="N",
                          help=f"images in that split (default {getattr(base, name)})")
    return parser


def settings_from_args(args: argparse.Namespace, base: SearchSettings) -> SearchSettings:
    """``base`` with every search option given on the command line applied."""
    space = base.space.to_dict()
    for _, name, _, _ in _RANGE_OPTIONS:
        value = getattr(args, name if name != "num_epochs" else "epochs")
        if value is not None:
            space[name] = tuple(value)
    if args.epochs is None and args.num_iters is not None:
        space["num_epochs"] = None  # an explicit iteration range replaces an epoch range
    for name in ("optimizers", "batch_sizes"):
        if getattr(args, name) is not None:
            space[name] = tuple(getattr(args, name))
    for name in ("hidden_size", "sampling", "dtype", "std"):
        if getattr(args, name) is not None:
            space[name] = getattr(args, name)
    settings = base.to_dict()
    settings["space"] = space
    for option, key in (("trials", "num_trials"), ("seed", "seed"), ("patience", "patience"),
                        ("target_acc", "target_acc")):
        if getattr(args, option) is not None:
            settings[key] = getattr(args, option)
    return SearchSettings.from_dict(settings)


def _save_best(
    best: TrialResult,
    settings: SearchSettings,
    split: Cifar10Split,
    folder: Path,
    workers: int,
    quiet: bool,
) -> int:
    """Retrain the best trial into its run folder, print what it scored; the exit code."""
    run_dir = best_trial_dir(folder, best.trial)
    if run_finished(run_dir):
        print(f"best trial's run folder: {printable_path(run_dir)} (already written)")
        return 0
    print(f"retraining trial {best.trial.trial_id} into {run_dir} ...", file=sys.stderr)
    sys.stdout.flush()  # show the leaderboard before the minutes of retraining
    outcome = retrain_best_trial(
        best, settings, split, run_dir, workers=workers, progress=False if quiet else None
    )
    print(outcome.summary())
    return EXIT_INTERRUPTED if outcome.interrupted else 0


def _check_memory(args: argparse.Namespace, settings: SearchSettings) -> None:
    """Refuse a search whose largest trial (hidden size, largest batch) cannot fit in memory."""
    space = settings.space
    largest = space.base_config(
        num_training=args.num_training, num_validation=args.num_validation,
        num_test=args.num_test,
    ).replace(batch_size=max(space.batch_sizes))
    check_training_memory(largest, CIFAR10_ROW_WIDTH, option_names=_MEMORY_OPTIONS)


def _claim_folder(args: argparse.Namespace, settings: SearchSettings) -> tuple[FolderLock, bool]:
    """The search folder, created if needed and locked (before the data is loaded); and
    whether this call created it."""
    if args.out is None:
        return claim_default_run_dir("tune", settings.seed), True
    out = check_output_path(args.out, "--out")
    created = not os.path.lexists(out)
    return claim_search_folder(out), created


def run(args: argparse.Namespace) -> int:
    """Run ``minigrad tune`` with parsed ``args``.

    Every option, the memory the largest trial needs and the search folder are checked
    (and the folder created and locked) before the data is loaded.
    """
    if args.resume and args.out is None:
        raise CommandError("--resume needs --out, the folder of the search to continue")
    try:
        top = check_positive_int(args.top, "--top")
        workers = check_positive_int(
            (os.cpu_count() or 1) if args.workers is None else args.workers, "--workers"
        )
    except (TypeError, ValueError) as err:
        raise CommandError(str(err)) from None
    base = read_settings(args.out) if args.resume else SearchSettings()
    settings = settings_from_args(args, base)
    _check_memory(args, settings)
    lock, created = _claim_folder(args, settings)
    try:
        with lock:
            return _search(args, settings, lock.folder, top, workers)
    except BaseException:
        if created:
            remove_if_empty(lock.folder)  # e.g. the data was missing: leave no empty folder
        raise


def _search(
    args: argparse.Namespace, settings: SearchSettings, folder: Path, top: int, workers: int
) -> int:
    """Load the data, run the search into ``folder`` (held), report; the exit code."""
    if not args.resume:
        check_new_search_folder(folder)
    if not args.quiet:
        print("loading CIFAR-10 ...", file=sys.stderr)
    split = load_split(
        args.num_training, args.num_validation, args.num_test,
        root=args.data_dir, dtype=settings.space.dtype,
    )
    try:
        results = run_search(
            split, settings, folder, workers=workers, resume=args.resume,
            progress=False if args.quiet else None,
        )
    except KeyboardInterrupt:
        saved = len(finished_trials(folder))
        print(
            f"minigrad tune: interrupted; {saved} finished trial(s) are in "
            f"{folder / RESULTS_FILE}\ncontinue with: minigrad tune --resume --out {folder}",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    except BrokenProcessPool as exc:
        print(f"minigrad tune: error: a worker process died ({exc}); finished trials are "
              f"in {folder / RESULTS_FILE}, continue with --resume", file=sys.stderr)
        return EXIT_DIVERGED
    print(write_summary(folder, results, top))
    print(f"search folder: {printable_path(folder)}")
    best = best_result(results)
    if best is None:
        print("no trial finished successfully: nothing to save", file=sys.stderr)
        return EXIT_DIVERGED
    if args.no_save_best:
        return 0
    return _save_best(best, settings, split, folder, workers, args.quiet)
