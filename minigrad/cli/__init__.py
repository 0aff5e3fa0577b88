"""The ``minigrad`` command: argparse front ends over ``minigrad.experiment`` and ``tune``."""

from minigrad.cli.command import main

__all__ = ["main"]
