"""The settings of a whole search: the space, the number of trials, the seed, the sampler
and the pruner, and per-trial extras. The study keeps them (they are the search's
definition); a resumed or joined search must use the same ones, except that the number of
trials may grow.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from minigrad.tune.space import SearchSpace, TuneError
from minigrad.validation import check_choice, check_int, check_positive_int, check_real

__all__ = ["MAX_TRIALS", "PRUNERS", "SAMPLERS", "SearchSettings", "check_same_search"]

SAMPLERS = ("random", "tpe")
"""``random``: the seeded trial list (trial i depends only on the seed and i); ``tpe``:
Optuna's Tree-structured Parzen Estimator, which picks each trial from the finished ones."""
PRUNERS = ("none", "median", "hyperband")
"""``median``: stop a trial whose validation accuracy at an epoch is below the median of
earlier trials at that epoch; ``hyperband``: Optuna's Hyperband (successive halving over
epochs)."""
MAX_TRIALS = 1_000_000  # each trial is a record in the study: keep a typo from eating memory


@dataclass(frozen=True)
class SearchSettings:
    """A whole search.

    Attributes
    ----------
    space : where to search.
    num_trials : trials to finish (a resumed search may raise it).
    seed : the search's seed; with the random sampler, trial ``i`` depends only on
        ``(space, seed, i)``; with any sampler, trial ``i``'s training seed does.
    sampler : one of :data:`SAMPLERS`.
    pruner : one of :data:`PRUNERS`.
    prune_startup : trials that finish unpruned before the median pruner starts pruning.
    prune_warmup : epochs every trial trains before a pruner may stop it; the median pruner
        then looks again every ``max(1, prune_warmup // 2)`` epochs. None: a quarter of the
        shortest trial the space allows (:meth:`warmup_epochs`). Early epochs say little
        about a trial's end (a cosine run's rate is still high, and 1000 validation images
        measure to about +-0.016), and a trial checked at every one of 200 epochs is
        almost sure to fall below the median once by chance.
    patience : early-stop a trial after this many epochs without a better validation
        accuracy (None: train every trial to the end).
    target_acc : record the iterations and seconds each trial needs to reach this
        validation accuracy (None: do not).
    """

    space: SearchSpace = field(default_factory=SearchSpace)
    num_trials: int = 20
    seed: int = 0
    sampler: str = "random"
    pruner: str = "none"
    prune_startup: int = 5
    prune_warmup: int | None = None
    patience: int | None = None
    target_acc: float | None = None

    def __post_init__(self) -> None:
        try:
            checked = self._checked_fields()
        except (TypeError, ValueError) as err:  # one error type for every bad setting
            raise TuneError(str(err)) from None
        for name, value in checked.items():
            object.__setattr__(self, name, value)  # frozen: normalise once (JSON-able)

    def _checked_fields(self) -> dict[str, Any]:
        """The scalar settings checked and normalised (``TypeError`` / ``ValueError``)."""
        if not isinstance(self.space, SearchSpace):
            raise TypeError(f"space must be a SearchSpace, got {type(self.space).__name__}")
        checked: dict[str, Any] = {
            "num_trials": check_int(
                check_positive_int(self.num_trials, "num_trials"), "num_trials", high=MAX_TRIALS
            ),
            "seed": check_int(self.seed, "seed", low=0, high=2**63 - 1),
            "sampler": check_choice(self.sampler, "sampler", SAMPLERS),
            "pruner": check_choice(self.pruner, "pruner", PRUNERS),
            "prune_startup": check_int(self.prune_startup, "prune_startup", low=0),
        }
        if self.prune_warmup is not None:
            checked["prune_warmup"] = check_int(self.prune_warmup, "prune_warmup", low=0)
        if self.patience is not None:
            checked["patience"] = check_positive_int(self.patience, "patience")
        if self.target_acc is not None:
            checked["target_acc"] = check_real(
                self.target_acc, "target_acc", low=0.0, low_open=True, high=1.0
            )
        return checked

    def to_dict(self) -> dict[str, Any]:
        """JSON-able settings; inverse of :meth:`from_dict`."""
        return {
            "space": self.space.to_dict(),
            "num_trials": self.num_trials,
            "seed": self.seed,
            "sampler": self.sampler,
            "pruner": self.pruner,
            "prune_startup": self.prune_startup,
            "prune_warmup": self.prune_warmup,
            "patience": self.patience,
            "target_acc": self.target_acc,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SearchSettings:
        """Inverse of :meth:`to_dict`; ``TuneError`` for anything but such a dict."""
        if not isinstance(data, Mapping):
            raise TuneError(f"search settings must be a mapping, got {type(data).__name__}")
        values = dict(data)
        space = values.get("space", {})
        if not isinstance(space, Mapping):
            raise TuneError(f"the search space must be a mapping, got {type(space).__name__}")
        unknown = sorted(set(values) - set(cls.__dataclass_fields__), key=str)
        if unknown:
            raise TuneError(f"unknown search setting(s) {unknown}")
        try:
            values["space"] = SearchSpace.from_dict(dict(space))
            return cls(**values)
        except TypeError as err:  # a value of a kind no check names
            raise TuneError(str(err)) from None

    def warmup_epochs(self, num_training: int) -> int:
        """``prune_warmup``, or a quarter of the fewest epochs a trial of the space trains.

        Parameters
        ----------
        num_training : N, the training images (a trial of ``num_iters`` iterations of
            batch B trains ``num_iters * B / N`` epochs).
        """
        if self.prune_warmup is not None:
            return self.prune_warmup
        space = self.space
        if space.num_epochs is not None:
            shortest = space.num_epochs[0]
        else:
            shortest = space.num_iters[0] * min(space.batch_sizes) // max(num_training, 1)
        return shortest // 4

    def replace(self, **changes: Any) -> SearchSettings:
        """A copy with some settings changed (checked like the constructor)."""
        return dataclasses.replace(self, **changes)


def check_same_search(saved: SearchSettings, settings: SearchSettings, source: str) -> None:
    """``TuneError`` naming each setting that differs, other than a larger ``num_trials``."""
    old, new = saved.to_dict(), settings.to_dict()
    changed = [f"space.{key}" for key in old["space"] if old["space"][key] != new["space"][key]]
    changed += [key for key in old if key not in ("space", "num_trials") and old[key] != new[key]]
    if changed:
        raise TuneError(
            f"cannot resume: {', '.join(changed)} differ from the search in {source} "
            "(only the number of trials may change)"
        )
    if settings.num_trials < saved.num_trials:
        raise TuneError(
            f"cannot resume with {settings.num_trials} trials: the search in {source} has "
            f"{saved.num_trials} (the number of trials may only grow)"
        )
