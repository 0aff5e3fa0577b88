"""The layer contract: parameters, gradients, buffers, modes, forward and backward."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from minigrad.validation import count_non_finite, describe

__all__ = ["Layer", "checked_state"]


class Layer:
    """Base class of every layer (and of :class:`~minigrad.sequential.Sequential`).

    A layer is a thin holder of parameters, their gradients, its buffers and whatever its
    forward pass caches for the backward pass; the math lives in pure functions.

    Attributes
    ----------
    params : dict of str to ndarray
        The trainable arrays. They are updated in place, never rebound, so anything
        holding a reference (``net.params['W1']``) sees every update.
    grads : dict of str to ndarray
        Same keys and shapes as ``params``; filled by :meth:`backward`.
    buffers : dict of str to ndarray
        State that is not trained (running statistics): no optimiser and no L2 see it,
        but :meth:`state_dict` and checkpoints do.
    weight_names : tuple of str
        The keys of ``params`` that are weights (subject to L2); the rest are biases.
    training : bool
        Train mode (True, the default) or eval mode; set by :meth:`train` / :meth:`eval`.
    """

    weight_names: tuple[str, ...] = ()

    def __init__(self) -> None:
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self.buffers: dict[str, np.ndarray] = {}
        self.training = True

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Compute the output for input ``x`` and cache what backward needs."""
        raise NotImplementedError(f"{type(self).__name__} must implement forward")

    def backward(self, dout: np.ndarray, need_input_grad: bool = True) -> np.ndarray | None:
        """Fill ``self.grads`` from the upstream gradient and return d(loss)/d(input).

        Parameters
        ----------
        dout : gradient of the loss with respect to this layer's last output.
        need_input_grad : when False the layer may skip computing the input gradient
            (the first layer of a net never needs it) and return None.
        """
        raise NotImplementedError(f"{type(self).__name__} must implement backward")

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.forward(x)

    # ------------------------------------------------------------------ modes

    def train(self, mode: bool = True) -> Layer:
        """Set train mode (``mode=True``) or eval mode; returns the layer."""
        self.training = bool(mode)
        return self

    def eval(self) -> Layer:
        """Set eval mode (what ``predict`` and evaluation use); returns the layer."""
        return self.train(False)

    # ------------------------------------------------------------------ sizes

    def output_width(self, input_width: int) -> int:
        """Features per output row for ``input_width`` features per input row.

        Elementwise layers keep the width; layers that change it override this.
        """
        return input_width

    def num_parameters(self) -> int:
        """Number of trainable values (buffers do not count)."""
        return sum(int(array.size) for array in self.params.values())

    # ------------------------------------------------------------------ state

    def state_dict(self) -> dict[str, np.ndarray]:
        """Copies of every parameter and buffer, by name."""
        return {name: array.copy() for name, array in self._state_arrays().items()}

    def check_state_dict(self, state: Mapping[str, object]) -> dict[str, np.ndarray]:
        """Validate ``state`` against this layer without changing anything.

        Returns
        -------
        dict of str to ndarray, ``state``'s values as arrays.

        Raises
        ------
        ValueError
            Naming the first mismatch: missing or unexpected names, then the first
            shape or dtype that differs (a state from another architecture).
        """
        return checked_state(self._state_arrays(), state)

    def load_state_dict(self, state: Mapping[str, object]) -> None:
        """Copy ``state`` (from :meth:`state_dict`) into the parameters and buffers in place.

        Everything is checked first (:meth:`check_state_dict`), so a mismatch changes
        nothing. The arrays are written through, so references to them stay valid.
        """
        arrays = self.check_state_dict(state)
        for name, target in self._state_arrays().items():
            np.copyto(target, arrays[name])

    def extra_state(self) -> dict[str, Any]:
        """JSON-able state that is neither a parameter nor a buffer; ``{}`` for most layers.

        A layer that draws random numbers (dropout) returns its generator's state here, so
        a checkpointed run resumes with the same draws.
        """
        return {}

    def check_extra_state(self, state: Mapping[str, Any]) -> None:
        """Raise ``ValueError`` if :meth:`load_extra_state` could not take ``state``."""
        if not isinstance(state, Mapping) or state:
            raise ValueError(
                f"{type(self).__name__} keeps no extra state, got {describe(state)}"
            )

    def load_extra_state(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`extra_state` (checked first, so a bad state changes nothing)."""
        self.check_extra_state(state)

    def _state_arrays(self) -> dict[str, np.ndarray]:
        return {**self.params, **self.buffers}

    # ------------------------------------------------------------------ display

    def extra_repr(self) -> str:
        """What :meth:`__repr__` shows between the parentheses."""
        return ""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.extra_repr()})"


def checked_state(
    expected: Mapping[str, np.ndarray], state: Mapping[str, object]
) -> dict[str, np.ndarray]:
    """``state`` as arrays, after checking it has exactly ``expected``'s names, shapes, dtypes.

    Parameters
    ----------
    expected : the arrays a model holds, by name.
    state : the candidate, name -> array-like.

    Raises
    ------
    ValueError
        Naming the first missing name, else the first unexpected one, else the first
        shape or dtype mismatch, in ``expected``'s order; or a NaN or inf value.
    """
    if not isinstance(state, Mapping):
        raise ValueError(f"a state must map names to arrays, got {type(state).__name__}")
    for name in expected:
        if name not in state:
            raise ValueError(
                f"the state has no {name!r} (a state from another architecture?); "
                f"it has {sorted(map(str, state))[:8]}"
            )
    for name in state:
        if name not in expected:
            raise ValueError(
                f"the state has {name!r}, which this model does not have "
                "(a state from another architecture?)"
            )
    arrays: dict[str, np.ndarray] = {}
    for name, target in expected.items():
        value = state[name]
        if not isinstance(value, np.ndarray):
            raise ValueError(f"state {name!r} must be an ndarray, got {type(value).__name__}")
        if value.shape != target.shape:
            raise ValueError(
                f"state {name!r} has shape {value.shape} but this model's is {target.shape}"
            )
        if value.dtype != target.dtype:
            raise ValueError(
                f"state {name!r} is {value.dtype} but this model's is {target.dtype}"
            )
        if value.dtype.kind == "f" and count_non_finite(np.atleast_1d(value)):
            raise ValueError(f"state {name!r} holds NaN or inf values")
        arrays[name] = value
    return arrays
