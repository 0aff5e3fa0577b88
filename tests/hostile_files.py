"""Crafted files for the reader tests: npz archives that lie, JSON that nests too deep.

Each helper returns bytes; the tests write them where minigrad will read them.
"""

from __future__ import annotations

import io
import struct
import warnings
import zipfile
import zlib
from collections.abc import Iterable

import numpy as np

__all__ = [
    "bomb_npz",
    "corrupt_deflate",
    "deep_json",
    "npy_bytes",
    "npy_header",
    "npz_bytes",
    "set_method",
    "zip_of",
]


def npy_bytes(array: np.ndarray) -> bytes:
    """The ``.npy`` file of ``array``."""
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def npy_header(descr: object, shape: object, fortran_order: object = False) -> bytes:
    """A version 1.0 ``.npy`` header declaring anything (no data after it)."""
    text = repr({"descr": descr, "fortran_order": fortran_order, "shape": shape})
    padding = 64 - (10 + len(text) + 1) % 64
    body = (text + " " * padding + "\n").encode("latin1")
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(body)) + body


def zip_of(members: Iterable[tuple[str, bytes]], method: int = zipfile.ZIP_STORED) -> bytes:
    """A zip archive of ``(name, data)`` members, all compressed with ``method``."""
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # duplicate names are made on purpose
        with zipfile.ZipFile(buffer, "w", compression=method) as archive:
            for name, data in members:
                archive.writestr(name, data)
    return buffer.getvalue()


def npz_bytes(arrays: dict[str, np.ndarray], method: int = zipfile.ZIP_STORED) -> bytes:
    """An ``.npz`` of ``arrays`` (as ``np.savez`` writes it, or compressed with ``method``)."""
    return zip_of(((f"{name}.npy", npy_bytes(a)) for name, a in arrays.items()), method)


def set_method(archive: bytes, method: int) -> bytes:
    """``archive`` with every member's compression method field set to ``method``."""
    data = bytearray(archive)
    for signature, offset in ((b"PK\x03\x04", 8), (b"PK\x01\x02", 10)):
        at = data.find(signature)
        while at >= 0:
            struct.pack_into("<H", data, at + offset, method)
            at = data.find(signature, at + 4)
    return bytes(data)


def corrupt_deflate(archive: bytes) -> bytes:
    """A deflated archive whose first member's compressed data is scrambled."""
    data = bytearray(archive)
    name_length, extra_length = struct.unpack_from("<HH", data, 26)
    start = 30 + name_length + extra_length
    for i in range(start, start + 12):
        data[i] ^= 0xA5
    return bytes(data)


def _raw_zip(entries: list[tuple[str, int, int, bytes, int]]) -> bytes:
    """A zip of ``(name, method, crc32, compressed bytes, uncompressed size)`` entries."""
    local, central = bytearray(), bytearray()
    for name, method, crc, data, size in entries:
        encoded = name.encode()
        fields = (20, 0, method, 0, 0x21, crc, len(data), size, len(encoded))
        central += struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, *fields, 0, 0, 0, 0, 0,
                               len(local)) + encoded
        local += struct.pack("<4s5H3L2H", b"PK\x03\x04", *fields, 0) + encoded + data
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, len(entries), len(entries),
                      len(central), len(local), 0)
    return bytes(local + central + end)


def bomb_npz(arrays: dict[str, np.ndarray], name: str, size: int) -> bytes:
    """``arrays`` plus member ``name``: a valid uint8 array of ``size`` zero bytes, deflated.

    The deflate stream repeats one compressed MiB of zeros (each block ends with a full
    flush, so the blocks are independent and identical): 512 MiB cost half a MB and well
    under a second to build, and the member is a correct one, CRC included.
    """
    entries = []
    for key, array in arrays.items():
        data = npy_bytes(array)
        entries.append((f"{key}.npy", zipfile.ZIP_STORED, zlib.crc32(data), data, len(data)))
    header, zeros = npy_header("|u1", (size,)), bytes(1 << 20)
    assert size % len(zeros) == 0, "a whole number of MiB"
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    start = compressor.compress(header) + compressor.flush(zlib.Z_FULL_FLUSH)
    block = compressor.compress(zeros) + compressor.flush(zlib.Z_FULL_FLUSH)
    assert compressor.compress(zeros) + compressor.flush(zlib.Z_FULL_FLUSH) == block
    stream = start + block * (size // len(zeros)) + compressor.flush()
    crc = zlib.crc32(header)
    for _ in range(size // len(zeros)):
        crc = zlib.crc32(zeros, crc)
    entries.append((f"{name}.npy", zipfile.ZIP_DEFLATED, crc, stream, len(header) + size))
    return _raw_zip(entries)


def deep_json(depth: int, opener: str = "[") -> bytes:
    """``[[[ ... ]]]`` (or ``{"a":{"a": ...}}``) nested ``depth`` deep."""
    if opener == "[":
        return b"[" * depth + b"]" * depth
    return b'{"a":' * depth + b"1" + b"}" * depth
