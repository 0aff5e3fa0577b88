"""Learning-rate schedules: closed forms of the epoch, validated, round-tripping through JSON."""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from minigrad.optim import (
    SCHEDULES,
    Constant,
    Cosine,
    ExponentialDecay,
    Schedule,
    StepDecay,
    make_schedule,
    schedule_from_dict,
)

lrs = st.floats(0.0, 10.0)
factors = st.floats(1e-3, 1.0)
epochs = st.integers(0, 200)


def test_workbook_decay_is_exact() -> None:
    schedule = ExponentialDecay(1e-1, 0.95)
    for k in range(100):
        assert schedule(k) == 0.1 * 0.95**k


@given(lr0=lrs, decay=factors, n=st.integers(0, 50))
def test_exponential_decay_closed_form(lr0: float, decay: float, n: int) -> None:
    schedule = ExponentialDecay(lr0, decay)
    assert [schedule(k) for k in range(n + 1)] == [lr0 * decay**k for k in range(n + 1)]


@given(lr=lrs, epoch=epochs)
def test_constant_closed_form(lr: float, epoch: int) -> None:
    assert Constant(lr)(epoch) == lr


@given(lr0=lrs, step_size=st.integers(1, 10), gamma=factors, n=st.integers(0, 50))
def test_step_decay_closed_form(lr0: float, step_size: int, gamma: float, n: int) -> None:
    schedule = StepDecay(lr0, step_size, gamma)
    for k in range(n + 1):
        assert schedule(k) == lr0 * gamma ** (k // step_size)
    assert schedule(step_size - 1) == lr0 and schedule(step_size) == lr0 * gamma


@given(lr0=st.floats(1e-6, 10.0), total=st.integers(1, 60), fraction=st.floats(0.0, 1.0))
def test_cosine_closed_form_and_clamp(lr0: float, total: int, fraction: float) -> None:
    min_lr = lr0 * fraction
    schedule = Cosine(lr0, total, min_lr=min_lr)
    values = [schedule(k) for k in range(total + 5)]
    for k, value in enumerate(values):
        closed = min_lr + (lr0 - min_lr) * (1 + math.cos(math.pi * min(k, total) / total)) / 2
        assert value == pytest.approx(closed, rel=1e-12, abs=1e-15)
    assert values[0] == pytest.approx(lr0, rel=1e-15)
    assert all(v == pytest.approx(min_lr, rel=1e-12, abs=1e-15) for v in values[total:])
    assert all(a >= b - 1e-15 for a, b in zip(values, values[1:], strict=False))


def test_cosine_halfway_is_the_midpoint() -> None:
    assert Cosine(1.0, 10, min_lr=0.2)(5) == pytest.approx(0.6, rel=1e-15)
    assert Cosine(0.5, 4)(100) == 0.0


SCHEDULE_EXAMPLES: list[Schedule] = [
    Constant(0.1),
    ExponentialDecay(1e-3, 0.95),
    StepDecay(0.5, step_size=3, gamma=0.1),
    Cosine(0.1, total_epochs=20, min_lr=1e-4),
]


@pytest.mark.parametrize("schedule", SCHEDULE_EXAMPLES, ids=lambda s: s.name)
def test_dict_round_trip_through_json(schedule: Schedule) -> None:
    data = json.loads(json.dumps(schedule.to_dict()))
    assert data["name"] == schedule.name
    restored = schedule_from_dict(data)
    assert restored == schedule and type(restored) is type(schedule)
    assert [restored(k) for k in range(30)] == [schedule(k) for k in range(30)]


def test_registry_and_make_schedule() -> None:
    assert set(SCHEDULES) == {"constant", "exponential", "step", "cosine"}
    assert make_schedule("exponential", lr0=0.1, decay=0.95) == ExponentialDecay(0.1, 0.95)
    with pytest.raises(ValueError, match="unknown schedule 'linear'; choose one of constant, "):
        make_schedule("linear", lr0=0.1)
    with pytest.raises(ValueError, match="schedule dict has no 'name'"):
        schedule_from_dict({"lr": 0.1})


def test_schedules_are_frozen_and_normalise_numbers() -> None:
    schedule = ExponentialDecay(1, 0.5)
    assert type(schedule.lr0) is float and schedule.to_dict()["lr0"] == 1.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        schedule.lr0 = 2.0  # type: ignore[misc]


@pytest.mark.parametrize(
    ("cls", "kwargs", "message"),
    [
        (Constant, {"lr": -1.0}, "lr must be a finite number >= 0, got -1.0"),
        (Constant, {"lr": float("nan")}, "lr must be a finite number >= 0, got nan"),
        (ExponentialDecay, {"lr0": 0.1, "decay": 0.0}, "decay must be .* > 0 and <= 1, got 0.0"),
        (ExponentialDecay, {"lr0": 0.1, "decay": 1.5}, "decay must be .* > 0 and <= 1, got 1.5"),
        (ExponentialDecay, {"lr0": float("inf"), "decay": 0.9}, "lr0 must be .* got inf"),
        (StepDecay, {"lr0": 0.1, "step_size": 0, "gamma": 0.5}, "step_size must .* got 0"),
        (StepDecay, {"lr0": 0.1, "step_size": 2, "gamma": -0.5}, "gamma must be .* <= 1, got -0.5"),
        (Cosine, {"lr0": 0.1, "total_epochs": 0}, "total_epochs must be a positive integer, got 0"),
        (Cosine, {"lr0": 0.1, "total_epochs": 5, "min_lr": 0.2}, "min_lr must be <= lr0"),
    ],
)
def test_bad_arguments_are_named(cls: type[Schedule], kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        cls(**kwargs)


@pytest.mark.parametrize(
    ("cls", "kwargs", "message"),
    [
        (Constant, {"lr": "0.1"}, "lr must be a real number, got str '0.1'"),
        (StepDecay, {"lr0": 0.1, "step_size": 2.5, "gamma": 0.5}, "step_size .* got float 2.5"),
        (Cosine, {"lr0": 0.1, "total_epochs": True}, "total_epochs .* integer, got bool True"),
    ],
)
def test_arguments_of_the_wrong_kind_are_named(
    cls: type[Schedule], kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(TypeError, match=message):
        cls(**kwargs)


def test_numpy_scalars_are_stored_as_python_numbers() -> None:
    schedule = StepDecay(np.float32(0.5), np.int64(3), np.float64(0.1))
    assert type(schedule.lr0) is float and type(schedule.step_size) is int
    assert type(schedule.gamma) is float
    assert schedule(np.int64(3)) == 0.5 * 0.1 and type(schedule(np.int64(3))) is float
    assert type(Cosine(np.float64(1.0), np.int32(4))(2)) is float


@pytest.mark.parametrize("schedule", SCHEDULE_EXAMPLES, ids=lambda s: s.name)
def test_negative_epoch_is_rejected(schedule: Schedule) -> None:
    with pytest.raises(ValueError, match="epoch must be >= 0, got -1"):
        schedule(-1)
