"""``minigrad tune``: hyper-parameter search on CIFAR-10 with Optuna, resumable, on one
machine or many.

One machine: the study lives in the search folder (``study.journal``); ``--workers N``
runs N worker processes on it; ``--resume --out DIR`` goes on with the search's own
settings and split. Many machines: ``--storage URL --study NAME`` on each (PostgreSQL),
each running trials until the study has the requested number.

Writes into the search folder, as exports of the study: ``trials.csv`` (one row per
finished trial, rewritten as trials finish), ``leaderboard.txt``, ``search.png``,
``history.png``, ``importance.png``, and ``best-trial-<id>/``, the best trial retrained
into a run folder like ``minigrad train`` writes. Ctrl-C, SIGTERM and SIGHUP stop the
workers, keep every finished trial, and exit with 128 + the signal (130, 143, 129).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from minigrad.cli.command import EXIT_DIVERGED, CommandError
from minigrad.experiment.config import (
    DTYPES,
    INPUT_NORMALIZATIONS,
    PADDINGS,
    SAMPLINGS,
    SCHEDULES,
    WEIGHT_INITS,
    TrainConfig,
)
from minigrad.files.folder_lock import FolderLock
from minigrad.files.output_paths import check_output_path, printable_path, remove_if_empty
from minigrad.tune.engine import require_optuna
from minigrad.tune.location import DEFAULT_HEARTBEAT, STUDY_FILE, StudyLocation
from minigrad.tune.settings import PRUNERS, SAMPLERS, SearchSettings
from minigrad.tune.signals import exit_code, stop_on_signals
from minigrad.tune.space import LR_FAMILIES, SearchSpace, TuneError, parse_architecture
from minigrad.validation import check_positive_int

__all__ = ["add_parser", "run", "settings_from_args"]

_RANGE_OPTIONS = (
    # (flag, SearchSpace field, type, what)
    ("--lr-sgd", "lr_sgd", float, "log-uniform learning-rate range for sgd"),
    ("--lr-momentum", "lr_momentum", float, "... for momentum and nesterov"),
    ("--lr-adaptive", "lr_adaptive", float, "... for rmsprop, adam and adagrad"),
    ("--reg", "reg", float, "log-uniform range of the L2 strength"),
    ("--lr-decay", "lr_decay", float, "uniform range of the per-epoch learning-rate factor"),
    ("--num-iters", "num_iters", int, "range of training iterations"),
    ("--epochs", "num_epochs", int, "or of epochs (epochs x N // batch iterations)"),
)
_SIZES = ("num_training", "num_validation", "num_test")


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``tune`` subcommand to ``subparsers``."""
    defaults, base = SearchSpace(), SearchSettings()
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "tune",
        help="hyper-parameter search with Optuna (parallel, resumable, multi-machine)",
        description="Search over optimiser, learning rate, reg, decay, length, batch size "
        "(and, with --hidden-dims, the architecture) of the net on CIFAR-10, with Optuna "
        "(pip install 'minigrad[tune]'). The study lives in the search folder, or in a "
        "database shared by many machines (--storage, --study); trials.csv, the leaderboard "
        "and the plots are exports of it.",
    )
    search = parser.add_argument_group("the search")
    search.add_argument("--trials", type=int, metavar="N",
                        help=f"number of trials (default {base.num_trials})")
    search.add_argument("--seed", type=int, metavar="S",
                        help=f"seed of the search (default {base.seed})")
    search.add_argument("--sampler", choices=SAMPLERS,
                        help="random: the seeded trial list (trial i depends only on the "
                        "seed and i); tpe: model-based (default random)")
    search.add_argument("--pruner", choices=PRUNERS,
                        help="stop trials that do worse than others at an epoch "
                        "(default none)")
    search.add_argument("--prune-startup", type=int, metavar="N",
                        help=f"trials that finish before the median pruner prunes "
                        f"(default {base.prune_startup})")
    search.add_argument("--prune-warmup", type=int, metavar="EPOCHS",
                        help="epochs every trial trains before it may be pruned; the median "
                        "pruner then checks every EPOCHS/2 (default: a quarter of the "
                        "shortest trial)")
    search.add_argument(
        "--optimizers", nargs="+", choices=sorted(LR_FAMILIES), metavar="NAME",
        help=f"optimisers to choose from (default: all of {', '.join(defaults.optimizers)})",
    )
    for flag, name, kind, what in _RANGE_OPTIONS:
        default = getattr(defaults, name)
        shown = "off" if default is None else f"{default[0]:g} {default[1]:g}"
        search.add_argument(
            flag, nargs=2, type=kind, metavar=("LOW", "HIGH"), help=f"{what} (default {shown})"
        )
    search.add_argument(
        "--batch-sizes", nargs="+", type=int, metavar="B",
        help=f"batch sizes to choose from (default {' '.join(map(str, defaults.batch_sizes))})",
    )
    search.add_argument("--hidden-size", type=int, metavar="H",
                        help="one hidden layer of H units, fixed (default 50)")
    search.add_argument("--hidden-dims", nargs="+", metavar="W[,W...]",
                        help="the architecture, as hidden widths (100,50 is two layers); "
                        "several choose among them (default 50)")
    search.add_argument("--schedules", nargs="+", choices=SCHEDULES, metavar="NAME",
                        help="learning-rate schedules to choose from: exponential (times the "
                        "chosen --lr-decay per epoch), cosine (to 0 over the trial) "
                        "(default exponential)")
    search.add_argument("--flip", nargs="*", choices=("on", "off"),
                        help="mirror training images left-right at random: --flip alone or "
                        "--flip on for every trial, --flip off on to choose (default off)")
    search.add_argument("--translate", nargs="+", type=int, metavar="K",
                        help="random shifts of training images by up to K pixels; several "
                        "values choose among them (default 0)")
    search.add_argument("--normalize", nargs="+", choices=INPUT_NORMALIZATIONS,
                        metavar="KIND",
                        help="input normalisation: mean-image (the workbook's) or "
                        "per-channel; both to choose (default mean-image)")
    search.add_argument("--padding", choices=PADDINGS,
                        help="the border a translation uncovers, fixed (default zero)")
    search.add_argument("--sampling", choices=SAMPLINGS,
                        help=f"minibatch sampling, fixed (default {defaults.sampling})")
    search.add_argument("--dtype", choices=DTYPES, help=f"precision (default {defaults.dtype})")
    search.add_argument("--std", type=float, help=f"initial weight scale (default {defaults.std})")
    search.add_argument("--weight-init", choices=WEIGHT_INITS,
                        help="initial weights: normal (--std * randn, the workbook's) or he "
                        "(He et al.'s scale for ReLU nets), fixed (default normal)")
    search.add_argument("--patience", type=int, metavar="EPOCHS",
                        help="early-stop a trial after this many epochs without improvement")
    search.add_argument("--target-acc", type=float, metavar="ACC",
                        help="record iterations and seconds each trial needs to reach ACC")
    run_group = parser.add_argument_group("running")
    run_group.add_argument("--out", metavar="DIR",
                           help="search folder (default runs/<timestamp>-tune-seed<S>)")
    run_group.add_argument("--resume", action="store_true",
                           help="continue the search in --out with its settings and split")
    run_group.add_argument("--workers", type=int, metavar="W",
                           help=f"parallel worker processes (default {os.cpu_count()})")
    run_group.add_argument("--storage", metavar="URL",
                           help="a database holding the study, shared by any number of "
                           "machines (e.g. postgresql+psycopg2://user@host/db)")
    run_group.add_argument("--study", metavar="NAME",
                           help="the study's name in --storage (made if new, joined if not)")
    run_group.add_argument("--heartbeat", type=int, metavar="SECONDS",
                           help="with --storage: a running trial's heartbeat; one silent for "
                           "3 heartbeats is run again by another process (default 30)")
    run_group.add_argument("--top", type=int, default=10, metavar="K",
                           help="rows of the leaderboard, >= 1 (default 10)")
    run_group.add_argument("--no-save-best", action="store_true",
                           help="do not retrain the best trial into a run folder")
    run_group.add_argument("--quiet", action="store_true", help="no progress bar")
    data = parser.add_argument_group("data")
    data.add_argument("--data-dir", metavar="DIR",
                      help="folder with the CIFAR-10 python batches (default $MINIGRAD_CIFAR10)")
    config = TrainConfig()
    for name in _SIZES:
        flag = "--" + name.replace("_", "-")
        data.add_argument(flag, type=int, metavar="N",
                          help=f"images in that split (default {getattr(config, name)}; "
                          "a resumed search uses its own)")
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
    if args.hidden_size is not None and args.hidden_dims is not None:
        raise CommandError("give --hidden-size or --hidden-dims, not both")
    if args.hidden_size is not None:
        space["hidden_dims"] = ((args.hidden_size,),)
    if args.hidden_dims is not None:
        try:
            space["hidden_dims"] = tuple(parse_architecture(text) for text in args.hidden_dims)
        except (TypeError, ValueError) as err:
            raise CommandError(f"--hidden-dims: {err}") from None
    if args.std is not None and args.weight_init not in (None, "normal"):
        raise TuneError(f"--std is the scale of --weight-init normal, but the weights are "
                        f"{args.weight_init!r}")
    for name in ("sampling", "dtype", "std", "padding", "weight_init"):
        if getattr(args, name) is not None:
            space[name] = getattr(args, name)
    for name in ("schedules", "translate", "normalize"):
        if getattr(args, name) is not None:
            space[name] = tuple(getattr(args, name))
    if args.flip is not None:
        space["flip"] = tuple(choice == "on" for choice in args.flip or ["on"])
    settings = base.to_dict()
    settings["space"] = space
    for option, key in (("trials", "num_trials"), ("seed", "seed"), ("patience", "patience"),
                        ("target_acc", "target_acc"), ("sampler", "sampler"),
                        ("pruner", "pruner"), ("prune_startup", "prune_startup"),
                        ("prune_warmup", "prune_warmup")):
        if getattr(args, option) is not None:
            settings[key] = getattr(args, option)
    return SearchSettings.from_dict(settings)


