"""Checkpoint files: what they hold, atomic writes, and clear errors for bad checkpoints."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minigrad.training.checkpoint as checkpoint_module
from minigrad import Trainer
from minigrad.data import make_spiral
from minigrad.initializers import normal
from minigrad.models import two_layer_net
from minigrad.optim import ExponentialDecay, make_optimizer
from minigrad.training.checkpoint import (
    CheckpointError,
    checkpoint_json_path,
    join_arrays,
    load_checkpoint,
    read_checkpoint,
    save_checkpoint,
    split_arrays,
)

X, Y = make_spiral(30, 3, rng=np.random.default_rng(0))


def _trainer(
    hidden: int = 8, optimizer: str = "momentum", sampling: str = "shuffle", seed: int = 0,
    reg: float = 1e-3,
) -> Trainer:
    model = two_layer_net(2, hidden, 3, weight_init=normal(0.5, np.random.default_rng(seed)))
    opt = make_optimizer(optimizer, learning_rate=ExponentialDecay(0.1, 0.9))
    return Trainer(model, opt, reg=reg, batch_size=20, sampling=sampling,
                   rng=np.random.default_rng(seed))


@pytest.fixture
def saved(tmp_path: Path) -> Path:
    trainer = _trainer()
    trainer.fit(X, Y, X, Y, num_iters=7)
    save_checkpoint(tmp_path / "ckpt", trainer, config={"hidden_size": 8, "note": "test"})
    return tmp_path / "ckpt"


def _npz(path: Path) -> Path:
    (npz,) = [p for p in path.parent.glob(f"{path.name}.*.npz") if len(p.suffixes) == 2]
    return npz


def _params(trainer: Trainer) -> dict[str, np.ndarray]:
    return {name: value.copy() for name, value in trainer.model.params.items()}


def test_a_checkpoint_is_a_json_and_an_npz_without_pickle(saved: Path) -> None:
    meta = json.loads(checkpoint_json_path(saved).read_text())
    assert meta["format"] == "minigrad-checkpoint"
    assert meta["config"] == {"hidden_size": 8, "note": "test"}
    assert meta["state"]["iteration"] == 7
    assert meta["state"]["optimizer"]["name"] == "sgd"  # momentum is SGD with momentum
    with np.load(_npz(saved), allow_pickle=False) as npz:
        files = set(npz.files)
    assert set(meta["arrays"]) == files
    assert {"model/0.W", "optimizer/state/0.W/velocity", "sampler/order", "history/loss"} <= files


def test_read_checkpoint_gives_back_the_state_and_config(saved: Path) -> None:
    trainer = _trainer()
    trainer.fit(X, Y, X, Y, num_iters=7)
    state, config = read_checkpoint(saved)
    assert config == {"hidden_size": 8, "note": "test"}
    for name, value in trainer.model.params.items():
        assert np.array_equal(state["model"][name], value)
    assert state["history"]["loss"].tolist() == trainer.history.loss


def test_the_json_or_either_npz_path_names_the_checkpoint(saved: Path) -> None:
    json_path = checkpoint_json_path(saved)
    assert checkpoint_json_path(json_path) == json_path
    assert checkpoint_json_path(_npz(saved)) == json_path
    trainer = _trainer(seed=3)
    load_checkpoint(_npz(saved), trainer)
    assert trainer.iteration == 7


def test_saving_again_replaces_the_npz_and_removes_the_old_one(saved: Path) -> None:
    old = _npz(saved)
    (saved.parent / "ckpt.best.0123456789abcdef.npz").write_bytes(b"another checkpoint's")
    trainer = _trainer()
    trainer.fit(X, Y, num_iters=3)
    save_checkpoint(saved, trainer)
    assert not old.exists()
    assert _npz(saved) != old
    assert (saved.parent / "ckpt.best.0123456789abcdef.npz").exists()  # not ours: kept
    assert read_checkpoint(saved)[0]["iteration"] == 3


def test_a_crash_before_the_json_is_written_keeps_the_previous_checkpoint(
    saved: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def crash(*args: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(checkpoint_module, "write_json_atomic", crash)
    trainer = _trainer()
    trainer.fit(X, Y, num_iters=2)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(saved, trainer)
    # The new npz was written, but the json still names the complete old one.
    assert read_checkpoint(saved)[0]["iteration"] == 7


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("truncate npz", "SHA-256"),
        ("garbage npz", "SHA-256"),
        ("delete npz", "incomplete checkpoint"),
        ("delete json", "ckpt.json"),
        ("truncate json", "not valid JSON"),
        ("garbage json", "not UTF-8"),
        ("foreign json", "not a minigrad checkpoint"),
        ("future version", "version 99"),
        ("rehashed garbage npz", "corrupt or not an .npz file"),
        ("array list", "does not hold the arrays"),
    ],
)
def test_a_damaged_checkpoint_is_named_and_changes_nothing(
    saved: Path, damage: str, message: str
) -> None:
    json_path, npz = checkpoint_json_path(saved), _npz(saved)
    meta = json.loads(json_path.read_text())
    if damage == "truncate npz":
        npz.write_bytes(npz.read_bytes()[:-100])
    elif damage == "garbage npz":
        npz.write_bytes(b"\x00garbage" * 50)
    elif damage == "delete npz":
        npz.unlink()
    elif damage == "delete json":
        json_path.unlink()
    elif damage == "truncate json":
        json_path.write_text(json_path.read_text()[:200])
    elif damage == "garbage json":
        json_path.write_bytes(b"\xff\xfe garbage")
    elif damage == "foreign json":
        json_path.write_text('{"hello": 1}')
    elif damage == "future version":
        json_path.write_text(json.dumps({**meta, "version": 99}))
    elif damage == "rehashed garbage npz":
        import hashlib

        npz.write_bytes(b"PK garbage")
        meta["npz_sha256"] = hashlib.sha256(b"PK garbage").hexdigest()
        json_path.write_text(json.dumps(meta))
    elif damage == "array list":
        del meta["arrays"]["model/0.W"]
        json_path.write_text(json.dumps(meta))
    trainer = _trainer(seed=5)
    before = _params(trainer)
    with pytest.raises(CheckpointError, match=message):
        load_checkpoint(saved, trainer)
    for name, value in before.items():
        assert np.array_equal(trainer.model.params[name], value)
    assert trainer.iteration == 0


@pytest.mark.parametrize(
    ("other", "message"),
    [
        (lambda: _trainer(hidden=9),
         r"'0.W' has shape \(8, 2\) but this model's is \(9, 2\)"),
        (lambda: Trainer(two_layer_net(2, 8, 3)[:1], make_optimizer("momentum"), reg=1e-3,
                         batch_size=20, rng=np.random.default_rng(0)),
         r"the state has '2.W', which this model does not have"),
        (lambda: _trainer(optimizer="adam"), "from optimiser 'sgd', cannot load it into 'adam'"),
        (lambda: _trainer(sampling="replacement"), "saved with sampling='shuffle'"),
        (lambda: _trainer(reg=0.5), "saved with reg=0.001"),
    ],
)
def test_a_checkpoint_of_another_setup_is_named_and_changes_nothing(
    saved: Path, other: object, message: str
) -> None:
    trainer = other()  # type: ignore[operator]
    before = _params(trainer)
    optimizer_before = trainer.optimizer.state_dict()
    with pytest.raises(CheckpointError, match=message):
        load_checkpoint(saved, trainer)
    for name, value in before.items():
        assert np.array_equal(trainer.model.params[name], value)
    assert trainer.optimizer.state_dict()["step_count"] == optimizer_before["step_count"]
    assert trainer.iteration == 0 and trainer.history.loss == []


def test_a_checkpoint_of_a_float32_model_does_not_load_into_float64(tmp_path: Path) -> None:
    model = two_layer_net(2, 8, 3, weight_init=normal(0.5, np.random.default_rng(0)),
                          dtype=np.float32)
    trainer = Trainer(model, make_optimizer("adam"), batch_size=20, reg=1e-3,
                      rng=np.random.default_rng(0))
    save_checkpoint(tmp_path / "ckpt", trainer)
    with pytest.raises(CheckpointError, match="'0.W' is float32 but this model's is float64"):
        load_checkpoint(tmp_path / "ckpt", _trainer(optimizer="adam"))


def test_a_trainer_saved_before_training_resumes_its_generator(tmp_path: Path) -> None:
    fresh = _trainer()
    save_checkpoint(tmp_path / "ckpt", fresh)
    fresh.fit(X, Y, num_iters=5)
    resumed = _trainer(seed=0)
    resumed.rng.random(3)  # moved on: loading must rewind it
    load_checkpoint(tmp_path / "ckpt", resumed)
    resumed.model.params["0.W"][...] = 0  # loading also restored the initial weights ...
    load_checkpoint(tmp_path / "ckpt", resumed)
    resumed.fit(X, Y, num_iters=5)
    assert resumed.history.loss == fresh.history.loss  # ... and the same rows were drawn


_names = st.text(st.characters(blacklist_characters="/", codec="utf-8"), min_size=1, max_size=5)
_leaves = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.text(max_size=5),
    st.floats(allow_nan=False, allow_infinity=False),
    hnp.arrays(st.sampled_from([np.float32, np.float64, np.int64, np.uint32]),
               hnp.array_shapes(min_dims=0, max_dims=2, max_side=3)),
)
_states = st.recursive(
    _leaves,
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.dictionaries(_names.filter(lambda k: k != "__array__"), children, max_size=3),
    ),
    max_leaves=10,
)


def _same(a: object, b: object) -> bool:
    if isinstance(a, np.ndarray):
        # bytes, not np.array_equal: a NaN saved and loaded is the same NaN
        return (
            isinstance(b, np.ndarray) and a.dtype == b.dtype and a.shape == b.shape
            and a.tobytes() == b.tobytes()
        )
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(map(_same, a, b))
    return type(a) is type(b) and a == b


@given(_states)
def test_split_and_join_arrays_round_trip_through_json(state: object) -> None:
    tree, arrays = split_arrays({"root": state})
    back = join_arrays(json.loads(json.dumps(tree)), arrays)
    assert _same(back, {"root": state})
    assert all(isinstance(value, np.ndarray) for value in arrays.values())


def test_split_arrays_refuses_what_json_and_npz_cannot_hold() -> None:
    with pytest.raises(TypeError, match="object array"):
        split_arrays({"a": np.array([None, 1], dtype=object)})
    with pytest.raises(ValueError, match="without '/'"):
        split_arrays({"a/b": 1})
    with pytest.raises(TypeError, match="not JSON-able"):
        split_arrays({"a": {1, 2}})


def test_npz_in_checkpoint_is_a_plain_zip_of_npy_files(saved: Path) -> None:
    with zipfile.ZipFile(_npz(saved)) as archive:
        assert all(name.endswith(".npy") for name in archive.namelist())


def test_callback_states_must_match(tmp_path: Path) -> None:
    from minigrad.training.early_stopping import EarlyStopping

    with_stopper = _trainer()
    with_stopper.callbacks.append(EarlyStopping(3))
    with_stopper.fit(X, Y, X, Y, num_iters=7)
    save_checkpoint(tmp_path / "ckpt", with_stopper)
    with pytest.raises(CheckpointError, match=r"callback states for \['EarlyStopping'\]"):
        load_checkpoint(tmp_path / "ckpt", _trainer())
    two = _trainer()
    two.callbacks += [EarlyStopping(3), EarlyStopping(5)]
    with pytest.raises(CheckpointError, match=r"'EarlyStopping#2'"):
        load_checkpoint(tmp_path / "ckpt", two)
    same = _trainer()
    same.callbacks.append(EarlyStopping(3))
    load_checkpoint(tmp_path / "ckpt", same)
    assert same.callbacks[0].state_dict() == with_stopper.callbacks[0].state_dict()


# ---------------------------------------------------------------------- hostile checkpoints


def _rehash(saved: Path, data: bytes, meta_change: dict | None = None) -> None:
    """Replace the npz by ``data`` and make the json name its digest (an attacker can)."""
    import hashlib

    json_path = checkpoint_json_path(saved)
    meta = json.loads(json_path.read_text())
    _npz(saved).write_bytes(data)
    meta["npz_sha256"] = hashlib.sha256(data).hexdigest()
    meta.update(meta_change or {})
    json_path.write_text(json.dumps(meta))


def _index_entry(saved: Path, key: str, entry: object) -> None:
    json_path = checkpoint_json_path(saved)
    meta = json.loads(json_path.read_text())
    meta["arrays"][key] = entry
    json_path.write_text(json.dumps(meta))


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("deep json", "nests 30000 levels deep"),
        ("huge int", "an integer of 5000 digits"),
        ("nan in json", "NaN is not a JSON number"),
        ("index 2**50", r"needs about 16.0 PiB of memory, but only"),
        ("index object dtype", "with dtype '|O'; only plain numbers"),
        ("index garbage", "not a shape and a dtype"),
        ("extra member", "unexpected array 'extra'"),
        ("npz larger than its index", "is larger than"),
        ("npz is lzma", r"compression method 14 \(LZMA\)"),
        ("npz is a folder", "is not a minigrad checkpoint|incomplete|is a folder"),
        ("callbacks of the wrong kind", "does not fit this trainer"),
    ],
)
def test_a_hostile_checkpoint_is_a_checkpoint_error(
    saved: Path, damage: str, message: str
) -> None:
    from hostile_files import deep_json, npy_bytes, npz_bytes, zip_of

    json_path = checkpoint_json_path(saved)
    text = json_path.read_text()
    with np.load(_npz(saved), allow_pickle=False) as npz:
        arrays = {key: npz[key] for key in npz.files}
    if damage == "deep json":
        json_path.write_bytes(deep_json(30_000))
    elif damage == "huge int":
        json_path.write_text(text.replace('"iteration": 7', '"iteration": ' + "7" * 5000))
    elif damage == "nan in json":
        json_path.write_text(text.replace('"iteration": 7', '"iteration": NaN'))
    elif damage == "index 2**50":
        _index_entry(saved, "model/0.W", {"shape": [2**50], "dtype": "<f8"})
    elif damage == "index object dtype":
        _index_entry(saved, "model/0.W", {"shape": [2], "dtype": "|O"})
    elif damage == "index garbage":
        _index_entry(saved, "model/0.W", {"shape": "big", "dtype": 3})
    elif damage == "extra member":
        members = [(f"{k}.npy", npy_bytes(v)) for k, v in arrays.items()]
        _rehash(saved, zip_of([*members, ("extra.npy", npy_bytes(np.zeros(3)))]))
    elif damage == "npz larger than its index":
        _rehash(saved, _npz(saved).read_bytes() + bytes(1 << 20))
    elif damage == "npz is lzma":
        _rehash(saved, npz_bytes(arrays, zipfile.ZIP_LZMA))
    elif damage == "callbacks of the wrong kind":
        meta = json.loads(text)
        meta["state"]["callbacks"] = [1]
        json_path.write_text(json.dumps(meta))
    elif damage == "npz is a folder":
        _npz(saved).unlink()
        (json_path.parent / json.loads(text)["npz"]).mkdir()
    trainer = _trainer(seed=5)
    before = _params(trainer)
    with pytest.raises(CheckpointError, match=message):
        load_checkpoint(saved, trainer)
    for name, value in before.items():
        assert np.array_equal(trainer.model.params[name], value)


HOLD = (
    "import sys, time\nfrom minigrad.files.folder_lock import lock_folder\n"
    "lock = lock_folder(sys.argv[1])\nprint('held', flush=True)\ntime.sleep(60)\n"
)


def test_a_checkpoint_folder_another_process_writes_is_refused(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    from minigrad.files.folder_lock import FolderInUseError
    from minigrad.training.checkpoint import PeriodicCheckpoint

    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path)],
                              env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        trainer = _trainer()
        with pytest.raises(FolderInUseError, match=f"in use by PID {holder.pid}"):
            save_checkpoint(tmp_path / "ckpt", trainer)
        trainer.callbacks.append(PeriodicCheckpoint(tmp_path / "ckpt", every=2))
        with pytest.raises(FolderInUseError, match=f"in use by PID {holder.pid}"):
            trainer.fit(X, Y, num_iters=4)  # refused at the start, before any step
        assert trainer.iteration == 0
    finally:
        holder.kill()
        holder.wait(timeout=30)
    trainer.fit(X, Y, num_iters=4)  # the holder is gone: its lock is taken over
    assert read_checkpoint(tmp_path / "ckpt")[0]["iteration"] == 4
    assert not (tmp_path / ".minigrad.lock").exists()  # released at the end of fit
