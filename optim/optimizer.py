"""The optimiser base class: schedule position, per-parameter state, ``step``, and state dicts.

An optimiser sees arrays, never layers: ``step(params, grads)`` takes two mappings with the same
keys and updates every ``params[k]`` in place. Subclasses only declare their hyper-parameters and
per-parameter slots and implement ``_step`` for one array by calling a pure step function.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar, Literal

import numpy as np
from numpy.typing import NDArray

from minigrad.optim.schedules import Schedule, as_schedule, schedule_from_dict
from minigrad.validation import check_int

Array = NDArray[np.floating]
"""A floating-point parameter, gradient or state array."""


def _saved_count(value: Any, name: str) -> int:
    """A saved ``epoch`` or ``step_count`` as an int >= 0; ``ValueError`` if it is anything else.

    An .npz round trip gives the numbers back as 0-d integer arrays, so those are unwrapped;
    a malformed state is a ``ValueError`` whatever is wrong with it (see ``load_state_dict``).
    """
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value[()]
    try:
        return check_int(value, name, low=0)
    except TypeError as err:
        raise ValueError(str(err)) from None


class Optimizer(ABC):
    """Base class of all update rules.

    Parameters
    ----------
    learning_rate : float or Schedule
        A number means a :class:`~optim.schedules.Constant` schedule.

    Attributes
    ----------
    schedule : Schedule
        Maps ``epoch`` to the learning rate.
    epoch : int
        Schedule position, starts at 0; the training loop calls :meth:`advance_epoch`.
    step_count : int
        Number of :meth:`step` calls so far (Adam's bias correction uses it).
    state : dict[str, dict[str, ndarray]]
        Per-parameter slots (e.g. ``state["W1"]["velocity"]``), each with the parameter's shape,
        dtype and memory order, created on the first step that sees the parameter.

    Notes
    -----
    Subclasses set ``name`` and ``slots``, return their constructor keyword arguments (except
    ``learning_rate``) from ``_hyperparameters`` and implement ``_step``.

    Every parameter also gets a scratch array of its shape, dtype and memory order (not part
    of the saved state), so that an update like ``p -= lr * g`` runs as
    ``np.multiply(g, lr, out=scratch); p -= scratch`` without allocating ``lr * g`` anew on
    every step.
    """

    name: ClassVar[str]

    def __init__(self, learning_rate: float | Schedule) -> None:
        self.schedule: Schedule = as_schedule(learning_rate)
        self.epoch: int = 0
        self.step_count: int = 0
        self.state: dict[str, dict[str, Array]] = {}
        self._scratch: dict[str, Array] = {}

    # ------------------------------------------------------------------ what subclasses provide

    @property
    @abstractmethod
    def slots(self) -> tuple[str, ...]:
        """Names of the per-parameter state arrays (may depend on hyper-parameters)."""

    @abstractmethod
    def _hyperparameters(self) -> dict[str, Any]:
        """Constructor keyword arguments other than ``learning_rate``, as JSON-able scalars."""

    @abstractmethod
    def _step(self, grad: Array, state: dict[str, Array], scratch: Array, lr: float) -> Array:
        """One parameter's step, to be subtracted from it (``step_count`` already counts it).

        Updates the parameter's state slots in place and returns the step, computed into
        ``scratch`` (the parameter's shape and dtype; its contents on entry are meaningless).
        """

    # ------------------------------------------------------------------ schedule position

    @property
    def learning_rate(self) -> float:
        """The learning rate the next step will use: ``schedule(epoch)``."""
        return self.schedule(self.epoch)

    def advance_epoch(self) -> None:
        """Move the schedule to the next epoch (call at each epoch boundary)."""
        self.epoch += 1

    # ------------------------------------------------------------------ the step

    def step(self, params: Mapping[str, Array], grads: Mapping[str, Array]) -> None:
        """Update every ``params[k]`` in place from ``grads[k]``.

        Parameters
        ----------
        params : Mapping[str, ndarray]
            Floating-point arrays shared with the model; written through, never rebound.
        grads : Mapping[str, ndarray]
            Same keys, each with the shape of its parameter.

        Raises
        ------
        ValueError
            If the keys differ, a gradient's shape differs from its parameter's, a parameter is
            not floating point, or existing state does not match the parameter. Everything is
            checked before anything is updated.
        UpdateNotFiniteError
            If a step (or a parameter after it) would hold NaN or inf, e.g. a float32 rate that
            overflows: every parameter keeps its value (the state slots have moved on).
        """
        self._check_step_args(params, grads)
        lr = self.learning_rate
        self.step_count += 1
        steps = {}
        for key, param in params.items():
            state = self.state.get(key)
            if state is None:
                # zeros_like: the state takes the parameter's memory order too (a column-major
                # weight with row-major state would make every update a transposing pass).
                state = self.state[key] = {slot: np.zeros_like(param) for slot in self.slots}
            scratch = self._scratch.get(key)
            if scratch is None or scratch.shape != param.shape or scratch.dtype != param.dtype:
                scratch = self._scratch[key] = np.empty_like(param)
            steps[key] = self._step(grads[key], state, scratch, lr)
        # Every step is checked before any is applied, so a step that overflows leaves all
        # parameters at their last finite values.
        for key, step in steps.items():
            if not _finite_after(params[key], step):
                raise UpdateNotFiniteError(
                    f"{self.name}'s update of {key!r} is not finite (learning rate "
                    f"{lr:g}); no parameter was changed"
                )
        for key, step in steps.items():
            params[key] -= step

    def _check_step_args(self, params: Mapping[str, Array], grads: Mapping[str, Array]) -> None:
        if params.keys() != grads.keys():
            missing = sorted(set(params) - set(grads))
            extra = sorted(set(grads) - set(params))
            raise ValueError(
                f"params and grads must have the same keys; no gradient for {missing}, "
                f"gradient without parameter for {extra}"
            )
        for key, param in params.items():
            grad = grads[key]
            if param.dtype.kind != "f":
                raise ValueError(f"parameter {key!r} has dtype {param.dtype}, expected floating")
            if grad.shape != param.shape:
                raise ValueError(
                    f"gradient for {key!r} has shape {grad.shape}, parameter has {param.shape}"
                )
            for slot, value in self.state.get(key, {}).items():
                if value.shape != param.shape or value.dtype != param.dtype:
                    raise ValueError(
                        f"state {key!r}/{slot!r} is {value.dtype}{value.shape} but the parameter "
                        f"is {param.dtype}{param.shape}"
                    )

    # ------------------------------------------------------------------ save / resume

    def hyperparameters(self) -> dict[str, Any]:
        """Constructor keyword arguments, JSON-able (the schedule as its ``to_dict()``)."""
        return {"learning_rate": self.schedule.to_dict(), **self._hyperparameters()}

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume, as JSON-able scalars and (copied) ndarrays.

        Returns
        -------
        dict
            ``{"name": str, "hyperparameters": dict, "epoch": int, "step_count": int,
            "state": {param_name: {slot_name: ndarray}}}``.
        """
        return {
            "name": self.name,
            "hyperparameters": self.hyperparameters(),
            "epoch": self.epoch,
            "step_count": self.step_count,
            "state": {
                key: {slot: value.copy() for slot, value in slots.items()}
                for key, slots in self.state.items()
            },
        }

    def load_state_dict(
        self, state: Mapping[str, Any], params: Mapping[str, Array] | None = None
    ) -> None:
        """Restore hyper-parameters, schedule position and per-parameter state from ``state``.

        Continuing after ``load_state_dict(old.state_dict())`` gives bit-identical results to
        continuing with ``old``. Nothing is changed if validation fails.

        Parameters
        ----------
        state : Mapping
            As returned by :meth:`state_dict` (possibly after an .npz + JSON round trip).
        params : Mapping[str, ndarray], optional
            The model's parameters; if given, the state's keys, shapes and dtypes must match them.

        Raises
        ------
        ValueError
            If ``state`` is from another optimiser type, is malformed, or does not match
            ``params``; the message names the problem.
        """
        for field in ("name", "hyperparameters", "epoch", "step_count", "state"):
            if field not in state:
                raise ValueError(f"optimiser state has no {field!r} entry")
        if state["name"] != self.name:
            raise ValueError(
                f"state is from optimiser {state['name']!r}, cannot load it into {self.name!r}"
            )
        hyper = dict(state["hyperparameters"])
        try:  # the constructor validates the hyper-parameters; a wrong kind is malformed too
            if isinstance(hyper.get("learning_rate"), Mapping):
                hyper["learning_rate"] = schedule_from_dict(dict(hyper["learning_rate"]))
            configured = type(self)(**hyper)
        except TypeError as err:
            raise ValueError(f"invalid hyperparameters for {self.name!r}: {err}") from None
        epoch = _saved_count(state["epoch"], "epoch")
        step_count = _saved_count(state["step_count"], "step_count")
        slots = _checked_slots(state["state"], configured.slots, params, step_count)

        # Validation passed: adopt the configuration, then the position and the state.
        old_state = self.state
        vars(self).update(vars(configured))  # fresh: empty state and scratch
        self.epoch, self.step_count = epoch, step_count
        for key, loaded in slots.items():
            current = old_state.get(key, {})
            self.state[key] = {}
            for slot, value in loaded.items():
                target = current.get(slot)
                if target is None or target.shape != value.shape or target.dtype != value.dtype:
                    # in the parameter's memory order, like the state step() creates
                    order: Literal["C", "F"] = "C"
                    if params is not None and _column_major(params[key]):
                        order = "F"
                    target = np.array(value, order=order, copy=True)
                else:
                    np.copyto(target, value)  # keep arrays others may hold a reference to
                self.state[key][slot] = target

    def __repr__(self) -> str:
        args = {"learning_rate": self.schedule, **self._hyperparameters()}
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in args.items())})"


