"""The ``minigrad`` command: argparse with one module per subcommand.

A subcommand module exposes ``add_parser(subparsers)`` (adds its parser with
``subparsers.add_parser(name, ...)``) and ``run(args) -> int`` (the exit code). To add one,
add the module's name to :data:`SUBCOMMAND_MODULES`.

Exit codes: 0 success, 1 training diverged, 2 bad input (usage errors, invalid settings,
missing or corrupt files; one line on stderr, no traceback), 130 interrupted (Ctrl-C).
``minigrad`` without a subcommand prints the help to stderr and exits 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import NoReturn

from minigrad.data import CifarFormatError, CifarNotFoundError, DataFetchError
from minigrad.experiment.config import ConfigError
from minigrad.experiment.run_folder import RunFolderError
from minigrad.files.bounded_read import UnreadableFileError
from minigrad.files.folder_lock import FolderLockError
from minigrad.files.memory import InsufficientMemoryError
from minigrad.files.output_paths import UnusablePathError
from minigrad.training.trainer import DivergenceError
from minigrad.version import __version__

__all__ = [
    "BAD_INPUT_ERRORS",
    "EXIT_BAD_INPUT",
    "EXIT_DIVERGED",
    "EXIT_INTERRUPTED",
    "SUBCOMMAND_MODULES",
    "CommandError",
    "build_parser",
    "main",
]

SUBCOMMAND_MODULES: tuple[str, ...] = (
    "minigrad.cli.train", "minigrad.cli.evaluate", "minigrad.cli.tune",
)

EXIT_DIVERGED = 1
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, what shells report for Ctrl-C


class CommandError(Exception):
    """A subcommand's input is unusable; main prints the message and exits 2."""


BAD_INPUT_ERRORS: tuple[type[BaseException], ...] = (
    CommandError,
    ConfigError,
    RunFolderError,
    CifarFormatError,  # includes a named CIFAR-10 folder with files missing
    CifarNotFoundError,
    DataFetchError,
    UnreadableFileError,  # a file too large, not UTF-8, not valid JSON or npz ...
    UnusablePathError,  # an --out that cannot be encoded or created
    FolderLockError,  # a folder another process is writing into
    InsufficientMemoryError,
    OSError,  # e.g. permission denied on the run folder
)
"""Exceptions reported as one line and exit code 2 rather than a traceback."""


class _OneLineErrorParser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line on stderr (exit 2)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _load_subcommands() -> list[ModuleType]:
    return [importlib.import_module(name) for name in SUBCOMMAND_MODULES]


def build_parser() -> argparse.ArgumentParser:
    """The ``minigrad`` parser with every subcommand of :data:`SUBCOMMAND_MODULES`.

    Each subcommand's parsed namespace carries its module as ``args.command_module``.
    """
    parser = _OneLineErrorParser(
        prog="minigrad",
        description="Train and evaluate minigrad's fully connected nets on CIFAR-10 (the "
        "workbook's two-layer net by default).",
    )
    parser.add_argument("--version", action="version", version=f"minigrad {__version__}")
    subparsers = parser.add_subparsers(
        title="commands", dest="command", metavar="COMMAND", parser_class=_OneLineErrorParser
    )
    for module in _load_subcommands():
        before = set(subparsers.choices)
        module.add_parser(subparsers)
        for name in set(subparsers.choices) - before:
            subparsers.choices[name].set_defaults(command_module=module)
    return parser


def _error(prog: str, message: object) -> int:
    # One line: a message spanning lines (rare) is joined so scripts can grep it.
    text = " ".join(str(message).split("\n"))
    print(f"{prog}: error: {text}", file=sys.stderr)
    return EXIT_BAD_INPUT


def _printable_output() -> None:
    """Let stdout print any path: undecodable file-name bytes become escapes, not errors."""
    reconfigure = getattr(sys.stdout, "reconfigure", None)
    if reconfigure is not None:
        try:
            reconfigure(errors="backslashreplace")
        except (ValueError, OSError):  # a stream that cannot change now
            pass


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` (default ``sys.argv[1:]``), run the subcommand, return the exit code.

    Never raises for bad input or Ctrl-C: those become exit codes (see the module
    docstring), so tests and scripts can call it in-process.
    """
    _printable_output()
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:  # --help, --version, usage errors
        return stop.code if isinstance(stop.code, int) else EXIT_BAD_INPUT
    module = getattr(args, "command_module", None)
    if module is None:
        parser.print_help(sys.stderr)
        return EXIT_BAD_INPUT
    prog = f"minigrad {args.command}"
    try:
        return int(module.run(args))
    except BAD_INPUT_ERRORS as exc:
        return _error(prog, exc)
    except DivergenceError as exc:
        _error(prog, exc)
        return EXIT_DIVERGED
    except MemoryError:  # the checks before each large allocation missed one
        return _error(prog, "out of memory; try smaller settings (--hidden-dims, --batch-size)")
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
