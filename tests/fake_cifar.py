"""Write small fake CIFAR-10 folders in the exact on-disk format of the real release.

The real batches are protocol-2 pickles written by Python 2's cPickle: ``str`` keys and
strings are Python 2 byte strings (``SHORT_BINSTRING``/``BINSTRING``), ``data`` is a NumPy
uint8 array pickled through ``numpy.core.multiarray._reconstruct``, ``labels`` a list of
ints. Python 3's pickle cannot write Python 2 byte strings (it wraps ``bytes`` in
``_codecs.encode``), so :func:`py2_pickle_dumps` emits the opcodes itself; on the real
files it reproduces them byte for byte (see the ``cifar``-marked test).

To craft bad files, :func:`array_pickle` and :func:`dtype_pickle` write an array or dtype
with any part replaced (shape, dtype state, order, contents), and :class:`Opcodes` puts
raw pickle bytes anywhere in an object that :func:`py2_pickle_dumps` writes.
"""

from __future__ import annotations

import pickle
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = [
    "LABEL_NAMES",
    "UINT8_DTYPE_STATE",
    "FakeCifar",
    "Opcodes",
    "array_pickle",
    "batch_dict",
    "dtype_pickle",
    "global_ref",
    "meta_dict",
    "py2_pickle_dumps",
    "unicode_string",
    "write_fake_cifar",
    "write_pickle",
]

LABEL_NAMES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)
_BATCH_SIZE = 1000  # cPickle writes APPENDS/SETITEMS in groups of this many items
# numpy.dtype('u1').__reduce__()[2]: version, byte order, subarray, names, fields, elsize,
# alignment, flags (Python 2 wrote the byte order as a byte string).
UINT8_DTYPE_STATE = (3, b"|", None, None, None, -1, -1, 0)


@dataclass(frozen=True)
class Opcodes:
    """Pickle bytes that :func:`py2_pickle_dumps` emits verbatim, to craft bad files."""

    code: bytes


def _int(value: int) -> bytes:
    if 0 <= value <= 0xFF:
        return b"K" + struct.pack("<B", value)
    if 0 <= value <= 0xFFFF:
        return b"M" + struct.pack("<H", value)
    if -(2**31) <= value < 2**31:
        return b"J" + struct.pack("<i", value)
    return b"\x8a" + _long1_body(value)


def _long1_body(value: int) -> bytes:
    """LONG1's length byte and little-endian two's-complement digits."""
    digits = pickle.encode_long(value)
    if len(digits) > 255:
        raise ValueError("LONG1 holds at most 255 bytes")
    return bytes([len(digits)]) + digits


def _string(value: bytes) -> bytes:
    if len(value) < 256:
        return b"U" + struct.pack("<B", len(value)) + value
    return b"T" + struct.pack("<I", len(value)) + value


def _tuple(items: list[bytes]) -> bytes:
    if not items:
        return b")"
    if len(items) <= 3:
        return b"".join(items) + {1: b"\x85", 2: b"\x86", 3: b"\x87"}[len(items)]
    return b"(" + b"".join(items) + b"t"


def _batched(opener: bytes, items: list[bytes], single: bytes, many: bytes) -> bytes:
    """cPickle's batching: one item -> SETITEM/APPEND, more -> MARK ... SETITEMS/APPENDS."""
    out = [opener]
    for start in range(0, len(items), _BATCH_SIZE):
        group = items[start : start + _BATCH_SIZE]
        out.append(group[0] + single if len(group) == 1 else b"(" + b"".join(group) + many)
    return b"".join(out)


def global_ref(module: str, name: str) -> Opcodes:
    """The GLOBAL opcode that pushes ``module.name``."""
    return Opcodes(b"c" + f"{module}\n{name}\n".encode())


def unicode_string(text: str) -> Opcodes:
    """A Python 3 ``str`` (BINUNICODE), which a Python 2 pickle never holds."""
    raw = text.encode("utf-8", "surrogatepass")
    return Opcodes(b"X" + struct.pack("<I", len(raw)) + raw)


def dtype_pickle(
    typecode: object = b"u1",
    align: object = 0,
    copy: object = 1,
    state: object = UINT8_DTYPE_STATE,
) -> Opcodes:
    """A pickled ``numpy.dtype(typecode, align, copy)`` whose state BUILD then sets.

    The defaults give the uint8 dtype exactly as cPickle wrote it; pass other values
    (any object :func:`py2_pickle_dumps` emits, or :class:`Opcodes`) to craft bad ones.
    """
    new_dtype = global_ref("numpy", "dtype").code + _save((typecode, align, copy)) + b"R"
    return Opcodes(new_dtype + _save(state) + b"b")


def array_pickle(
    shape: object,
    raw: object,
    *,
    dtype: object = None,
    fortran: object = False,
    version: object = 1,
    reconstruct_args: object = None,
) -> Opcodes:
    """A pickled NumPy array as NumPy writes it, with every part replaceable.

    ``_reconstruct(ndarray, (0,), 'b')`` makes an empty array, then BUILD sets its state
    ``(version, shape, dtype, fortran, raw)``. ``dtype`` defaults to :func:`dtype_pickle`'s
    uint8 and ``reconstruct_args`` to ``(ndarray, (0,), b'b')``.
    """
    if dtype is None:
        dtype = dtype_pickle()
    if reconstruct_args is None:
        reconstruct_args = (global_ref("numpy", "ndarray"), (0,), b"b")
    empty = global_ref("numpy.core.multiarray", "_reconstruct").code + _save(reconstruct_args)
    state = _save((version, shape, dtype, fortran, raw))
    return Opcodes(empty + b"R" + state + b"b")