class UpdateNotFiniteError(FloatingPointError):
    """A step would make a parameter NaN or inf; no parameter was changed."""


def _finite_after(param: Array, step: Array) -> bool:
    """Whether ``step`` is finite everywhere, so ``param - step`` stays finite.

    One ``np.vdot`` (no temporary; ``ravel("K")`` is a flat view in either memory order): a
    NaN or inf anywhere, or a value whose square overflows (|step| > 1.8e19 at float32),
    makes the sum of squares non-finite. A finite parameter minus such a step can overflow
    only if the parameter is itself near the dtype's maximum, where the L2 penalty and the
    loss have already diverged.
    """
    return math.isfinite(float(np.vdot(step.ravel("K"), step.ravel("K"))))


def _column_major(array: np.ndarray) -> bool:
    return bool(array.flags.f_contiguous and not array.flags.c_contiguous)


def _checked_slots(
    state: Any,
    expected_slots: tuple[str, ...],
    params: Mapping[str, Array] | None,
    step_count: int,
) -> dict[str, dict[str, np.ndarray]]:
    """Validate the ``"state"`` entry of a state dict; return it as dicts of ndarrays."""
    if not isinstance(state, Mapping):
        raise ValueError(f"'state' must be a mapping of parameter names, got {type(state)}")
    checked: dict[str, dict[str, np.ndarray]] = {}
    for key, slots in state.items():
        if not isinstance(slots, Mapping):
            raise ValueError(f"state for {key!r} must be a mapping of slot names to arrays")
        if set(slots) != set(expected_slots):
            raise ValueError(
                f"state for {key!r} has slots {sorted(slots)}, expected {sorted(expected_slots)}"
            )
        arrays = {slot: np.asarray(value) for slot, value in slots.items()}
        shapes = {a.shape for a in arrays.values()}
        if len(shapes) > 1:
            raise ValueError(f"state for {key!r} has slots of different shapes {sorted(shapes)}")
        for slot, value in arrays.items():
            if value.dtype.kind != "f":
                raise ValueError(f"state {key!r}/{slot!r} has non-float dtype {value.dtype}")
        if params is not None:
            if key not in params:
                raise ValueError(f"state for {key!r} but the model has no such parameter")
            param = params[key]
            for slot, value in arrays.items():
                if value.shape != param.shape:
                    raise ValueError(
                        f"{key!r}/{slot!r}: shape {value.shape} in state vs {param.shape} in params"
                    )
                if value.dtype != param.dtype:
                    raise ValueError(
                        f"{key!r}/{slot!r}: dtype {value.dtype} in state vs {param.dtype} in params"
                    )
        checked[str(key)] = arrays
    if params is not None and expected_slots and step_count > 0:
        missing = sorted(set(params) - set(checked))
        if missing:
            raise ValueError(f"the model has parameters {missing} but the state has none for them")
    return checked
