"""CIFAR-10 loading: shapes and dtypes, validation of every kind of bad file, safe unpickling."""

from __future__ import annotations

import os
import pickle
import re
import subprocess
import sys
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from fake_cifar import (
    LABEL_NAMES,
    FakeCifar,
    Opcodes,
    array_pickle,
    batch_dict,
    dtype_pickle,
    meta_dict,
    py2_pickle_dumps,
    unicode_string,
    write_fake_cifar,
    write_pickle,
)
from fuzz_loader import LoaderWorker
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from minigrad.data.cifar10 import (
    CifarFormatError,
    UnsafePickleError,
    load_cifar10,
    load_cifar10_batch,
    load_cifar10_meta,
    load_label_names,
    validate_batch,
)
from minigrad.data.locate import CifarFilesMissingError
from minigrad.data.safe_pickle import (
    MAX_DICT_ITEMS,
    MAX_FILE_BYTES,
    MAX_OPCODES,
    PickledArray,
    load_pickle_safely,
)

REAL_DATA_ENV = "MINIGRAD_CIFAR10"


def cs231n_images(rows: np.ndarray) -> np.ndarray:
    """The workbook's loader: ``X.reshape(n, 3, 32, 32).transpose(0, 2, 3, 1)``."""
    return rows.reshape(rows.shape[0], 3, 32, 32).transpose(0, 2, 3, 1)


