"""Update rules: their published formulas, in place, in the parameter's dtype, resumable."""

from __future__ import annotations

import io
import json
import tracemalloc
from collections.abc import Callable
from typing import Any, Literal

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from minigrad.optim import (
    OPTIMIZERS,
    SGD,
    Adagrad,
    Adam,
    ExponentialDecay,
    Optimizer,
    RMSProp,
    make_optimizer,
    optimizer_from_state_dict,
)

Array = np.ndarray
State = dict[str, np.ndarray]
Params = dict[str, np.ndarray]

# ---------------------------------------------------------------- the published formulas, plainly
# Each takes (p, g, state, t, **hyperparameters), returns the new p, and keeps its state in a dict.


def ref_sgd(
    p: Array, g: Array, s: State, t: int, learning_rate: float, momentum: float, nesterov: bool
) -> Array:
    if momentum == 0.0:
        return p - learning_rate * g
    s["v"] = momentum * s.get("v", 0.0) + g
    if nesterov:
        return p - learning_rate * (g + momentum * s["v"])
    return p - learning_rate * s["v"]


def ref_rmsprop(
    p: Array, g: Array, s: State, t: int, learning_rate: float, decay_rate: float, eps: float
) -> Array:
    s["cache"] = decay_rate * s.get("cache", 0.0) + (1 - decay_rate) * g**2
    return p - learning_rate * g / (np.sqrt(s["cache"]) + eps)


def ref_adagrad(p: Array, g: Array, s: State, t: int, learning_rate: float, eps: float) -> Array:
    s["cache"] = s.get("cache", 0.0) + g**2
    return p - learning_rate * g / (np.sqrt(s["cache"]) + eps)


def ref_adam(
    p: Array,
    g: Array,
    s: State,
    t: int,
    learning_rate: float,
    beta1: float,
    beta2: float,
    eps: float,
) -> Array:
    s["m"] = beta1 * s.get("m", 0.0) + (1 - beta1) * g
    s["v"] = beta2 * s.get("v", 0.0) + (1 - beta2) * g**2
    m_hat = s["m"] / (1 - beta1**t)
    v_hat = s["v"] / (1 - beta2**t)
    return p - learning_rate * m_hat / (np.sqrt(v_hat) + eps)


lrs = st.floats(0.0, 1.0)
unit = st.floats(0.0, 0.999)
epss = st.floats(1e-8, 1e-2)
RULES: dict[str, tuple[type[Optimizer], Callable[..., Any], st.SearchStrategy[dict[str, Any]]]] = {
    "sgd": (
        SGD,
        ref_sgd,
        st.fixed_dictionaries(
            {"learning_rate": lrs, "momentum": unit, "nesterov": st.booleans()}
        ).filter(lambda h: h["momentum"] > 0 or not h["nesterov"]),
    ),
    "sgd-plain": (
        SGD,
        ref_sgd,
        st.fixed_dictionaries(
            {"learning_rate": lrs, "momentum": st.just(0.0), "nesterov": st.just(False)}
        ),
    ),
    "rmsprop": (
        RMSProp,
        ref_rmsprop,
        st.fixed_dictionaries({"learning_rate": lrs, "decay_rate": unit, "eps": epss}),
    ),
    "adagrad": (Adagrad, ref_adagrad, st.fixed_dictionaries({"learning_rate": lrs, "eps": epss})),
    "adam": (
        Adam,
        ref_adam,
        st.fixed_dictionaries({"learning_rate": lrs, "beta1": unit, "beta2": unit, "eps": epss}),
    ),
}
TOLERANCE: dict[Any, tuple[float, float]] = {np.float64: (1e-10, 1e-12), np.float32: (1e-5, 1e-5)}


def _arrays(dtype: type, shape: tuple[int, ...]) -> st.SearchStrategy[np.ndarray]:
    width: Literal[32, 64] = 32 if dtype == np.float32 else 64
    elements = st.floats(-10, 10, width=width, allow_subnormal=False)
    return hnp.arrays(dtype, shape, elements=elements)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("rule", sorted(RULES))
