"""The one ``.npz`` reader: every name and header is checked before any data is read.

``np.load`` trusts an archive: it inflates a member completely before its caller can
look at the name, believes a header that declares 2**50 elements, and reads LZMA or
bzip2 members the format never uses. :func:`open_npz` instead

1. reads the archive's directory (refusing more than ``max_members`` entries before
   ``zipfile`` builds its list of them) and checks every member name against the names
   the caller expects, the compression method (stored or deflate, as ``np.savez`` and
   ``np.savez_compressed`` write) and the declared size;
2. reads each member's ``.npy`` header only (a few hundred bytes, also for a deflated
   member) and checks the dtype (plain numbers: no object, structured, void or sub-array
   dtypes), the shape, and that the header's size matches the member's size exactly;
3. reads an array's data only when asked, never more bytes than its header declared,
   into memory checked to be available first.

Every problem is an :class:`~minigrad.files.bounded_read.UnreadableFileError` naming the
file and the member.
"""

from __future__ import annotations

import ast
import io
import math
import os
import struct
import zipfile
import zlib
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import IO, Any

import numpy as np

from minigrad.files.bounded_read import UnreadableFileError, format_bytes, open_regular_file
from minigrad.files.memory import InsufficientMemoryError, check_memory

__all__ = [
    "DEFAULT_MAX_ARRAY_BYTES",
    "DEFAULT_MAX_MEMBERS",
    "ArraySpec",
    "CheckedNpz",
    "open_npz",
    "read_npz",
]

DEFAULT_MAX_ARRAY_BYTES = 16 << 30
"""The largest array a member may declare (16 GiB; memory is checked again on reading)."""
DEFAULT_MAX_MEMBERS = 4096
MAX_HEADER_BYTES = 10_000  # numpy's own limit for .npy headers
MAX_DIMENSIONS = 32  # numpy's NPY_MAXDIMS before 2.0
NUMBER_KINDS = "biufc"  # bool, signed, unsigned, float, complex
_METHOD_NAMES = {zipfile.ZIP_BZIP2: " (bzip2)", zipfile.ZIP_LZMA: " (LZMA)"}
_MAGIC = b"\x93NUMPY"
_READ_CHUNK = 1 << 20
_END_OF_DIRECTORY = b"PK\x05\x06"
_ZIP64_LOCATOR = b"PK\x06\x07"
_ZIP64_END = b"PK\x06\x06"

PathLike = str | os.PathLike[str]


@dataclass(frozen=True)
class ArraySpec:
    """What an array is, without its data: shape and dtype.

    Attributes
    ----------
    shape : the dimensions.
    dtype : a plain numeric dtype.
    """

    shape: tuple[int, ...]
    dtype: np.dtype[Any]

    @classmethod
    def of(cls, array: np.ndarray) -> ArraySpec:
        """The spec of an existing array."""
        return cls(tuple(int(n) for n in array.shape), array.dtype)

    @property
    def nbytes(self) -> int:
        """Bytes the data takes (a Python int: never overflows)."""
        return math.prod(self.shape) * self.dtype.itemsize

    def describe(self) -> str:
        """``"float32 of shape (50, 3072)"``."""
        return f"{self.dtype} of shape {self.shape}"


@dataclass(frozen=True)
class _Member:
    name: str
    info: zipfile.ZipInfo
    spec: ArraySpec
    fortran_order: bool
    header_bytes: int