@pytest.fixture
def fake(tmp_path: Path) -> FakeCifar:
    return write_fake_cifar(tmp_path / "cifar-10-batches-py", num_cases_per_batch=20)


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder Hypothesis examples may overwrite (function-scoped tmp_path is not allowed)."""
    return tmp_path_factory.mktemp("scratch")


def one_row_batch_bytes() -> bytes:
    rows = np.arange(3072, dtype=np.int64).astype(np.uint8).reshape(1, 3072)
    return py2_pickle_dumps(batch_dict(rows, [7], "training batch 1 of 5"))


# --- loading good data ------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.uint8, np.float32, np.float64])
def test_load_gives_cs231n_layout_in_requested_dtype(fake: FakeCifar, dtype: type) -> None:
    X_train, y_train, X_test, y_test = load_cifar10(fake.root, dtype=dtype)

    assert X_train.shape == (100, 32, 32, 3) and X_test.shape == (20, 32, 32, 3)
    assert X_train.dtype == dtype and X_test.dtype == dtype
    assert X_train.flags.c_contiguous and X_test.flags.c_contiguous
    assert y_train.dtype == np.int64 and y_train.shape == (100,)
    assert y_test.dtype == np.int64 and y_test.shape == (20,)
    np.testing.assert_array_equal(X_train, cs231n_images(fake.train_rows).astype(dtype))
    np.testing.assert_array_equal(X_test, cs231n_images(fake.test_rows).astype(dtype))
    np.testing.assert_array_equal(y_train, fake.train_labels)
    np.testing.assert_array_equal(y_test, fake.test_labels)


def test_pixel_layout_puts_red_plane_in_channel_0(tmp_path: Path) -> None:
    # One image whose R, G, B planes are constant 1, 2, 3 and one pixel marks (row 0, col 1).
    row = np.repeat(np.array([1, 2, 3], dtype=np.uint8), 1024)
    row[1] = 200
    path = write_pickle(tmp_path / "b", py2_pickle_dumps(batch_dict(row[None, :], [0], "b")))

    X, _ = load_cifar10_batch(path, dtype=np.uint8)

    np.testing.assert_array_equal(X[0, 5, 5], [1, 2, 3])
    assert X[0, 0, 1, 0] == 200 and X[0, 1, 0, 0] == 1


def test_float32_load_never_makes_a_float64_copy(tmp_path: Path) -> None:
    fake = write_fake_cifar(tmp_path / "d", num_cases_per_batch=200)
    batch_bytes = 200 * 3072
    tracemalloc.start()
    try:
        X_train, _, X_test, _ = load_cifar10(fake.root, dtype=np.float32)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    result_bytes = X_train.nbytes + X_test.nbytes
    # A float64 copy of the training set alone would add 2 * X_train.nbytes.
    assert peak < result_bytes + 6 * batch_bytes, (peak, result_bytes)


def test_load_single_batch_and_meta(fake: FakeCifar) -> None:
    X, y = load_cifar10_batch(fake.root / "data_batch_2", dtype=np.float32, expected_rows=20)

    np.testing.assert_array_equal(X, cs231n_images(fake.train_rows[20:40]).astype(np.float32))
    np.testing.assert_array_equal(y, fake.train_labels[20:40])
    assert load_label_names(fake.root) == list(LABEL_NAMES)
    assert load_cifar10_meta(fake.root).num_cases_per_batch == 20


def test_python3_pickle_with_str_keys_loads_too(fake: FakeCifar) -> None:
    # Re-saved by Python 3: str keys, numpy._core spelling, bytes through _codecs.encode.
    rows = fake.train_rows[:20]
    batch = {"batch_label": "x", "labels": fake.train_labels[:20].tolist(), "data": rows}
    (fake.root / "data_batch_1").write_bytes(pickle.dumps(batch, protocol=2))

    X_train, y_train, _, _ = load_cifar10(fake.root, dtype=np.uint8)

    np.testing.assert_array_equal(X_train[:20], cs231n_images(rows))
    np.testing.assert_array_equal(y_train[:20], fake.train_labels[:20])


def test_rejects_unsupported_dtype(fake: FakeCifar) -> None:
    with pytest.raises(ValueError, match="uint8, float32, float64"):
        load_cifar10(fake.root, dtype=np.int32)


# --- missing and corrupt files -----------------------------------------------------------


def test_missing_files_are_listed_with_the_folder(fake: FakeCifar) -> None:
    (fake.root / "data_batch_3").unlink()
    (fake.root / "test_batch").unlink()

    with pytest.raises(CifarFilesMissingError) as info:
        load_cifar10(fake.root)

    message = str(info.value)
    assert "data_batch_3" in message and "test_batch" in message and str(fake.root) in message
    assert "data_batch_1" not in message.split("is missing")[1].split(";")[0]
    assert isinstance(info.value, CifarFormatError) and isinstance(info.value, FileNotFoundError)


def test_missing_folder_is_an_error_not_a_download(tmp_path: Path) -> None:
    with pytest.raises(CifarFilesMissingError, match="does not exist"):
        load_cifar10(tmp_path / "nowhere")


def test_parent_folder_gets_a_hint(fake: FakeCifar) -> None:
    with pytest.raises(CifarFilesMissingError, match="did you mean"):
        load_cifar10(fake.root.parent)


@pytest.mark.parametrize("keep", [0, 1, 2, 30, 3000, -1])
def test_truncated_batch_names_the_file(fake: FakeCifar, keep: int) -> None:
    path = fake.root / "data_batch_4"
    path.write_bytes(path.read_bytes()[:keep])

    with pytest.raises(CifarFormatError, match="data_batch_4.*truncated or corrupt"):
        load_cifar10(fake.root)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_any_prefix_of_a_batch_is_reported_as_corrupt(scratch: Path, data: st.DataObject) -> None:
    payload = one_row_batch_bytes()
    cut = data.draw(st.integers(0, len(payload) - 1))
    path = write_pickle(scratch / "cut_batch", payload[:cut])

    with pytest.raises(CifarFormatError, match="cut_batch"):
        load_cifar10_batch(path)


@settings(max_examples=150, deadline=None)
@given(position=st.integers(0, 3200), value=st.integers(0, 255))
def test_a_corrupted_byte_loads_or_gives_a_format_error(
    scratch: Path, position: int, value: int
) -> None:
    payload = bytearray(one_row_batch_bytes())
    payload[position % len(payload)] = value
    path = write_pickle(scratch / "flipped_batch", bytes(payload))

    try:
        X, y = load_cifar10_batch(path, dtype=np.uint8)
    except CifarFormatError as exc:
        assert "flipped_batch" in str(exc)
    else:  # a flipped pixel is still a valid batch
        assert X.shape[1:] == (32, 32, 3) and y.shape == (X.shape[0],)
        assert ((y >= 0) & (y < 10)).all()


def write_batch_dict(fake: FakeCifar, batch: object, name: str = "data_batch_2") -> None:
    write_pickle(fake.root / name, py2_pickle_dumps(batch))


def good_rows(n: int = 20) -> np.ndarray:
    return np.zeros((n, 3072), dtype=np.uint8)


@pytest.mark.parametrize(
    ("batch", "problem"),
    [
        ([1, 2, 3], "expected a pickled dict, got list"),
        ({b"data": good_rows()}, "missing key.*'labels'"),
        ({b"labels": [0] * 20}, "missing key.*'data'"),
        ({b"data": [[0] * 3072] * 20, b"labels": [0] * 20}, "data must be a numpy uint8 array"),
        ({b"data": good_rows(20)[:, :3071], b"labels": [0] * 20}, r"shape \(n, 3072\)"),
        ({b"data": good_rows(20).reshape(20, 3, 1024), b"labels": [0] * 20}, "shape"),
        ({b"data": good_rows(19), b"labels": [0] * 19}, "19 rows.*num_cases_per_batch = 20"),
        ({b"data": good_rows(), b"labels": [0] * 19}, "19 labels for 20 data rows"),
        ({b"data": good_rows(), b"labels": [0] * 19 + [10]}, "outside 0..9, first at index 19: 10"),
        ({b"data": good_rows(), b"labels": [-1] + [0] * 19}, "outside 0..9.*index 0: -1"),
        ({b"data": good_rows(), b"labels": [0.0] * 20}, "flat list of ints"),
        ({b"data": good_rows(), b"labels": [b"cat"] * 20}, "flat list of ints"),
    ],
)
def test_malformed_batch_gives_a_clear_error(fake: FakeCifar, batch: object, problem: str) -> None:
    write_batch_dict(fake, batch)

    with pytest.raises(CifarFormatError, match=problem) as info:
        load_cifar10(fake.root)

    assert "data_batch_2" in str(info.value)


def test_non_uint8_data_is_rejected(fake: FakeCifar) -> None:
    # The emitter only writes uint8, so use Python 3's pickle for a float array.
    batch = {"data": np.zeros((20, 3072)), "labels": [0] * 20}
    (fake.root / "data_batch_5").write_bytes(pickle.dumps(batch, protocol=2))

    with pytest.raises(CifarFormatError, match="data_batch_5: data must have dtype uint8"):
        load_cifar10(fake.root)


@pytest.mark.parametrize(
    ("meta", "problem"),
    [
        (meta_dict(20, num_vis=3000), "num_vis is 3000, expected 3072"),
        (meta_dict(0), "num_cases_per_batch must be a positive int"),
        ({b"num_vis": 3072, b"num_cases_per_batch": 20}, "missing key.*'label_names'"),
        ({**meta_dict(20), b"label_names": [b"cat"] * 9}, "label_names must be a list of 10"),
    ],
)
def test_malformed_meta_gives_a_clear_error(fake: FakeCifar, meta: object, problem: str) -> None:
    write_pickle(fake.root / "batches.meta", py2_pickle_dumps(meta))

    with pytest.raises(CifarFormatError, match=f"batches.meta: {problem}"):
        load_cifar10(fake.root)


def test_meta_row_count_is_enforced_on_every_batch(fake: FakeCifar) -> None:
    write_pickle(fake.root / "batches.meta", py2_pickle_dumps(meta_dict(10000)))

    with pytest.raises(CifarFormatError, match="data_batch_1: 20 rows.*= 10000"):
        load_cifar10(fake.root)


@given(labels=st.lists(st.integers(-(2**40), 2**40), min_size=1, max_size=30))
def test_labels_are_accepted_exactly_when_all_in_0_to_9(labels: list[int]) -> None:
    batch = {b"data": np.zeros((len(labels), 3072), np.uint8), b"labels": labels}
    if all(0 <= label <= 9 for label in labels):
        _, y = validate_batch(batch, "b")
        assert y.tolist() == labels and y.dtype == np.int64
    else:
        with pytest.raises(CifarFormatError, match="outside 0..9"):
            validate_batch(batch, "b")


# --- malicious pickles ------------------------------------------------------------------


class RunsShellOnLoad:
    """Unpickling this calls ``os.system``: the classic pickle attack."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return os.system, (self.command,)