@given(data=st.data())
def test_step_equals_published_formula(rule: str, dtype: type, data: st.DataObject) -> None:
    cls, reference, hyper_strategy = RULES[rule]
    hyper = data.draw(hyper_strategy, label="hyperparameters")
    shapes = data.draw(
        st.dictionaries(
            st.sampled_from(["W1", "b1", "W2"]),
            hnp.array_shapes(min_dims=0, max_dims=3, max_side=5),
            min_size=1,
        ),
        label="shapes",
    )
    params = {k: data.draw(_arrays(dtype, shape), label=k) for k, shape in shapes.items()}
    expected = {k: p.copy() for k, p in params.items()}
    ref_state: dict[str, dict[str, np.ndarray]] = {k: {} for k in params}
    opt = cls(**hyper)

    for t in range(1, data.draw(st.integers(1, 4), label="steps") + 1):
        grads = {k: data.draw(_arrays(dtype, p.shape), label=f"d{k}") for k, p in params.items()}
        opt.step(params, grads)
        for k in params:
            expected[k] = reference(expected[k], grads[k], ref_state[k], t, **hyper)
        rtol, atol = TOLERANCE[dtype]
        for k in params:
            np.testing.assert_allclose(params[k], expected[k], rtol=rtol, atol=atol)
            assert params[k].dtype == dtype
    assert opt.step_count == t


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_float32_stays_float32(name: str) -> None:
    rng = np.random.default_rng(0)
    params = {"W": rng.standard_normal((4, 3), dtype=np.float32), "b": np.zeros(4, np.float32)}
    opt = make_optimizer(name, learning_rate=ExponentialDecay(0.1, 0.95))
    for _ in range(3):
        grads = {k: rng.standard_normal(p.shape, dtype=np.float32) for k, p in params.items()}
        opt.step(params, grads)
        opt.advance_epoch()
    assert all(p.dtype == np.float32 for p in params.values())
    slots = [a for state in opt.state.values() for a in state.values()]
    assert all(a.dtype == np.float32 for a in slots)
    assert len(slots) == 2 * len(opt.slots)


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_updates_in_place(name: str) -> None:
    W = np.ones((3, 4))
    params = {"W": W}
    row = W[1]  # a view held elsewhere, like the workbook's net.params["W1"]
    opt = make_optimizer(name, learning_rate=0.1)
    opt.step(params, {"W": np.full((3, 4), 0.5)})
    assert params["W"] is W
    assert np.all(W < 1.0)
    np.testing.assert_array_equal(row, W[1])


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_non_contiguous_parameters_update_in_place(name: str) -> None:
    # A strided view and a Fortran-order array: same result as contiguous ones, still in place.
    rng = np.random.default_rng(1)
    base = rng.standard_normal((6, 8))
    params = {"view": base[::2, 1::2], "fortran": np.asfortranarray(rng.standard_normal((3, 5)))}
    contiguous = {k: np.ascontiguousarray(p) for k, p in params.items()}
    opt_a, opt_b = make_optimizer(name, learning_rate=0.1), make_optimizer(name, learning_rate=0.1)
    for _ in range(3):
        grads = {k: rng.standard_normal(p.shape) for k, p in params.items()}
        opt_a.step(params, grads)
        opt_b.step(contiguous, {k: np.ascontiguousarray(g) for k, g in grads.items()})
    for k in params:
        np.testing.assert_allclose(params[k], contiguous[k], rtol=1e-13, atol=1e-15)
    np.testing.assert_array_equal(base[::2, 1::2], params["view"])


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_step_allocates_nothing_of_parameter_size(name: str) -> None:
    rng = np.random.default_rng(2)
    params = {"W": rng.standard_normal((50, 300), dtype=np.float32)}
    grads = {"W": rng.standard_normal((50, 300), dtype=np.float32)}
    opt = make_optimizer(name)
    opt.step(params, grads)  # state and scratch are created here, once
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        opt.step(params, grads)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak - before < params["W"].nbytes // 4