def _memory_names(args: argparse.Namespace) -> dict[str, str]:
    names = {"hidden_size": "--hidden-size", "batch_size": "--batch-sizes",
             "num_training": "--num-training"}
    if args.hidden_dims is not None:
        names["hidden_dims"] = "--hidden-dims"
    return names


def _check_memory(args: argparse.Namespace, settings: SearchSettings,
                  sizes: dict[str, int]) -> None:
    """Refuse a search whose largest trial (largest net, largest batch) cannot fit."""
    from minigrad.experiment.job import CIFAR10_ROW_WIDTH, check_training_memory

    space = settings.space
    for dims in space.hidden_dims:
        largest = space.base_config(dims, **sizes).replace(batch_size=max(space.batch_sizes))
        check_training_memory(largest, CIFAR10_ROW_WIDTH, option_names=_memory_names(args))


def _claim_folder(args: argparse.Namespace, settings: SearchSettings) -> tuple[FolderLock, bool]:
    """The search folder, created if needed and locked (before the data is loaded); and
    whether this call created it."""
    from minigrad.experiment.training_run import claim_default_run_dir
    from minigrad.tune.search import claim_search_folder

    if args.out is None:
        return claim_default_run_dir("tune", settings.seed), True
    out = check_output_path(args.out, "--out")
    created = not os.path.lexists(out)
    return claim_search_folder(out), created