@pytest.mark.parametrize("where", ["whole file", "inside labels"])
def test_os_system_pickle_is_refused_and_never_runs(
    fake: FakeCifar, tmp_path: Path, where: str
) -> None:
    sentinel = tmp_path / "SENTINEL"
    evil = RunsShellOnLoad(f"touch {sentinel}")
    payload: object = evil if where == "whole file" else {"data": good_rows(), "labels": evil}
    (fake.root / "data_batch_1").write_bytes(pickle.dumps(payload, protocol=2))

    with pytest.raises(UnsafePickleError) as info:
        load_cifar10(fake.root)

    assert f"global {os.system.__module__}.system" in str(info.value)
    assert "data_batch_1" in str(info.value)
    assert not sentinel.exists()


@pytest.mark.parametrize(
    ("module", "name"),
    [("builtins", "eval"), ("subprocess", "Popen"), ("numpy", "load"), ("os", "remove")],
)
def test_any_global_outside_the_allowlist_is_refused(
    tmp_path: Path, module: str, name: str
) -> None:
    # GLOBAL module.name, then call it with ('x',): must fail at the GLOBAL.
    payload = b"\x80\x02c" + f"{module}\n{name}\n".encode() + b"U\x01x\x85R."
    path = write_pickle(tmp_path / "evil", payload)

    with pytest.raises(UnsafePickleError, match=f"evil: refusing to load global {module}.{name}"):
        load_pickle_safely(path)


