"""The bounded readers (minigrad.files): every hostile file is one UnreadableFileError.

Each case is a file a user could have downloaded or edited by hand; the reader must name
the file and the problem, never raise RecursionError, MemoryError, a decode error, or
inflate more than the member it was asked for.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hostile_files import (
    bomb_npz,
    corrupt_deflate,
    deep_json,
    npy_bytes,
    npy_header,
    npz_bytes,
    set_method,
    zip_of,
)
from hypothesis import given
from hypothesis import strategies as st

from minigrad.files.bounded_json import json_nesting_depth, parse_json, read_json, read_json_object
from minigrad.files.bounded_read import UnreadableFileError, read_bytes_bounded, read_text_bounded
from minigrad.files.checked_npz import ArraySpec, open_npz, read_npz
from minigrad.files.memory import InsufficientMemoryError, available_memory, check_memory

# ---------------------------------------------------------------------- JSON


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (deep_json(100_000), "nests 100000 levels deep"),
        (deep_json(5_000, "{"), "nests 5000 levels deep"),
        (b"[" + b"9" * 5000 + b"]", "an integer of 5000 digits"),
        (b'{"seed": -' + b"1" * 4301 + b"}", "an integer of 4301 digits"),
        (b'{"a": NaN}', "NaN is not a JSON number"),
        (b'{"a": -Infinity}', "-Infinity is not a JSON number"),
        (b'{"a": 1e999}', "out of the range of a float"),
        (b'{"a": 1, "a": 2}', "the key 'a' appears twice"),
        (b'{"a": "\xff"}', r"not UTF-8 text: byte 0xff at offset 7 \(line 1\)"),
        (b'{"a": 1', "not valid JSON: Expecting"),
        (b"", "not valid JSON"),
    ],
)
def test_hostile_json_is_one_clear_error(data: bytes, message: str) -> None:
    with pytest.raises(UnreadableFileError, match=message) as caught:
        parse_json(data, "config.json")
    assert str(caught.value).startswith("config.json")
    assert len(str(caught.value)) < 300


def test_nesting_is_measured_outside_strings_only() -> None:
    assert json_nesting_depth(b'{"a": "[[[[{{{{", "b": [[1]]}') == 3
    assert json_nesting_depth(b'["\\\\", ["\\"[[[["]]') == 2  # escaped quotes stay inside
    assert json_nesting_depth(b"") == 0
    nested = b'{"k": ' * 64 + b"0" + b"}" * 64
    assert parse_json(nested, "x.json") is not None  # the limit itself is allowed


def _depth(value: object) -> int:
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    return 0


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(alphabet='[]{}"\\ab\u00e9\n'),
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.text(alphabet='[]{}"\\a', max_size=3), inner, max_size=3),
    max_leaves=20,
)


@given(_json_values, st.sampled_from([1, 3, 1 << 20]))
def test_nesting_depth_is_that_of_the_value(value: object, block: int) -> None:
    data = json.dumps(value, ensure_ascii=False).encode("utf-8")
    assert json_nesting_depth(data, block=block) == _depth(value)
    assert parse_json(data, "x.json") == value


def test_nesting_limit_is_linear_time_on_adversarial_escapes() -> None:
    # '"\\"\\"\\"...' would make a regex for strings backtrack quadratically.
    assert json_nesting_depth(b'"' + b'\\"' * 2_000_000) == 0


def test_read_json_object_refuses_other_top_levels(tmp_path: Path) -> None:
    for text, kind in (("[1, 2]", "array"), ('"x"', "string"), ("3", "number"),
                       ("null", "null"), ("true", "boolean")):
        (tmp_path / "m.json").write_text(text)
        with pytest.raises(UnreadableFileError, match=f"must hold a JSON object.*{kind}"):
            read_json_object(tmp_path / "m.json")


def test_a_json_file_larger_than_the_cap_is_not_read_whole(tmp_path: Path) -> None:
    path = tmp_path / "big.json"
    path.write_bytes(b"[" + b"0," * 600_000 + b"0]")
    with pytest.raises(UnreadableFileError, match="larger than 1.0 MiB"):
        read_json(path, max_bytes=1 << 20)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_a_fifo_named_like_a_file_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "metrics.json"
    os.mkfifo(fifo)
    with pytest.raises(UnreadableFileError, match="not a regular file"):
        read_json(fifo)  # a plain open() would wait for a writer for ever


def test_a_folder_or_nothing_where_a_file_should_be(tmp_path: Path) -> None:
    (tmp_path / "config.json").mkdir()
    with pytest.raises(UnreadableFileError, match="is a folder"):
        read_json(tmp_path / "config.json")
    with pytest.raises(UnreadableFileError, match="does not exist"):
        read_bytes_bounded(tmp_path / "nope", 10)


def test_a_symlink_loop_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    with pytest.raises(UnreadableFileError, match="cannot open .*a"):
        read_text_bounded(tmp_path / "a")


def test_text_that_is_not_utf8_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "trials.csv"
    path.write_bytes(b"a,b\n1,2\n3,\xc3\x28\n")
    with pytest.raises(UnreadableFileError, match=r"trials.csv is not UTF-8 text: .* \(line 3\)"):
        read_text_bounded(path)


# ---------------------------------------------------------------------- npz

GOOD = {"w": np.arange(12, dtype=np.float32).reshape(3, 4), "b": np.zeros(4)}


def test_a_good_npz_reads_back_exactly() -> None:
    for method in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        arrays = read_npz(npz_bytes(GOOD, method), {k: ArraySpec.of(v) for k, v in GOOD.items()})
        assert arrays.keys() == GOOD.keys()
        for name, array in GOOD.items():
            np.testing.assert_array_equal(arrays[name], array)
            assert arrays[name].dtype == array.dtype


def test_fortran_order_and_zero_sized_arrays_read_back() -> None:
    arrays = {"f": np.asfortranarray(np.arange(6.0).reshape(2, 3)), "e": np.zeros((0, 5)),
              "s": np.array(3.5)}
    with open_npz(npz_bytes(arrays)) as npz:
        back = npz.read_all()
    for name, array in arrays.items():
        np.testing.assert_array_equal(back[name], array)
    assert back["f"].flags.f_contiguous


def _one(header: bytes, payload: bytes = b"") -> bytes:
    return zip_of([("a.npy", header + payload)])


@pytest.mark.parametrize(
    ("archive", "message"),
    [
        (_one(npy_header("<f8", (2**50,)), bytes(64)),
         r"declares float64 of shape \(1125899906842624,\)"),
        (_one(npy_header("|O", (2,)), bytes(16)), "only plain numbers"),
        (_one(npy_header([("x", "<f4")], (2,)), bytes(8)), "structured dtype"),
        (_one(npy_header("V8", (2,)), bytes(16)), "only plain numbers"),
        (_one(npy_header("(2,)<f8", (2,)), bytes(32)), "only plain numbers"),
        (_one(npy_header("<U3", (2,)), bytes(24)), "only plain numbers"),
        (_one(npy_header("<f8", (-1,))), r"malformed .npy header \(shape\)"),
        (_one(npy_header("<f8", (True,)), bytes(8)), r"malformed .npy header \(shape\)"),
        (_one(npy_header("<f8", (2,), "yes"), bytes(16)), "fortran_order"),
        (_one(npy_header("<f8", (4,)), bytes(16)), "holds 16 bytes of data but its header"),
        (_one(b"\x93NUMPY\x01\x00" + b"\xff\xff" + b"(" * 65535), "header of 65535 bytes"),
        (_one(b"\x93NUMPY\x01\x00\x10\x00" + b"[" * 15 + b"\n"), "malformed .npy header"),
        (_one(b"\x93NUMPY\x09\x00"), "unknown .npy format version 9.0"),
        (_one(b"not an npy at all"), "no NUMPY magic"),
        (zip_of([("a.txt", b"hello")]), "'a.txt' is not an .npy array"),
        (zip_of([("a.npy", npy_bytes(np.ones(2))), ("a.npy", npy_bytes(np.ones(2)))]),
         "'a' appears twice"),
        (b"\x00garbage" * 30, "no zip directory at its end"),
        (npz_bytes(GOOD)[:-30], "no zip directory at its end"),
        (npz_bytes(GOOD)[:200] + npz_bytes(GOOD)[-22:], "corrupt"),
        (set_method(npz_bytes(GOOD), 99), r"compression method 99 \(unknown\)"),
        (npz_bytes(GOOD, zipfile.ZIP_LZMA), r"compression method 14 \(LZMA\)"),
        (npz_bytes(GOOD, zipfile.ZIP_BZIP2), r"compression method 12 \(bzip2\)"),
        (corrupt_deflate(npz_bytes(GOOD, zipfile.ZIP_DEFLATED)), "is corrupt"),
    ],
)
def test_a_hostile_npz_is_one_clear_error(archive: bytes, message: str) -> None:
    with pytest.raises(UnreadableFileError, match=message) as caught:
        with open_npz(archive, label="weights.npz") as npz:
            npz.read_all()
    assert str(caught.value).startswith("weights.npz")


def test_a_bad_crc_is_found_when_the_data_is_read() -> None:
    archive = bytearray(npz_bytes({"a": np.arange(100_000.0)}))
    archive[archive.find(b"PK\x01\x02") - 8] ^= 0xFF  # a byte near the end of the data
    with open_npz(bytes(archive)) as npz:  # the header is fine ...
        with pytest.raises(UnreadableFileError, match="member 'a' is corrupt .*CRC"):
            npz.read("a")  # ... the data is not


def test_expected_names_are_checked_before_any_member_is_opened(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    archive = bomb_npz(GOOD, "extra", 64 << 20)
    opened: list[str] = []
    real_open = zipfile.ZipFile.open

    def spy(self: zipfile.ZipFile, name: object, *args: object, **kwargs: object) -> object:
        opened.append(getattr(name, "filename", name))  # type: ignore[arg-type]
        return real_open(self, name, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(zipfile.ZipFile, "open", spy)
    expected = {k: ArraySpec.of(v) for k, v in GOOD.items()}
    with pytest.raises(UnreadableFileError, match="unexpected array 'extra'"):
        read_npz(archive, expected)
    assert opened == []  # refused from the directory alone: nothing was inflated


def test_an_archive_declaring_a_million_members_is_refused_from_its_end_record() -> None:
    archive = bytearray(npz_bytes(GOOD))
    end = archive.rfind(b"PK\x05\x06")
    archive[end + 8 : end + 12] = b"\xfe\xff\xfe\xff"  # entries on this disk, and in total
    with pytest.raises(UnreadableFileError, match="declares 65534 members"):
        open_npz(bytes(archive), max_members=1000)


def test_shapes_and_dtypes_are_compared_with_the_expected_ones() -> None:
    with pytest.raises(UnreadableFileError, match=r"'w' is float32 of shape \(3, 4\), expected"):
        read_npz(npz_bytes(GOOD), {"w": ArraySpec((4, 3), np.dtype("f4")),
                                   "b": ArraySpec.of(GOOD["b"])})
    with pytest.raises(UnreadableFileError, match="has no 'c' array"):
        read_npz(npz_bytes(GOOD), {**{k: ArraySpec.of(v) for k, v in GOOD.items()},
                                   "c": ArraySpec((1,), np.dtype("f8"))})


def test_reading_is_refused_when_the_memory_is_not_there(monkeypatch: pytest.MonkeyPatch) -> None:
    import minigrad.files.memory as memory

    monkeypatch.setattr(memory, "available_memory", lambda: 10)
    with open_npz(npz_bytes(GOOD)) as npz:
        with pytest.raises(UnreadableFileError, match="needs about 80 B .* but only 10 B"):
            npz.read_all()


def test_a_truncated_npz_file_on_disk(tmp_path: Path) -> None:
    path = tmp_path / "weights.npz"
    path.write_bytes(npz_bytes(GOOD)[: len(npz_bytes(GOOD)) // 2])
    with pytest.raises(UnreadableFileError, match=f"{path} is corrupt or not an .npz file"):
        open_npz(path)


# ---------------------------------------------------------------------- memory


def test_the_memory_check_names_the_request() -> None:
    assert available_memory() is None or available_memory() > 0  # type: ignore[operator]
    check_memory(10, "a small thing", available=100)
    with pytest.raises(InsufficientMemoryError, match=r"--hidden-size 9 needs about 1.0 KiB"):
        check_memory(1024, "--hidden-size 9", available=100)


def test_a_numpy_payload_never_goes_through_pickle() -> None:
    payload = io.BytesIO()
    np.save(payload, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(UnreadableFileError, match="only plain numbers"):
        open_npz(zip_of([("a.npy", payload.getvalue())]))
