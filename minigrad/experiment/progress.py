"""Progress of a run: a tqdm bar for training (iterations, loss, last validation accuracy),
one-line notices for the steps around it (loading the data, measuring the accuracies)."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

from tqdm import tqdm

from minigrad.training.callbacks import Callback, TrainingRun
from minigrad.validation import check_int, check_positive_int

__all__ = ["EvaluationNotice", "ProgressBar", "stage"]


@contextmanager
def stage(what: str, *, quiet: bool = False, file: TextIO | None = None) -> Iterator[None]:
    """Print ``what ...`` before a long step and ``what: 3.2 s`` after it (stderr)."""
    out = sys.stderr if file is None else file
    if not quiet:
        print(f"{what} ...", file=out, flush=True)
    start = time.perf_counter()
    yield
    if not quiet:
        print(f"{what}: {time.perf_counter() - start:.1f} s", file=out, flush=True)


class EvaluationNotice(Callback):
    """Say, when training ends, that the accuracies on ``num_rows`` images are being measured."""

    def __init__(self, num_rows: int, enabled: bool = True, file: TextIO | None = None) -> None:
        self.num_rows = check_int(num_rows, "num_rows", low=0)
        self.enabled = enabled
        self.file = sys.stderr if file is None else file

    def on_train_end(self, trainer: TrainingRun) -> None:
        if self.enabled:
            print(f"measuring accuracy on {self.num_rows:,} images (training, validation, "
                  "test) ...", file=self.file, flush=True)


class ProgressBar(Callback):
    """Show training progress on a terminal.

    The bar advances in steps of ``every`` iterations: the callback runs on the training
    loop's hot path, so it does almost nothing on the other iterations.

    Parameters
    ----------
    total : iterations the run will take (the bar's 100%).
    every : iterations between updates of the bar and its loss.
    enabled : show the bar; None (default) shows it only when ``file`` is a terminal.
    file : where to draw (stderr by default, so stdout stays clean for results).
    """

    def __init__(
        self,
        total: int,
        every: int = 50,
        enabled: bool | None = None,
        file: TextIO | None = None,
    ) -> None:
        self.total = check_int(total, "total", low=0)
        self.every = check_positive_int(every, "every")  # 0 would divide by zero mid-run
        self.file = sys.stderr if file is None else file
        is_terminal = bool(getattr(self.file, "isatty", lambda: False)())
        self.enabled = is_terminal if enabled is None else enabled
        self._bar: tqdm | None = None
        self._shown = 0  # iterations the bar has been advanced by
        self._postfix: dict[str, str] = {}

    def on_train_begin(self, trainer: TrainingRun) -> None:
        if self._bar is None:
            self._shown = trainer.iteration  # fit() may continue an earlier run
            self._bar = tqdm(
                total=self.total, initial=self._shown, unit="it", file=self.file,
                disable=not self.enabled, dynamic_ncols=True, desc="training",
            )

    def on_iteration_end(self, trainer: TrainingRun, iteration: int, loss: float) -> None:
        if (iteration + 1) % self.every == 0 and self._bar is not None:
            self._postfix["loss"] = f"{loss:.4f}"
            self._advance(iteration + 1)

    def on_epoch_end(
        self, trainer: TrainingRun, epoch: int, train_acc: float, val_acc: float | None
    ) -> None:
        if val_acc is not None:
            self._postfix["val_acc"] = f"{val_acc:.3f}"

    def on_train_end(self, trainer: TrainingRun) -> None:
        self._advance(trainer.iteration)
        self.close()

    def _advance(self, done: int) -> None:
        if self._bar is None:
            return
        self._bar.set_postfix(self._postfix, refresh=False)
        self._bar.update(done - self._shown)
        self._shown = done

    def close(self) -> None:
        """Close the bar (safe to call more than once, e.g. after an interrupt)."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None