def _ndarray(array: np.ndarray) -> bytes:
    if array.dtype != np.uint8:
        raise TypeError("the fake writer only emits uint8 arrays, like the real batches")
    shape = tuple(int(size) for size in array.shape)
    return array_pickle(shape, np.ascontiguousarray(array).tobytes()).code


def _save(obj: object) -> bytes:
    if isinstance(obj, Opcodes):
        return obj.code
    if isinstance(obj, dict):
        items = [_save(key) + _save(value) for key, value in obj.items()]
        return _batched(b"}", items, b"s", b"u")
    if isinstance(obj, list):
        return _batched(b"]", [_save(item) for item in obj], b"a", b"e")
    if isinstance(obj, tuple):
        return _tuple([_save(item) for item in obj])
    if obj is None:
        return b"N"
    if isinstance(obj, bool):
        return b"\x88" if obj else b"\x89"
    if isinstance(obj, (int, np.integer)):
        return _int(int(obj))
    if isinstance(obj, float):
        return b"G" + struct.pack(">d", obj)
    if isinstance(obj, bytes):
        return _string(obj)
    if isinstance(obj, str):
        return _string(obj.encode("latin1"))  # a Python 2 str is bytes
    if isinstance(obj, np.ndarray):
        return _ndarray(obj)
    raise TypeError(f"cannot emit {type(obj).__name__} as a Python 2 pickle")


def py2_pickle_dumps(obj: object) -> bytes:
    """Pickle ``obj`` the way Python 2's cPickle did at protocol 2 (no memo).

    Supports dict, list, tuple, int, float, bool, None, bytes/str (as Python 2 byte strings),
    uint8 NumPy arrays and :class:`Opcodes` (emitted as they are).
    """
    return b"\x80\x02" + _save(obj) + b"."


def write_pickle(path: Path, payload: bytes) -> Path:
    """Write pickled bytes to ``path`` and return it."""
    path.write_bytes(payload)
    return path


def batch_dict(
    rows: np.ndarray, labels: list[int], batch_label: str, filenames: list[str] | None = None
) -> dict[bytes, object]:
    """A batch dict with the real keys, in the real order, as Python 2 byte strings."""
    if filenames is None:
        filenames = [f"fake_{i:04d}.png" for i in range(len(labels))]
    return {
        b"batch_label": batch_label.encode(),
        b"labels": list(labels),
        b"data": rows,
        b"filenames": [name.encode() for name in filenames],
    }


def meta_dict(num_cases_per_batch: int, num_vis: int = 3072) -> dict[bytes, object]:
    """``batches.meta`` with the real keys, in the real order."""
    return {
        b"num_cases_per_batch": num_cases_per_batch,
        b"label_names": [name.encode() for name in LABEL_NAMES],
        b"num_vis": num_vis,
    }


@dataclass(frozen=True)
class FakeCifar:
    """What :func:`write_fake_cifar` wrote, to compare the loader against.

    Attributes
    ----------
    root : the folder holding the seven files.
    train_rows : ndarray of shape (5 * n, 3072), uint8, batches 1..5 in order.
    train_labels : ndarray of shape (5 * n,), int64
    test_rows : ndarray of shape (n, 3072), uint8
    test_labels : ndarray of shape (n,), int64
    """

    root: Path
    train_rows: np.ndarray
    train_labels: np.ndarray
    test_rows: np.ndarray
    test_labels: np.ndarray

    @property
    def per_batch(self) -> int:
        return int(self.test_rows.shape[0])


def write_fake_cifar(root: Path, num_cases_per_batch: int = 20, seed: int = 0) -> FakeCifar:
    """Write ``data_batch_1..5``, ``test_batch`` and ``batches.meta`` with random content.

    Every batch has ``num_cases_per_batch`` rows and the meta says so, which is how the
    loader's row-count check stays meaningful on small data.
    """
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    total = 6 * num_cases_per_batch
    rows = rng.integers(0, 256, size=(total, 3072), dtype=np.uint8)
    labels = rng.integers(0, 10, size=total)
    n = num_cases_per_batch
    for index in range(5):
        block = slice(index * n, (index + 1) * n)
        batch = batch_dict(rows[block], labels[block].tolist(), f"training batch {index + 1} of 5")
        write_pickle(root / f"data_batch_{index + 1}", py2_pickle_dumps(batch))
    test = batch_dict(rows[5 * n :], labels[5 * n :].tolist(), "testing batch 1 of 1")
    write_pickle(root / "test_batch", py2_pickle_dumps(test))
    write_pickle(root / "batches.meta", py2_pickle_dumps(meta_dict(n)))
    return FakeCifar(
        root=root,
        train_rows=rows[: 5 * n],
        train_labels=labels[: 5 * n].astype(np.int64),
        test_rows=rows[5 * n :],
        test_labels=labels[5 * n :].astype(np.int64),
    )