class CheckedNpz:
    """An open ``.npz`` whose members' names and headers passed the checks.

    Use :func:`open_npz`; close it (or use it as a context manager).

    Attributes
    ----------
    source : how messages name the file.
    specs : member name (without ``.npy``) -> its :class:`ArraySpec`, in archive order.
    """

    def __init__(self, source: str, archive: zipfile.ZipFile, members: list[_Member]) -> None:
        self.source = source
        self._archive = archive
        self._members = {member.name: member for member in members}
        self.specs: dict[str, ArraySpec] = {m.name: m.spec for m in members}

    def read(self, name: str) -> np.ndarray:
        """The array ``name`` (memory checked first, at most its declared bytes read)."""
        member = self._members[name]
        _check_memory(self.source, member.spec.nbytes, f"array {name!r}")
        try:
            with self._archive.open(member.info) as file:
                _read_exactly(file, member.header_bytes)
                data = _read_into_buffer(file, member.spec.nbytes)
                if file.read(1):
                    raise ValueError("more data than the header declares")
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError) as err:
            raise UnreadableFileError(
                f"{self.source}: member {name!r} is corrupt ({_reason(err)})"
            ) from None
        flat = np.frombuffer(data, dtype=member.spec.dtype)
        return flat.reshape(member.spec.shape, order="F" if member.fortran_order else "C")

    def read_all(self) -> dict[str, np.ndarray]:
        """Every array, by name (the memory for all of them is checked first)."""
        total = sum(spec.nbytes for spec in self.specs.values())
        _check_memory(self.source, total, "its arrays")
        return {name: self.read(name) for name in self.specs}

    def close(self) -> None:
        self._archive.close()

    def __enter__(self) -> CheckedNpz:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_npz(
    source: PathLike | bytes,
    *,
    names: Collection[str] | None = None,
    required: Collection[str] = (),
    max_array_bytes: int = DEFAULT_MAX_ARRAY_BYTES,
    max_total_bytes: int | None = None,
    max_members: int = DEFAULT_MAX_MEMBERS,
    label: str | None = None,
) -> CheckedNpz:
    """Open an ``.npz`` and check its directory and every header (no data is read).

    Parameters
    ----------
    source : the file's path, or its bytes.
    names : the only member names allowed (without ``.npy``); None allows any.
    required : names that must be present.
    max_array_bytes : the most one array may declare.
    max_total_bytes : the most all arrays together may declare (None: no cap beyond the
        per-array one; memory is checked on reading either way).
    max_members : the most entries the archive may have.
    label : how messages name the file (default: the path, or "the npz").

    Raises
    ------
    UnreadableFileError
        Not a zip archive, truncated, an unexpected, duplicate or missing member, an
        unsupported compression method, encryption, or a header that is malformed,
        declares a non-numeric dtype, or does not match the member's size.
    """
    where = label or (os.fspath(source) if not isinstance(source, bytes) else "the npz")
    file = _open_source(source, where)
    try:
        _check_member_count(file, where, max_members)
        try:
            archive = zipfile.ZipFile(file)
        except (zipfile.BadZipFile, OSError, EOFError, ValueError, struct.error) as err:
            raise UnreadableFileError(
                f"{where} is corrupt or not an .npz file: {_reason(err)}"
            ) from None
        try:
            infos = _checked_directory(archive, where, names, required, max_array_bytes)
            members = [_checked_header(archive, info, where, max_array_bytes) for info in infos]
            total = sum(member.spec.nbytes for member in members)
            if max_total_bytes is not None and total > max_total_bytes:
                raise UnreadableFileError(
                    f"{where} declares {format_bytes(total)} of arrays, more than the "
                    f"{format_bytes(max_total_bytes)} it may hold"
                )
        except BaseException:
            archive.close()
            raise
    except BaseException:
        file.close()
        raise
    return CheckedNpz(where, archive, members)


def read_npz(
    source: PathLike | bytes,
    expected: Mapping[str, ArraySpec],
    *,
    label: str | None = None,
) -> dict[str, np.ndarray]:
    """Exactly the arrays ``expected`` names, with exactly those shapes and dtypes.

    Every member's name, shape and dtype is compared before any data is read, so an
    extra or oversized member costs nothing.
    """
    largest = max((spec.nbytes for spec in expected.values()), default=0)
    with open_npz(
        source, names=expected, required=expected, max_array_bytes=largest,
        max_total_bytes=sum(spec.nbytes for spec in expected.values()), label=label,
    ) as npz:
        for name, spec in npz.specs.items():
            want = expected[name]
            if spec != want:
                raise UnreadableFileError(
                    f"{npz.source}: array {name!r} is {spec.describe()}, "
                    f"expected {want.describe()}"
                )
        return npz.read_all()


# ---------------------------------------------------------------------- the directory


def _open_source(source: PathLike | bytes, where: str) -> IO[bytes]:
    if isinstance(source, bytes):
        return io.BytesIO(source)
    return os.fdopen(open_regular_file(source), "rb")


