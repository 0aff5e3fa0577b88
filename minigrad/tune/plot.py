"""The search at a glance: every trial at (learning rate, reg), coloured by validation accuracy."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from minigrad.files.atomic import write_figure_atomic
from minigrad.tune.results import STATUS_OK, TrialResult

__all__ = ["OPTIMIZER_MARKERS", "plot_search", "search_figure"]

OPTIMIZER_MARKERS = {
    "sgd": "o", "momentum": "s", "nesterov": "D", "rmsprop": "^", "adam": "v", "adagrad": "P",
}
_OTHER_MARKER = "*"


def search_figure(results: Iterable[TrialResult]) -> Figure:
    """Scatter of the trials: x = learning rate, y = reg (both log scale).

    Successful trials are filled markers (one shape per optimiser) coloured by validation
    accuracy (colour bar); diverged and failed trials are red ``x``.
    """
    results = list(results)
    figure = Figure(figsize=(7.5, 5.5), dpi=100)
    axes = figure.add_subplot()
    ok = [r for r in results if r.status == STATUS_OK and r.val_acc is not None]
    accuracies = [float(r.val_acc or 0.0) for r in ok]
    low, high = (min(accuracies), max(accuracies)) if ok else (0.0, 1.0)
    mappable = None
    for optimizer in sorted({r.trial.optimizer for r in ok}):
        group = [r for r in ok if r.trial.optimizer == optimizer]
        mappable = axes.scatter(
            [r.trial.learning_rate for r in group], [r.trial.reg for r in group],
            c=[float(r.val_acc or 0.0) for r in group], cmap="viridis", vmin=low, vmax=high,
            marker=OPTIMIZER_MARKERS.get(optimizer, _OTHER_MARKER), s=60,
            edgecolors="black", linewidths=0.5,
        )
    # Legend entries in grey: the colour of a point is its accuracy, not its optimiser.
    handles = [
        Line2D([], [], linestyle="", marker=OPTIMIZER_MARKERS.get(name, _OTHER_MARKER),
               markerfacecolor="lightgrey", markeredgecolor="black", label=name)
        for name in sorted({r.trial.optimizer for r in ok})
    ]
    bad = [r for r in results if r.status != STATUS_OK]
    if bad:
        axes.scatter(
            [r.trial.learning_rate for r in bad], [r.trial.reg for r in bad],
            marker="x", color="red", s=50,
        )
        handles.append(Line2D([], [], linestyle="", marker="x", color="red",
                              label="diverged / failed"))
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel("learning rate")
    axes.set_ylabel("L2 strength (reg)")
    axes.set_title(f"random search: {len(results)} trials")
    if mappable is not None:
        figure.colorbar(mappable, ax=axes, label="validation accuracy")
    if handles:
        axes.legend(handles=handles, loc="best", fontsize="small")
    figure.tight_layout()
    return figure


def plot_search(results: Iterable[TrialResult], path: str | os.PathLike[str]) -> Path:
    """Write :func:`search_figure` as a PNG, atomically."""
    return write_figure_atomic(path, search_figure(results))