@pytest.mark.parametrize(
    ("payload", "problem"),
    [
        # LONG_BINPUT 2**24 as the first memo entry: would make CPython allocate a
        # 2**25-slot memo table (2**30 takes 16 GB); must be refused before unpickling.
        (b"\x80\x02Nr\x00\x00\x00\x01.", "memo index 16777216 at byte 3 skips ahead"),
        (b"\x80\x04N.", "pickle protocol 4"),
        (b"\x95\xff\xff\xff\xff\xff\xff\xff\x7fN.", "opcode FRAME at byte 0"),
        (b"\x80\x02(cos\nsystem\nU\x01xo.", "global os.system"),
        (b"\x80\x02(U\x01xi__main__\nEvil\n.", "opcode INST"),
        (b"\x80\x02\x82\x01.", "opcode EXT1"),
    ],
)
def test_dangerous_opcodes_are_refused_before_unpickling(
    tmp_path: Path, payload: bytes, problem: str
) -> None:
    path = write_pickle(tmp_path / "bomb", payload)

    with pytest.raises(UnsafePickleError, match=f"bomb: .*{problem}"):
        load_pickle_safely(path)


def test_reconstruct_may_only_make_the_empty_array(tmp_path: Path) -> None:
    # _reconstruct(ndarray, (2**40,), 'b') would ask for a terabyte.
    payload = (
        b"\x80\x02cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\n"
        b"\x8a\x06\x00\x00\x00\x00\x00\x01\x85U\x01b\x87R."
    )
    path = write_pickle(tmp_path / "huge", payload)

    with pytest.raises(UnsafePickleError, match=r"huge: _reconstruct is only allowed"):
        load_pickle_safely(path)


def test_codecs_encode_is_limited_to_latin1(tmp_path: Path) -> None:
    payload = b"\x80\x02c_codecs\nencode\nX\x01\x00\x00\x00xX\x04\x00\x00\x00zlib\x86R."
    path = write_pickle(tmp_path / "zlib", payload)

    with pytest.raises(UnsafePickleError, match="zlib: _codecs.encode is only allowed"):
        load_pickle_safely(path)


# --- crafted files that crashed the process or exhausted memory (issue 10) ----------------
# Each loads in a child process with a 1 GiB address-space cap, so a segfault or a huge
# allocation fails the test instead of killing pytest.

# numpy.dtype('O').__reduce__()[2], as Python 3 writes it (str byte order).
OBJECT_DTYPE_STATE = (3, unicode_string("|"), None, None, None, -1, -1, 63)


def object_dtype() -> Opcodes:
    return dtype_pickle(unicode_string("O8"), state=OBJECT_DTYPE_STATE)


def empty_object_array_batch() -> bytes:
    """143 bytes: an object array of 1000 items whose item list is empty (SIGSEGV)."""
    data = array_pickle((1000,), [], dtype=object_dtype())
    return py2_pickle_dumps({b"data": data, b"labels": []})


def hidden_object_field_meta() -> bytes:
    """~320 bytes: a structured dtype whose state hides an object field (flags say none).

    NumPy then takes the 8 raw bytes 'AAAAAAAA' for a pointer, and printing the value in
    the error message followed it.
    """
    field = {unicode_string("f0"): (object_dtype(), 0)}
    state = (3, unicode_string("|"), None, (unicode_string("f0"),), field, 8, 1, 0)
    hidden = dtype_pickle(unicode_string("V8"), state=state)
    meta = meta_dict(20)
    meta[b"num_cases_per_batch"] = array_pickle((1,), b"A" * 8, dtype=hidden)
    return py2_pickle_dumps(meta)