def _check_member_count(file: IO[bytes], where: str, max_members: int) -> None:
    """Refuse an archive whose end record declares more than ``max_members`` entries.

    ``zipfile`` builds one object per entry of the central directory; a crafted file of
    a few MB could declare a million of them.
    """
    size = file.seek(0, os.SEEK_END)
    tail_start = max(0, size - (22 + 0xFFFF))  # the end record, after a comment of <64 KiB
    file.seek(tail_start)
    tail = file.read()
    at = tail.rfind(_END_OF_DIRECTORY)
    if at < 0 or len(tail) - at < 22:
        raise UnreadableFileError(
            f"{where} is corrupt or not an .npz file: no zip directory at its end (truncated?)"
        )
    (count,) = struct.unpack_from("<H", tail, at + 10)
    if count == 0xFFFF and at >= 20 and tail[at - 20 : at - 16] == _ZIP64_LOCATOR:
        (offset,) = struct.unpack_from("<Q", tail, at - 20 + 8)
        file.seek(offset)
        record = file.read(56)
        if len(record) == 56 and record[:4] == _ZIP64_END:
            (count,) = struct.unpack_from("<Q", record, 32)
    if count > max_members:
        raise UnreadableFileError(
            f"{where} declares {count} members, more than the {max_members} allowed"
        )
    file.seek(0)


def _checked_directory(
    archive: zipfile.ZipFile,
    where: str,
    names: Collection[str] | None,
    required: Collection[str],
    max_array_bytes: int,
) -> list[zipfile.ZipInfo]:
    """The entries, after checking names, methods and sizes (nothing is decompressed)."""
    seen: set[str] = set()
    infos = archive.infolist()
    for info in infos:
        name = _member_name(info, where)
        if name in seen:
            raise UnreadableFileError(f"{where}: member {name!r} appears twice")
        seen.add(name)
        if names is not None and name not in names:
            raise UnreadableFileError(
                f"{where} holds an unexpected array {name!r}; expected only "
                f"{', '.join(map(repr, sorted(names)[:8]))}"
            )
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise UnreadableFileError(
                f"{where}: member {name!r} uses compression method {info.compress_type}"
                f"{_METHOD_NAMES.get(info.compress_type, ' (unknown)')}; only stored and "
                "deflate members are read"
            )
        if info.flag_bits & 0x1:
            raise UnreadableFileError(f"{where}: member {name!r} is encrypted")
        if info.file_size > max_array_bytes + MAX_HEADER_BYTES + 16:
            raise UnreadableFileError(
                f"{where}: member {name!r} declares {format_bytes(info.file_size)}, more "
                f"than the {format_bytes(max_array_bytes)} an array may hold here"
            )
    for name in required:
        if name not in seen:
            raise UnreadableFileError(f"{where} has no {name!r} array")
    return infos


def _member_name(info: zipfile.ZipInfo, where: str) -> str:
    if not info.filename.endswith(".npy") or info.is_dir():
        raise UnreadableFileError(
            f"{where}: member {info.filename[:60]!r} is not an .npy array"
        )
    return info.filename[: -len(".npy")]


# ---------------------------------------------------------------------- the headers


def _checked_header(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, where: str, max_array_bytes: int
) -> _Member:
    """Read and check one member's ``.npy`` header; its data is not read."""
    name = info.filename[: -len(".npy")]
    try:
        with archive.open(info) as file:
            header, header_bytes = _read_header(file)
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError) as err:
        raise UnreadableFileError(
            f"{where}: member {name!r} is corrupt ({_reason(err)})"
        ) from None
    except ValueError as err:
        raise UnreadableFileError(f"{where}: member {name!r} {err}") from None
    spec, fortran_order = _parse_header(header, f"{where}: member {name!r}")
    if spec.nbytes > max_array_bytes:
        raise UnreadableFileError(
            f"{where}: member {name!r} declares {spec.describe()} "
            f"({format_bytes(spec.nbytes)}), more than the {format_bytes(max_array_bytes)} "
            "an array may hold here"
        )
    if header_bytes + spec.nbytes != info.file_size:
        raise UnreadableFileError(
            f"{where}: member {name!r} holds {info.file_size - header_bytes} bytes of data "
            f"but its header declares {spec.describe()} ({spec.nbytes} bytes)"
        )
    return _Member(name, info, spec, fortran_order, header_bytes)