# ---------------------------------------------------------------- conventions and the schedule


def test_momentum_is_the_sutskever_pytorch_form() -> None:
    p = {"w": np.zeros(1)}
    opt = SGD(learning_rate=0.1, momentum=0.9)
    opt.step(p, {"w": np.ones(1)})  # v = 1,   p = -0.1
    opt.step(p, {"w": np.ones(1)})  # v = 1.9, p = -0.1 - 0.19
    np.testing.assert_allclose(opt.state["w"]["velocity"], [1.9])
    np.testing.assert_allclose(p["w"], [-0.29])
    nesterov, q = SGD(learning_rate=0.1, momentum=0.9, nesterov=True), {"w": np.zeros(1)}
    nesterov.step(q, {"w": np.ones(1)})  # v = 1, p = -0.1 * (1 + 0.9)
    np.testing.assert_allclose(q["w"], [-0.19])


def test_adam_first_step_has_size_learning_rate() -> None:
    # With bias correction the first update is lr * g / (|g| + eps) ~ lr * sign(g).
    g = np.array([1e-4, -3.0, 250.0])
    p = {"w": np.zeros(3)}
    Adam(learning_rate=0.01).step(p, {"w": g})
    np.testing.assert_allclose(p["w"], -0.01 * np.sign(g), rtol=1e-3)


def test_learning_rate_follows_the_schedule_of_the_epoch() -> None:
    opt = SGD(learning_rate=ExponentialDecay(0.1, 0.95))
    assert opt.epoch == 0 and opt.learning_rate == 0.1
    opt.advance_epoch()
    opt.advance_epoch()
    assert opt.epoch == 2 and opt.learning_rate == 0.1 * 0.95**2
    p = {"w": np.zeros(2)}
    opt.step(p, {"w": np.ones(2)})
    np.testing.assert_allclose(p["w"], -(0.1 * 0.95**2), rtol=1e-15)
    assert SGD(learning_rate=0.3).learning_rate == 0.3


def test_step_rejects_mismatched_inputs_without_updating() -> None:
    opt = SGD(learning_rate=0.1, momentum=0.9)
    params = {"W": np.ones((2, 3)), "b": np.ones(2)}
    with pytest.raises(ValueError, match=r"no gradient for \['b'\]"):
        opt.step(params, {"W": np.ones((2, 3))})
    with pytest.raises(ValueError, match=r"'b' has shape \(3,\), parameter has \(2,\)"):
        opt.step(params, {"W": np.ones((2, 3)), "b": np.ones(3)})
    with pytest.raises(ValueError, match="'i' has dtype int64"):
        opt.step({"i": np.ones(2, np.int64)}, {"i": np.ones(2)})
    assert np.all(params["W"] == 1.0) and opt.step_count == 0 and opt.state == {}


# ---------------------------------------------------------------- construction