def _location(args: argparse.Namespace) -> Any:

    if args.storage is None:
        if args.study is not None:
            raise CommandError("--study names a study in a --storage database; give both")
        if args.heartbeat is not None:
            raise CommandError("--heartbeat is for studies in a --storage database")
        if args.resume and args.out is None:
            raise CommandError("--resume needs --out, the folder of the search to continue")
        return None
    if not args.storage.strip():
        raise CommandError("--storage is empty")
    if args.study is None:
        raise CommandError("--storage needs --study, the name of the study to run or join")
    heartbeat = DEFAULT_HEARTBEAT if args.heartbeat is None else args.heartbeat
    return StudyLocation.database(args.storage, args.study, heartbeat)


def _sizes(args: argparse.Namespace, saved: dict[str, int] | None) -> dict[str, int]:
    """The split's sizes: the saved search's, unless an option says otherwise (refused)."""
    config = TrainConfig()
    sizes = {}
    for name in _SIZES:
        given = getattr(args, name)
        if given is not None:
            try:
                given = check_positive_int(given, "--" + name.replace("_", "-"))
            except (TypeError, ValueError) as err:
                raise CommandError(str(err)) from None
        if saved is not None:
            if given is not None and given != saved[name]:
                raise TuneError(
                    f"cannot resume with --{name.replace('_', '-')} {given}: the search ran "
                    f"on {saved[name]} (leave the option out to use the search's split)"
                )
            sizes[name] = saved[name]
        else:
            sizes[name] = getattr(config, name) if given is None else given
    return sizes