def huge_object_array_batch() -> bytes:
    """~150 bytes declaring 2**31 object items: NumPy tried to allocate and zero 16 GiB."""
    data = array_pickle((2**31,), [], dtype=object_dtype())
    return py2_pickle_dumps({b"data": data, b"labels": []})


def huge_count_meta() -> bytes:
    """num_cases_per_batch = 2**40: the loader preallocated 5 * 2**40 images."""
    return py2_pickle_dumps(meta_dict(2**40))


def deep_label_names_meta() -> bytes:
    """label_names nested 100000 lists deep: repr in the error message overflowed."""
    depth = 100_000
    meta = meta_dict(20)
    meta[b"label_names"] = Opcodes(b"]" * depth + b"a" * (depth - 1))
    return py2_pickle_dumps(meta)


def deep_tuple_key_batch() -> bytes:
    """A dict key of 10**6 nested tuples: hashing it overflowed the C stack."""
    depth = 1_000_000
    return b"\x80\x02}" + b")" + b"\x85" * (depth - 1) + b"Ns."


def ndarray_called_with_huge_object_shape() -> bytes:
    """numpy.ndarray((2**31,), 'O') called directly: 16 GiB of object pointers."""
    call = b"cnumpy\nndarray\n" + py2_pickle_dumps(((2**31,), b"O"))[2:-1] + b"R"
    return b"\x80\x02}U\x04data" + call + b"s."


CRAFTED_FILES = [
    ("folder", "data_batch_1", empty_object_array_batch, r"data_batch_1: data must have dtype"),
    ("folder", "batches.meta", hidden_object_field_meta, r"meta: num_cases_per_batch must be an"),
    ("meta", "batches.meta", hidden_object_field_meta, r"meta: num_cases_per_batch must be an"),
    ("batch", "data_batch_1", huge_object_array_batch, r"data_batch_1: data must have dtype"),
    ("folder", "batches.meta", huge_count_meta, r"meta: num_cases_per_batch must be <= 10000"),
    ("folder", "batches.meta", deep_label_names_meta, r"meta: label_names must be a list of 10"),
    ("batch", "data_batch_1", deep_tuple_key_batch, r"data_batch_1: tuples nested deeper"),
    ("batch", "data_batch_1", ndarray_called_with_huge_object_shape, r"numpy.ndarray"),
]


@pytest.mark.parametrize(
    ("kind", "name", "build", "problem"),
    CRAFTED_FILES,
    ids=[build.__name__ for _, _, build, _ in CRAFTED_FILES],
)
def test_crafted_file_gets_the_documented_error_in_a_capped_child(
    fake: FakeCifar, kind: str, name: str, build: Callable[[], bytes], problem: str
) -> None:
    write_pickle(fake.root / name, build())
    target = fake.root if kind == "folder" else fake.root / name

    with LoaderWorker() as worker:
        outcome = worker.load(kind, target)

    assert outcome.ok and outcome.status != "loaded", outcome
    assert re.search(problem, outcome.detail), outcome


def test_the_cli_reports_the_crafted_batch_in_one_line(fake: FakeCifar, tmp_path: Path) -> None:
    write_pickle(fake.root / "data_batch_1", empty_object_array_batch())
    command = [sys.executable, "-m", "minigrad", "train", "--data-dir", str(fake.root)]
    command += ["--out", str(tmp_path / "run")]

    done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)

    errors = [line for line in done.stderr.splitlines() if "error" in line]
    assert done.returncode == 2, done.stderr[-2000:]
    assert len(errors) == 1 and "data_batch_1: data must have dtype uint8" in errors[0], errors


def test_crafted_files_are_as_small_as_the_issue_says() -> None:
    assert len(empty_object_array_batch()) < 150
    assert len(huge_object_array_batch()) < 160
    assert len(hidden_object_field_meta()) < 400


# BUILD state (None, {'__defaults__': ('latin1',)}) would setattr on the global it follows.
_SET_DEFAULTS = b"N}" + unicode_string("__defaults__").code + unicode_string("latin1").code
_SET_DEFAULTS += b"\x85s\x86b"
_ALLOWED_GLOBALS = [
    b"numpy.core.multiarray\n_reconstruct\n",
    b"numpy._core.multiarray\n_reconstruct\n",
    b"numpy\nndarray\n",
    b"numpy\ndtype\n",
    b"_codecs\nencode\n",
]


