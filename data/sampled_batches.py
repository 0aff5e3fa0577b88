"""What every batch source driven by a :class:`~minigrad.data.sampling.Sampler` shares.

The sampler decides which rows each iteration trains on and where epochs end, so the
source's sizes, its epochs and the restore step are the sampler's; a subclass says only how a
batch is built from the rows and what else its saved state checks.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any

from minigrad.data.sampling import Sampler

__all__ = ["SampledBatches"]


class SampledBatches(ABC):
    """Base of :class:`~minigrad.data.array_batches.ArrayBatches` and
    :class:`~minigrad.data.image_batches.ImageBatches`.

    Parameters
    ----------
    sampler : draws each iteration's row indices (its generator is the source's).

    Notes
    -----
    Subclasses provide ``num_features``, ``dtype``, ``labels``, ``batch``, ``state_dict``
    and ``check_state_dict`` (which must raise ``ValueError`` and change nothing).
    """

    def __init__(self, sampler: Sampler) -> None:
        self.sampler = sampler

    @property
    def num_train(self) -> int:
        return self.sampler.num_train

    @property
    def batch_size(self) -> int:
        return self.sampler.batch_size

    @property
    def sampling(self) -> str:
        return self.sampler.name

    @property
    def iterations_per_epoch(self) -> float:
        return self.sampler.iterations_per_epoch

    def is_epoch_end(self, iteration: int) -> bool:
        return self.sampler.is_epoch_end(iteration)

    def iterations_for_epochs(self, num_epochs: int) -> int:
        return self.sampler.iterations_for_epochs(num_epochs)

    @abstractmethod
    def check_state_dict(self, state: Mapping[str, Any]) -> None:
        """Raise ``ValueError`` naming the first difference from this source; change nothing."""

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore a :meth:`state_dict` output (checked first; a failed check changes nothing)."""
        self.check_state_dict(state)
        self.sampler.load_state_dict(state)