def run(args: argparse.Namespace) -> int:
    """Run ``minigrad tune`` with parsed ``args``.

    Every option, the memory the largest trial needs and the search folder are checked
    (and the folder created and locked) before the data is loaded.
    """
    location = _location(args)
    try:
        top = check_positive_int(args.top, "--top")
        workers = check_positive_int(
            (os.cpu_count() or 1) if args.workers is None else args.workers, "--workers"
        )
    except (TypeError, ValueError) as err:
        raise CommandError(str(err)) from None
    require_optuna()
    import optuna

    from minigrad.tune.study import read_search

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    saved = None
    if location is not None:
        saved = read_search(location)
    elif args.resume:
        saved = read_search(StudyLocation.embedded(check_output_path(args.out, "--out")))
        if saved is None:
            raise TuneError(f"nothing to resume: {Path(args.out) / STUDY_FILE} does not exist")
    settings = settings_from_args(args, saved[0] if saved else SearchSettings())
    sizes = _sizes(args, saved[1] if saved else None)
    _check_memory(args, settings, sizes)
    with stop_on_signals():
        try:
            lock, created = _claim_folder(args, settings)
            try:
                with lock:
                    return _search(args, settings, sizes, location, lock.folder, top, workers)
            except BaseException:
                if created:
                    remove_if_empty(lock.folder)  # e.g. the data was missing
                raise
        except KeyboardInterrupt as stop:
            _report_stop(stop, args, location)
            return exit_code()


def _report_stop(stop: KeyboardInterrupt, args: argparse.Namespace, location: Any) -> None:
    from minigrad.tune.best_trial import RetrainInterrupted

    again = ("run the same command again" if location is not None
             else f"minigrad tune --resume --out {args.out}" if args.out else "--resume")
    if isinstance(stop, RetrainInterrupted):
        print(f"minigrad tune: interrupted while retraining the best trial; no run folder "
              f"was kept; to retrain it: {again}", file=sys.stderr)
    else:
        print(f"minigrad tune: interrupted; every finished trial is in the study\n"
              f"continue with: {again}", file=sys.stderr)


def _search(
    args: argparse.Namespace,
    settings: SearchSettings,
    sizes: dict[str, int],
    location: Any,
    folder: Path,
    top: int,
    workers: int,
) -> int:
    """Load the data, run the search into ``folder`` (held), report; the exit code."""
    from minigrad.experiment.progress import stage
    from minigrad.tune.best_trial import best_trial_dir, retrain_best_trial
    from minigrad.tune.results import best_result
    from minigrad.tune.search import check_new_search_folder, run_search, write_summary
    from minigrad.tune.search_data import load_search_data
    from minigrad.tune.shared_data import SharedSplit
    from minigrad.tune.study import SearchStudy

    if location is None and not args.resume:
        check_new_search_folder(folder)
    space = settings.space
    with stage("loading CIFAR-10", quiet=args.quiet):
        split = load_search_data(sizes, rows=space.uses_rows, images=space.uses_image_pipeline,
                                 dtype=space.dtype, root=args.data_dir)
    shared = None
    if workers > 1:
        # The workers' copy is the only one: this process maps it too and drops its own.
        shared = SharedSplit(split)
        split = shared.view()
    try:
        results = run_search(
            split, settings, folder, workers=workers, resume=args.resume,
            progress=False if args.quiet else None, location=location, shared=shared,
        )
        where = location or StudyLocation.embedded(folder)
        search = SearchStudy.attach(where, 0)
        print(write_summary(folder, results, top, search))
        print(f"search folder: {printable_path(folder)}")
        best = best_result(results)
        if best is None:
            print("no trial finished successfully: nothing to save", file=sys.stderr)
            return EXIT_DIVERGED
        if args.no_save_best:
            return 0
        run_dir = best_trial_dir(folder, best.trial)
        print(f"retraining trial {best.trial.trial_id} into {printable_path(run_dir)} ...",
              file=sys.stderr)
        sys.stdout.flush()  # show the leaderboard before the minutes of retraining
        outcome = retrain_best_trial(best, search.settings, split, folder, workers=workers,
                                     progress=False if args.quiet else None, shared=shared)
    finally:
        if shared is not None:
            shared.close()
    if outcome is None:
        print(f"best trial's run folder: {printable_path(run_dir)} (already written)")
    else:
        print(outcome.summary())
    return 0