@pytest.mark.parametrize(
    "name", _ALLOWED_GLOBALS, ids=lambda name: name.decode().strip().replace("\n", ".")
)
def test_build_on_an_allowed_global_is_refused(tmp_path: Path, name: bytes) -> None:
    path = write_pickle(tmp_path / "poison", b"\x80\x02c" + name + _SET_DEFAULTS + b".")

    with pytest.raises(UnsafePickleError, match="poison: .*BUILD"):
        load_pickle_safely(path)


def test_a_file_cannot_change_how_the_next_file_loads(tmp_path: Path) -> None:
    # The probe calls _codecs.encode('x') with its default encoding, which is refused;
    # the poison tried to make that default 'latin1' for the rest of the process.
    poison = write_pickle(tmp_path / "poison", b"\x80\x02c_codecs\nencode\n" + _SET_DEFAULTS + b".")
    probe_code = b"\x80\x02c_codecs\nencode\n" + unicode_string("x").code + b"\x85R."
    probe = write_pickle(tmp_path / "probe", probe_code)
    with LoaderWorker() as worker:
        fresh = worker.load("pickle", probe)

    with LoaderWorker() as worker:
        poisoned = worker.load("pickle", poison)
        after = worker.load("pickle", probe)

    assert poisoned.status == "unsafe_pickle", poisoned
    assert fresh.status == "unsafe_pickle" and after == fresh, (fresh, after)


# --- every size is bounded by the format ----------------------------------------------------


def test_a_file_bigger_than_any_cifar_file_is_refused_unread(tmp_path: Path) -> None:
    path = tmp_path / "huge"
    with open(path, "wb") as file:
        file.truncate(MAX_FILE_BYTES + 1)  # sparse: costs no disk

    with pytest.raises(CifarFormatError, match="huge: .* bytes, more than any CIFAR-10 file"):
        load_pickle_safely(path)


@pytest.mark.parametrize(
    ("payload", "problem"),
    [
        (b"\x80\x02](" + b"N" * MAX_OPCODES + b"e.", f"more than {MAX_OPCODES} pickle opcodes"),
        (b"\x80\x02}" + b"JAAAANs" * (MAX_DICT_ITEMS + 1) + b".", "more than 1000 dict items"),
        (b"\x80\x02}U\x01x\x85Ns.", "a tuple used as a dict key at byte"),
        (b"\x80\x02N.N", "1 bytes after STOP"),
        (b"\x80\x02NN.", "STOP at byte 4 with 2 objects"),
        (b"\x80\x02(N.", "1 open MARKs"),
        (b"\x80\x02N\x80\x02.", "protocol 2 at byte 3"),
        (b"\x80\x02Nh\x00.", "memo index 0 at byte 3 was never set"),
        (b"\x80\x02T\xff\xff\xff\xffN.", "BINSTRING at byte 2 declares -1 bytes"),
        (b"\x80\x02(Nta.", "stack underflow at byte 5"),
    ],
    ids=["opcodes", "dict-items", "tuple-key", "trailing", "two-objects", "open-mark",
         "second-proto", "memo-get", "negative-length", "underflow"],
)  # fmt: skip
def test_pickle_structure_outside_the_format_is_refused_by_the_scan(
    tmp_path: Path, payload: bytes, problem: str
) -> None:
    path = write_pickle(tmp_path / "odd", payload)

    with pytest.raises(CifarFormatError, match=f"odd: .*{re.escape(problem)}"):
        load_pickle_safely(path)


def test_codecs_encode_makes_no_more_bytes_than_the_file_holds(tmp_path: Path) -> None:
    # One 1000-character text, encoded 10000 times through the memo: 10 MB from 90 kB.
    setup = b"(c_codecs\nencode\nq\x00" + unicode_string("x" * 1000).code + b"q\x01"
    setup += unicode_string("latin1").code + b"q\x02t"
    calls = b"]" + b"h\x00h\x01h\x02\x86Ra" * 10000
    path = write_pickle(tmp_path / "amplify", b"\x80\x02" + setup + calls + b"\x86.")

    with pytest.raises(UnsafePickleError, match="amplify: .*more bytes than the file holds"):
        load_pickle_safely(path)


