"""Inverted dropout, with PyTorch's convention: ``p`` is the probability of *dropping*."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from minigrad.layer import Layer
from minigrad.masking import keep_where
from minigrad.validation import check_float_input, check_real, describe

__all__ = ["Dropout", "dropout_backward", "dropout_forward", "dropout_mask"]


def dropout_mask(shape: tuple[int, ...], p: float, rng: np.random.Generator) -> np.ndarray:
    """A keep mask: each entry True with probability ``1 - p``, independently.

    Parameters
    ----------
    shape : shape of the input the mask will apply to.
    p : probability of dropping an entry, in [0, 1].
    rng : the generator to draw from; it draws ``rng.random(shape)`` (float64 uniforms),
        so a float32 and a float64 net seeded alike drop the same units.

    Returns
    -------
    bool ndarray of ``shape``, ``uniform >= p``
    """
    return rng.random(shape) >= p


def _keep_scale(p: float) -> float:
    """``1 / (1 - p)``, the inverted-dropout scale of the kept units (0 for ``p = 1``)."""
    return 0.0 if p == 1.0 else 1.0 / (1.0 - p)


def dropout_forward(x: np.ndarray, mask: np.ndarray, p: float) -> np.ndarray:
    """Inverted dropout with a given mask: kept entries scaled by ``1 / (1 - p)``, others 0.

    The scaling keeps the expected output equal to the input, so eval mode needs none.

    Parameters
    ----------
    x : float ndarray of any shape
    mask : bool ndarray of the same shape, True where the entry is kept
        (:func:`dropout_mask`)
    p : the drop probability the mask was drawn with, in [0, 1]; ``p = 1`` gives zeros,
        as in PyTorch.

    Returns
    -------
    ndarray, same shape and dtype as ``x``
    """
    # An inf at a dropped entry gives 0, not NaN (see keep_where).
    return keep_where(mask, x * _keep_scale(p))


def dropout_backward(dout: np.ndarray, mask: np.ndarray, p: float) -> np.ndarray:
    """Gradient of :func:`dropout_forward`: the same mask and scale applied to ``dout``."""
    return keep_where(mask, dout * _keep_scale(p))


class Dropout(Layer):
    """Inverted dropout, as ``torch.nn.Dropout``: ``p`` is the probability of dropping a unit.

    CS231n's assignment uses the opposite convention: its ``p`` (``dropout_keep_ratio``)
    is the probability of *keeping* a unit. ``Dropout(p)`` here is CS231n's ``1 - p``.

    - **Train mode**: each entry is kept with probability ``1 - p`` and then scaled by
      ``1 / (1 - p)``, so the expected output equals the input; ``p = 0`` is the identity
      (no draws), ``p = 1`` gives zeros (PyTorch's conventions).
    - **Eval mode**: the identity; the output is the input array itself.

    The layer draws from its own ``np.random.Generator`` (``rng``), never from NumPy's
    global state. Its state is the layer's :meth:`extra_state`, which the trainer's
    checkpoints save and restore, so a resumed run draws the same masks. For gradient
    checks, :meth:`fix_mask` makes train-mode forward passes reuse one mask
    (``minigrad.gradcheck`` does it for you).

    Parameters
    ----------
    p : probability of dropping each unit, in [0, 1] (PyTorch's default 0.5).
    rng : the generator for the masks; ``None`` makes a fresh ``np.random.default_rng()``
        (seeded from the operating system, so not reproducible).
    """

    def __init__(self, p: float = 0.5, rng: np.random.Generator | None = None) -> None:
        super().__init__()
        self.p = check_real(p, "p", low=0.0, high=1.0)
        if rng is not None and not isinstance(rng, np.random.Generator):
            raise TypeError(
                f"rng must be a np.random.Generator or None, got {type(rng).__name__}"
            )
        self.rng = np.random.default_rng() if rng is None else rng
        self._mask: np.ndarray | None = None  # the mask of the last forward (None: identity)
        self._forwarded = False
        self._fixed_mask: np.ndarray | None = None
        self._fix_next = False

    # ------------------------------------------------------------------ forward, backward

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Train mode: drop and scale (same shape and dtype); eval mode: return ``x``."""
        check_float_input(x, "Dropout")
        self._forwarded = True
        if not self.training or self.p == 0.0:
            self._mask = None
            return x
        self._mask = self._mask_for(x.shape)
        return dropout_forward(x, self._mask, self.p)

    def backward(self, dout: np.ndarray, need_input_grad: bool = True) -> np.ndarray:
        """The last forward's mask and scale applied to ``dout`` (``dout`` itself after an
        identity forward)."""
        if not self._forwarded:
            raise RuntimeError("Dropout.backward called before forward")
        if self._mask is None:
            return dout
        return dropout_backward(dout, self._mask, self.p)

    def _mask_for(self, shape: tuple[int, ...]) -> np.ndarray:
        if self._fixed_mask is not None:
            if self._fixed_mask.shape != shape:
                raise ValueError(
                    f"Dropout's fixed mask has shape {self._fixed_mask.shape} but the input "
                    f"has shape {shape}; call release_mask() or fix a mask of that shape"
                )
            return self._fixed_mask
        mask = dropout_mask(shape, self.p, self.rng)
        if self._fix_next:
            self._fixed_mask, self._fix_next = mask, False
        return mask

    # ------------------------------------------------------------------ fixed masks

    @property
    def mask(self) -> np.ndarray | None:
        """The keep mask the last forward pass used (None if it was the identity)."""
        return self._mask

    @property
    def mask_fixed(self) -> bool:
        """Whether train-mode forward passes reuse one mask (:meth:`fix_mask`)."""
        return self._fixed_mask is not None or self._fix_next

    def fix_mask(self, mask: np.ndarray | None = None) -> None:
        """Make every train-mode forward pass use one mask until :meth:`release_mask`.

        Parameters
        ----------
        mask : bool ndarray shaped like the input, True where a unit is kept; None: the next
            train-mode forward pass draws a mask as usual and the later ones reuse it.
        """
        if mask is None:
            self._fixed_mask, self._fix_next = None, True
            return
        if not isinstance(mask, np.ndarray) or mask.dtype != np.bool_:
            raise TypeError(f"mask must be a bool ndarray, got {getattr(mask, 'dtype', mask)!r}")
        self._fixed_mask, self._fix_next = mask.copy(), False

    def release_mask(self) -> None:
        """Draw a new mask at every train-mode forward pass again (the default)."""
        self._fixed_mask, self._fix_next = None, False

    # ------------------------------------------------------------------ generator state

    def extra_state(self) -> dict[str, Any]:
        """``{"generator": rng.bit_generator.state}``: what a checkpoint needs to resume.

        The generator's state is JSON-able scalars (for PCG64, the default, two 128-bit
        Python ints; for MT19937 also one uint32 key array), the kind the trainer's sampler
        saves. It is not in :meth:`state_dict` (the weights): like the sampler's generator
        it is the state of a run; :meth:`Sequential.extra_state
        <minigrad.sequential.Sequential.extra_state>` gathers it by layer position.
        """
        return {"generator": dict(self.rng.bit_generator.state)}

    def check_extra_state(self, state: Mapping[str, Any]) -> None:
        """Raise ``ValueError`` unless ``state`` (from :meth:`extra_state`) fits this layer.

        The generator state is tried on a throwaway generator of the same kind, so nothing
        changes. An empty state is refused too: it comes from a model with no random layer
        at this position (another architecture).
        """
        kind = type(self.rng.bit_generator).__name__
        if not isinstance(state, Mapping) or set(state) != {"generator"}:
            raise ValueError(
                f"Dropout's extra state must be {{'generator': <{kind} state>}}, got "
                f"{describe(state)}"
            )
        saved = state["generator"]
        found = saved.get("bit_generator") if isinstance(saved, Mapping) else saved
        if found != kind:
            raise ValueError(
                f"Dropout's generator is a {kind}, but the saved state is for {describe(found)}"
            )
        try:
            type(self.rng.bit_generator)().state = dict(saved)
        except (TypeError, ValueError, KeyError) as err:
            raise ValueError(f"invalid {kind} state for Dropout: {err}") from None

    def load_extra_state(self, state: Mapping[str, Any]) -> None:
        """Set the generator to a state from :meth:`extra_state` (checked first)."""
        self.check_extra_state(state)
        self.rng.bit_generator.state = dict(state["generator"])

    def extra_repr(self) -> str:
        return f"p={self.p:g}"
