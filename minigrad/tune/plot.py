"""The search at a glance.

- ``search.png``: every trial at (learning rate, reg), coloured by validation accuracy.
- ``history.png``: Optuna's optimisation history (each trial's accuracy, best so far).
- ``importance.png``: Optuna's parameter importances. The three learning-rate
  parameters (one per optimiser family) are shown as one, ``learning_rate``, so the
  plot answers "how much does the rate matter" across optimisers.

The Optuna plots use its matplotlib backend, drawn headless (Agg) and written atomically.
"""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from minigrad.files.atomic import write_figure_atomic
from minigrad.tune.results import STATUS_OK, STATUS_PRUNED, TrialResult

if TYPE_CHECKING:
    from minigrad.tune.study import SearchStudy

__all__ = ["OPTIMIZER_MARKERS", "plot_search", "search_figure", "write_study_plots"]

OPTIMIZER_MARKERS = {
    "sgd": "o", "momentum": "s", "nesterov": "D", "rmsprop": "^", "adam": "v", "adagrad": "P",
}
_OTHER_MARKER = "*"
_LR_PARAMS = ("lr_sgd", "lr_momentum", "lr_adaptive")


def search_figure(results: Iterable[TrialResult]) -> Figure:
    """Scatter of the trials: x = learning rate, y = reg (both log scale).

    Trials trained to the end are filled markers (one shape per optimiser) coloured by
    validation accuracy (colour bar); pruned trials are grey; diverged and failed ones
    red ``x``.
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
    pruned = [r for r in results if r.status == STATUS_PRUNED]
    if pruned:
        axes.scatter([r.trial.learning_rate for r in pruned], [r.trial.reg for r in pruned],
                     marker="o", facecolors="none", edgecolors="grey", s=40)
        handles.append(Line2D([], [], linestyle="", marker="o", markerfacecolor="none",
                              markeredgecolor="grey", label="pruned"))
    bad = [r for r in results if r.status not in (STATUS_OK, STATUS_PRUNED)]
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
    axes.set_title(f"search: {len(results)} trials")
    if mappable is not None:
        figure.colorbar(mappable, ax=axes, label="validation accuracy")
    if handles:
        axes.legend(handles=handles, loc="best", fontsize="small")
    figure.tight_layout()
    return figure


def plot_search(results: Iterable[TrialResult], path: str | os.PathLike[str]) -> Path:
    """Write :func:`search_figure` as a PNG, atomically."""
    return write_figure_atomic(path, search_figure(results))


def _pyplot() -> Any:
    """pyplot, on the headless Agg backend unless this process chose one already."""
    if "matplotlib.pyplot" not in sys.modules:
        import matplotlib

        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _importance_view(search: SearchStudy) -> Any:
    """An in-memory copy of the study's completed trials with the family learning rates
    as one parameter, ``learning_rate`` (log scale over the union of their ranges)."""
    import optuna
    from optuna.distributions import FloatDistribution

    space = search.settings.space
    ranges = [getattr(space, name) for name in _LR_PARAMS]
    merged = FloatDistribution(min(r[0] for r in ranges), max(r[1] for r in ranges), log=True)
    view = optuna.create_study(direction="maximize")
    for trial in search.trials():
        if trial.state != optuna.trial.TrialState.COMPLETE or trial.value is None:
            continue
        params, distributions = dict(trial.params), dict(trial.distributions)
        for name in _LR_PARAMS:
            if name in params:
                params["learning_rate"] = params.pop(name)
                distributions.pop(name)
                distributions["learning_rate"] = merged
        view.add_trial(optuna.trial.create_trial(
            params=params, distributions=distributions, value=trial.value))
    return view


def write_study_plots(
    search: SearchStudy, history: str | os.PathLike[str], importance: str | os.PathLike[str]
) -> list[Path]:
    """Write Optuna's optimisation history and parameter importances as PNGs.

    The importance plot needs two completed trials and a parameter that varies; until
    then it is not written (an old one is removed). Returns the files written.
    """
    import optuna
    from optuna.visualization import matplotlib as optuna_plots

    plt = _pyplot()
    written: list[Path] = []
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # no "study created" for the view
    try:
        return _write_study_plots(search, plt, optuna_plots, history, importance, written)
    finally:
        optuna.logging.set_verbosity(verbosity)


def _write_study_plots(search: SearchStudy, plt: Any, optuna_plots: Any,
                       history: str | os.PathLike[str], importance: str | os.PathLike[str],
                       written: list[Path]) -> list[Path]:
    import optuna

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        axes = optuna_plots.plot_optimization_history(search.study)
        axes.set_ylabel("validation accuracy")
        written.append(write_figure_atomic(history, axes.figure, bbox_inches="tight"))
        plt.close(axes.figure)
        view = _importance_view(search)
        complete = view.get_trials(deepcopy=False)
        varying = {name for t in complete for name in t.params
                   if len({repr(u.params.get(name)) for u in complete}) > 1}
        if len(complete) >= 2 and varying:
            # PED-ANOVA warns when too few trials tell the parameters apart: it still plots.
            warnings.simplefilter("ignore", UserWarning)
            try:
                # PED-ANOVA: Optuna's default since 5.0; it needs no scikit-learn.
                evaluator = optuna.importance.PedAnovaImportanceEvaluator()
                axes = optuna_plots.plot_param_importances(view, evaluator=evaluator)
            except (ValueError, RuntimeError, ZeroDivisionError):
                axes = None  # too few distinct results to tell importances apart
            if axes is not None:
                axes.set_xlabel("importance for validation accuracy")
                written.append(write_figure_atomic(importance, axes.figure,
                                                   bbox_inches="tight"))
                plt.close(axes.figure)
                return written
        Path(importance).unlink(missing_ok=True)
    return written