def _read_header(file: IO[bytes]) -> tuple[str, int]:
    """The header text of an ``.npy`` stream and the bytes it took (ValueError if bad)."""
    prefix = _read_exactly(file, len(_MAGIC) + 2)
    if prefix[: len(_MAGIC)] != _MAGIC:
        raise ValueError("is not an .npy array (no NUMPY magic)")
    version = (prefix[6], prefix[7])
    if version == (1, 0):
        (length,) = struct.unpack("<H", _read_exactly(file, 2))
        size_bytes = 2
    elif version in ((2, 0), (3, 0)):
        (length,) = struct.unpack("<I", _read_exactly(file, 4))
        size_bytes = 4
    else:
        raise ValueError(f"has an unknown .npy format version {version[0]}.{version[1]}")
    if length > MAX_HEADER_BYTES:
        raise ValueError(f"has a header of {length} bytes (at most {MAX_HEADER_BYTES})")
    raw = _read_exactly(file, length)
    text = raw.decode("utf-8" if version == (3, 0) else "latin1", errors="replace")
    return text, len(prefix) + size_bytes + length


def _parse_header(text: str, where: str) -> tuple[ArraySpec, bool]:
    """Shape, dtype and order from a header; only plain numeric dtypes pass."""
    try:
        header = ast.literal_eval(text)
    except Exception:  # SyntaxError, ValueError, MemoryError, RecursionError: all malformed
        raise UnreadableFileError(f"{where} has a malformed .npy header") from None
    if not isinstance(header, dict) or set(header) != {"descr", "fortran_order", "shape"}:
        raise UnreadableFileError(f"{where} has a malformed .npy header")
    descr, fortran_order, shape = header["descr"], header["fortran_order"], header["shape"]
    if not isinstance(descr, str):
        raise UnreadableFileError(f"{where} has a structured dtype; only numbers are read")
    try:
        dtype = np.dtype(descr)
    except (TypeError, ValueError, SyntaxError):
        raise UnreadableFileError(f"{where} has an unknown dtype {descr[:40]!r}") from None
    if (
        dtype.hasobject or dtype.names is not None or dtype.subdtype is not None
        or dtype.kind not in NUMBER_KINDS or dtype.itemsize == 0
    ):
        raise UnreadableFileError(
            f"{where} has dtype {descr[:40]!r}; only plain numbers (bool, int, float, "
            "complex) are read"
        )
    if not isinstance(fortran_order, bool):
        raise UnreadableFileError(f"{where} has a malformed .npy header (fortran_order)")
    if (
        not isinstance(shape, tuple) or len(shape) > MAX_DIMENSIONS
        or not all(type(n) is int and n >= 0 for n in shape)
    ):
        raise UnreadableFileError(f"{where} has a malformed .npy header (shape)")
    return ArraySpec(shape, dtype), fortran_order


# ---------------------------------------------------------------------- helpers


def _read_exactly(file: IO[bytes], count: int) -> bytes:
    """``count`` bytes, read a chunk at a time; EOFError if the stream ends first."""
    parts: list[bytes] = []
    left = count
    while left:
        chunk = file.read(min(left, _READ_CHUNK))
        if not chunk:
            raise EOFError(f"ended {left} bytes early")
        parts.append(chunk)
        left -= len(chunk)
    return b"".join(parts)


def _read_into_buffer(file: IO[bytes], count: int) -> bytearray:
    """``count`` bytes into one buffer (no second copy); EOFError if the stream ends first."""
    buffer = bytearray(count)
    view = memoryview(buffer)
    done = 0
    while done < count:
        got = file.readinto(view[done : done + _READ_CHUNK])  # type: ignore[attr-defined]
        if not got:
            raise EOFError(f"ended {count - done} bytes early")
        done += got
    return buffer


def _check_memory(source: str, nbytes: int, what: str) -> None:
    try:
        check_memory(nbytes, f"reading {what} of {source}")
    except InsufficientMemoryError as err:
        raise UnreadableFileError(str(err)) from None


def _reason(err: BaseException) -> str:
    return str(err) or type(err).__name__