@pytest.mark.parametrize(
    ("factory", "kwargs", "message"),
    [
        (SGD, {"learning_rate": -0.1}, "learning_rate must be .* got -0.1"),
        (SGD, {"learning_rate": float("nan")}, "learning_rate must be .* got nan"),
        (Adam, {"learning_rate": float("inf")}, "learning_rate must be .* got inf"),
        (SGD, {"momentum": 1.0}, r"momentum must be a finite number >= 0 and < 1, got 1.0"),
        (SGD, {"momentum": -0.5}, r"momentum must be a finite number >= 0 and < 1, got -0.5"),
        (SGD, {"nesterov": True}, "nesterov=True requires momentum > 0, got momentum=0.0"),
        (RMSProp, {"decay_rate": 1.5}, r"decay_rate must be a finite number >= 0 and < 1, got 1.5"),
        (Adam, {"beta1": 1.0}, r"beta1 must be a finite number >= 0 and < 1, got 1.0"),
        (Adam, {"beta2": float("nan")}, r"beta2 must be a finite number >= 0 and < 1, got nan"),
        (Adam, {"eps": 0.0}, "eps must be a finite number > 0, got 0.0"),
        (Adagrad, {"eps": -1e-8}, "eps must be a finite number > 0, got -1e-08"),
        (RMSProp, {"eps": float("nan")}, "eps must be a finite number > 0, got nan"),
    ],
)
def test_bad_arguments_are_named(factory: Callable[..., Any], kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        factory(**kwargs)


@pytest.mark.parametrize(
    ("factory", "kwargs", "message"),
    [
        (SGD, {"learning_rate": "0.1"}, "learning_rate must be a real number, got str '0.1'"),
        (SGD, {"momentum": True}, "momentum must be a real number, got bool True"),
        (SGD, {"momentum": 0.9, "nesterov": 1}, "nesterov must be True or False, got 1"),
        (Adam, {"beta1": None}, "beta1 must be a real number, got NoneType None"),
    ],
)
def test_arguments_of_the_wrong_kind_are_named(
    factory: Callable[..., Any], kwargs: dict, message: str
) -> None:
    with pytest.raises(TypeError, match=message):
        factory(**kwargs)


def test_numpy_scalars_are_accepted_as_python_numbers() -> None:
    # Hyper-parameters read back from .npz or computed with NumPy arrive as NumPy scalars;
    # they are stored as Python floats so that they never upcast a float32 parameter.
    nesterov: Any = np.bool_(True)  # what a NumPy comparison gives
    opt = SGD(learning_rate=np.float32(0.5), momentum=np.float64(0.9), nesterov=nesterov)
    adam = Adam(beta1=np.float32(0.5), beta2=np.float64(0.99), eps=np.float32(1e-7))
    assert type(opt.momentum) is float and opt.nesterov is True
    assert type(opt.learning_rate) is float and opt.learning_rate == 0.5
    assert all(type(x) is float for x in (adam.beta1, adam.beta2, adam.eps))
    params = {"W": np.ones(3, np.float32)}
    for rule in (opt, adam, RMSProp(decay_rate=np.float32(0.5))):
        rule.step(params, {"W": np.ones(3, np.float32)})
    assert params["W"].dtype == np.float32


def test_registry_builds_by_name() -> None:
    assert set(OPTIMIZERS) == {"sgd", "momentum", "nesterov", "rmsprop", "adam", "adagrad"}
    momentum = make_optimizer("momentum", learning_rate=0.5)
    assert isinstance(momentum, SGD) and momentum.momentum == 0.9 and not momentum.nesterov
    assert momentum.learning_rate == 0.5
    nesterov = make_optimizer("nesterov")
    assert isinstance(nesterov, SGD) and nesterov.nesterov and nesterov.momentum == 0.9
    slower = make_optimizer("momentum", momentum=0.5)
    assert isinstance(slower, SGD) and slower.momentum == 0.5
    assert type(make_optimizer("adam")) is Adam and make_optimizer("adam").learning_rate == 1e-3
    assert "Adam(learning_rate=Constant(lr=0.001), beta1=0.9" in repr(make_optimizer("adam"))
    with pytest.raises(ValueError, match="unknown optimizer 'adamw'; choose one of adagrad, adam"):
        make_optimizer("adamw")


# ---------------------------------------------------------------- save and resume


def _npz_json_round_trip(state: dict[str, Any]) -> dict[str, Any]:
    """What a checkpoint does: arrays to .npz, the rest to JSON, no pickle."""
    arrays = {f"{k}/{slot}": a for k, slots in state["state"].items() for slot, a in slots.items()}
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    buffer.seek(0)
    meta = json.loads(json.dumps({k: v for k, v in state.items() if k != "state"}))
    loaded: dict[str, dict[str, np.ndarray]] = {}
    with np.load(buffer, allow_pickle=False) as archive:
        for key in archive.files:
            name, slot = key.split("/")
            loaded.setdefault(name, {})[slot] = archive[key]
    return {**meta, "state": loaded}


@pytest.mark.parametrize(
    "make",
    [
        lambda: SGD(learning_rate=ExponentialDecay(0.05, 0.9), momentum=0.9),
        lambda: SGD(learning_rate=0.05, momentum=0.5, nesterov=True),
        lambda: Adam(learning_rate=ExponentialDecay(1e-2, 0.95), beta1=0.8),
        lambda: RMSProp(learning_rate=1e-2),
        lambda: Adagrad(learning_rate=1e-2),
    ],
)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_resume_continues_bit_for_bit(make: Callable[[], Optimizer], dtype: type) -> None:
    rng = np.random.default_rng(4)
    shapes = {"0.W": (10, 50), "0.b": (10,), "2.W": (3, 10)}
    grads: list[Params] = [
        {k: rng.standard_normal(s).astype(dtype) for k, s in shapes.items()} for _ in range(6)
    ]
    params: Params = {k: rng.standard_normal(s).astype(dtype) for k, s in shapes.items()}
    original = make()
    for g in grads[:3]:
        original.step(params, g)
        original.advance_epoch()

    saved = _npz_json_round_trip(original.state_dict())
    resumed_params = {k: p.copy() for k, p in params.items()}
    resumed = make_optimizer(original.name)  # defaults; load_state_dict restores the saved ones
    resumed.load_state_dict(saved, params=resumed_params)
    assert resumed.hyperparameters() == original.hyperparameters()
    assert (resumed.epoch, resumed.step_count) == (original.epoch, original.step_count)
    rebuilt = optimizer_from_state_dict(saved, params)
    rebuilt_params = {k: p.copy() for k, p in params.items()}

    for g in grads[3:]:
        for opt, p in ((original, params), (resumed, resumed_params), (rebuilt, rebuilt_params)):
            opt.step(p, g)
            opt.advance_epoch()
    for k in params:
        assert np.array_equal(resumed_params[k], params[k]), k
        assert np.array_equal(rebuilt_params[k], params[k]), k
        assert resumed_params[k].dtype == dtype
        for slot, value in original.state[k].items():
            assert np.array_equal(resumed.state[k][slot], value), (k, slot)


def test_state_dict_is_a_snapshot_and_json_able() -> None:
    opt = Adam(learning_rate=ExponentialDecay(1e-2, 0.95))
    params = {"W": np.ones((2, 2))}
    opt.step(params, {"W": np.ones((2, 2))})
    state = opt.state_dict()
    assert set(state) == {"name", "hyperparameters", "epoch", "step_count", "state"}
    assert json.loads(json.dumps(state["hyperparameters"])) == state["hyperparameters"]
    assert state["hyperparameters"]["learning_rate"] == {
        "name": "exponential",
        "lr0": 0.01,
        "decay": 0.95,
    }
    m = state["state"]["W"]["m"].copy()
    opt.step(params, {"W": np.ones((2, 2))})
    assert np.array_equal(state["state"]["W"]["m"], m)  # later steps do not touch the snapshot


def test_load_copies_into_existing_state_arrays() -> None:
    opt = SGD(learning_rate=0.1, momentum=0.9)
    params = {"W": np.ones(3)}
    opt.step(params, {"W": np.ones(3)})
    velocity = opt.state["W"]["velocity"]
    saved = opt.state_dict()
    opt.step(params, {"W": np.ones(3)})
    opt.load_state_dict(saved)
    assert opt.state["W"]["velocity"] is velocity
    np.testing.assert_array_equal(velocity, saved["state"]["W"]["velocity"])
    assert opt.step_count == 1


def _adam_state(shape: tuple[int, ...] = (50, 3072)) -> dict[str, Any]:
    opt = Adam()
    opt.step({"W1": np.zeros(shape)}, {"W1": np.ones(shape)})
    return opt.state_dict()


@pytest.mark.parametrize(
    ("target", "state", "params", "message"),
    [
        (SGD, _adam_state((2,)), None, "state is from optimiser 'adam', cannot load it into 'sgd'"),
        (Adam, _adam_state((2,)), {"W1": np.zeros(2), "W3": np.zeros(2)}, None),
        (
            Adam,
            {**_adam_state((2,)), "state": {"W3": _adam_state((2,))["state"]["W1"]}},
            {"W1": np.zeros(2)},
            "state for 'W3' but the model has no such parameter",
        ),
        (
            Adam,
            _adam_state(),
            {"W1": np.zeros((10, 50))},
            r"shape \(50, 3072\) in state vs \(10, 50\) in params",
        ),
        (Adam, _adam_state((2,)), {"W1": np.zeros(2, np.float32)}, "dtype float64 in state vs"),
        (
            Adam,
            {**_adam_state((2,)), "state": {"W1": {"m": np.zeros(2)}}},
            None,
            r"state for 'W1' has slots \['m'\], expected \['m', 'v'\]",
        ),
        (Adam, {**_adam_state((2,)), "epoch": -1}, None, "epoch must be >= 0, got -1"),
        (
            Adam,
            {**_adam_state((2,)), "hyperparameters": {"beta1": 2.0}},
            None,
            r"beta1 must be a finite number >= 0 and < 1, got 2.0",
        ),
        (Adam, {"name": "adam"}, None, "optimiser state has no 'hyperparameters' entry"),
    ],
)
def test_load_rejects_mismatched_state(
    target: Callable[[], Optimizer], state: dict, params: Params | None, message: str | None
) -> None:
    opt = target()
    kept = {"W1": np.ones(2)}
    opt.step(kept, {"W1": np.ones(2)})
    before = opt.state_dict()
    with pytest.raises(ValueError, match=message or r"parameters \['W3'\] but the state has none"):
        opt.load_state_dict(state, params=params)
    after = opt.state_dict()  # a failed load changes nothing
    assert after["step_count"] == before["step_count"] and after["name"] == before["name"]
    for slot, value in before["state"]["W1"].items():
        assert np.array_equal(after["state"]["W1"][slot], value)


def test_load_accepts_counts_as_0d_integer_arrays() -> None:
    # An .npz round trip of the whole state gives the counts back as 0-d arrays.
    state = {**_adam_state((2,)), "epoch": np.array(3), "step_count": np.array(1, np.int32)}
    opt = Adam()
    opt.load_state_dict(state)
    assert (opt.epoch, opt.step_count) == (3, 1)
    assert type(opt.epoch) is int and type(opt.step_count) is int


@pytest.mark.parametrize(
    ("entry", "value", "message"),
    [
        ("epoch", 1.5, "epoch must be an integer, got float 1.5"),
        ("step_count", np.array(1.0), "step_count must be an integer, got float64"),
        ("epoch", True, "epoch must be an integer, got bool True"),
        ("hyperparameters", {"beta1": "0.9"}, "beta1 must be a real number, got str '0.9'"),
    ],
)
def test_load_calls_a_malformed_entry_a_value_error(entry: str, value: Any, message: str) -> None:
    opt = Adam()
    with pytest.raises(ValueError, match=message):
        opt.load_state_dict({**_adam_state((2,)), entry: value})
    assert opt.step_count == 0 and opt.state == {}


def test_step_rejects_loaded_state_that_does_not_fit_the_parameter() -> None:
    opt = Adam()
    opt.load_state_dict(_adam_state((2,)))  # no params given: only checked at the next step
    with pytest.raises(ValueError, match=r"state 'W1'/'m' is float64\(2,\) but the parameter"):
        opt.step({"W1": np.zeros(3)}, {"W1": np.zeros(3)})