def test_build_twice_on_one_array_is_refused(tmp_path: Path) -> None:
    array = array_pickle((1, 3072), bytes(3072)).code
    state = py2_pickle_dumps((1, (1, 3072), dtype_pickle(), False, bytes(3072)))[2:-1]
    path = write_pickle(tmp_path / "twice", b"\x80\x02" + array + state + b"b.")

    with pytest.raises(UnsafePickleError, match="twice: BUILD applied twice"):
        load_pickle_safely(path)


def test_the_pickle_layer_returns_inert_records_and_the_rows_are_a_read_only_view(
    fake: FakeCifar,
) -> None:
    batch = load_pickle_safely(fake.root / "data_batch_1")
    assert isinstance(batch, dict) and isinstance(batch[b"data"], PickledArray)

    rows, labels = validate_batch(batch, "data_batch_1", expected_rows=20)

    np.testing.assert_array_equal(rows, fake.train_rows[:20])
    assert rows.dtype == np.uint8 and rows.flags.c_contiguous and not rows.flags.writeable
    np.testing.assert_array_equal(labels, fake.train_labels[:20])


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (np.asfortranarray(np.zeros((20, 3072), np.uint8)), "data must be in C order, got True"),
        (np.zeros(20, dtype=[("pixels", np.uint8, (3072,))]), "data must have dtype uint8"),
        (np.zeros((20, 3072), dtype=[("a", np.uint8)]), "data must have dtype uint8"),
        (np.zeros((20, 3072), dtype=">u1"), None),  # a byte order is meaningless for u1
        (np.zeros((20, 3072), dtype=object), "data must have dtype uint8"),
        (np.zeros((20, 3072), dtype="V1"), "data must have dtype uint8"),
        (np.zeros((20, 3072), dtype=np.int8), "data must have dtype uint8"),
        (np.zeros((20, 3072), dtype=np.bool_), "data must have dtype uint8"),
    ],
    ids=["fortran", "sub-array", "structured", "big-endian", "object", "void", "int8", "bool"],
)
def test_python3_pickled_arrays_other_than_plain_uint8_are_refused(
    fake: FakeCifar, data: np.ndarray, problem: str | None
) -> None:
    batch = {"data": data, "labels": [0] * 20}
    (fake.root / "data_batch_3").write_bytes(pickle.dumps(batch, protocol=2))

    if problem is None:
        X_train, _, _, _ = load_cifar10(fake.root, dtype=np.uint8)
        assert not X_train[40:60].any()
    else:
        with pytest.raises(CifarFormatError, match=f"data_batch_3: {problem}"):
            load_cifar10(fake.root)


def test_error_messages_about_huge_values_stay_short(fake: FakeCifar) -> None:
    meta = meta_dict(20)
    meta[b"label_names"] = [b"x" * 1_000_000] * 10
    write_pickle(fake.root / "batches.meta", py2_pickle_dumps(meta))

    with pytest.raises(CifarFormatError, match=r"label_names\[0\] must be a printable") as info:
        load_cifar10(fake.root)

    assert len(str(info.value)) < 300 + len(str(fake.root))


# --- the real data ----------------------------------------------------------------------


@pytest.mark.cifar
def test_real_cifar10_shapes_and_class_counts() -> None:
    root = os.environ.get(REAL_DATA_ENV)
    if not root:
        pytest.skip(f"{REAL_DATA_ENV} not set: point it at the cifar-10-batches-py folder")

    X_train, y_train, X_test, y_test = load_cifar10(root, dtype=np.uint8)
    _, y_batch_1 = load_cifar10_batch(Path(root) / "data_batch_1", dtype=np.uint8)

    assert X_train.shape == (50000, 32, 32, 3) and X_test.shape == (10000, 32, 32, 3)
    assert y_train.shape == (50000,) and y_test.shape == (10000,)
    assert np.bincount(y_train, minlength=10).tolist() == [5000] * 10
    assert np.bincount(y_test, minlength=10).tolist() == [1000] * 10
    assert np.bincount(y_batch_1, minlength=10).tolist() == [
        1005,
        974,
        1032,
        1016,
        999,
        937,
        1030,
        1001,
        1025,
        981,
    ]
    assert load_label_names(root) == list(LABEL_NAMES)
    # The fake writer reproduces the real encoding byte for byte.
    meta_bytes = (Path(root) / "batches.meta").read_bytes()
    assert py2_pickle_dumps(load_pickle_safely(Path(root) / "batches.meta")) == meta_bytes
