"""Read a CIFAR-10 pickle without letting it run code: only NumPy's array globals load.

A pickle can name any importable callable (``os.system``) and have it called while it
loads, so ``pickle.load`` on a downloaded file is remote code execution. The CIFAR-10
python release needs exactly three globals, ``_reconstruct``, ``ndarray`` and ``dtype``
(the batches are protocol-2 pickles written by Python 2); a copy re-saved by Python 3 at
protocol 2 also needs ``_codecs.encode`` to rebuild its ``bytes``. Nothing else loads.

Refusing globals is not enough on its own: a 12-byte pickle whose memo index is 2**30
makes CPython's unpickler allocate and clear 16 GB. So every file is first scanned
opcode by opcode (without executing anything): only the opcodes of protocol <= 2 dicts,
lists, strings, numbers and arrays pass, memo indices must be dense, and no length may
exceed what is left of the file. Only then is it unpickled.

This module also defines :class:`CifarFormatError`, the error for any CIFAR-10 file that
cannot be used, because reading the pickle is the first place a file can turn out bad.
"""

from __future__ import annotations

import codecs
import os
import pickle
import pickletools
import struct
from collections.abc import Callable
from typing import Any, BinaryIO, cast

import numpy as np

__all__ = [
    "CifarFormatError",
    "SafeCifarUnpickler",
    "UnsafePickleError",
    "load_pickle_safely",
    "scan_pickle",
]


class CifarFormatError(ValueError):
    """A CIFAR-10 file is missing, truncated, or does not hold what the format promises."""


class UnsafePickleError(CifarFormatError):
    """A pickle asked for a global or an opcode outside what the CIFAR-10 format needs."""


class _ForbiddenCall(pickle.UnpicklingError):
    """An allowed global was called in a way the format never needs."""


# Opcodes of Python 2's cPickle and Python 3's pickle at protocol 2 for the objects a
# batch holds. Absent on purpose: INST/OBJ/NEWOBJ/EXT* (other ways to call or import),
# PERSID (external references), FRAME and the protocol 4/5 opcodes.
_ALLOWED_OPCODES = frozenset(
    {
        "PROTO", "STOP", "MARK",
        "EMPTY_DICT", "SETITEM", "SETITEMS", "EMPTY_LIST", "APPEND", "APPENDS",
        "EMPTY_TUPLE", "TUPLE", "TUPLE1", "TUPLE2", "TUPLE3",
        "NONE", "NEWTRUE", "NEWFALSE", "BININT", "BININT1", "BININT2", "LONG1", "BINFLOAT",
        "SHORT_BINSTRING", "BINSTRING", "BINUNICODE",
        "BINPUT", "LONG_BINPUT", "BINGET", "LONG_BINGET",
        "GLOBAL", "REDUCE", "BUILD",
    }
)  # fmt: skip
_MAX_PROTOCOL = 2
_MEMO_PUTS = frozenset({"BINPUT", "LONG_BINPUT"})


def _is_latin1(encoding: str) -> bool:
    try:
        return codecs.lookup(encoding).name == "iso8859-1"
    except LookupError:
        return False


def _latin1_encode(text: str, encoding: str = "utf-8") -> bytes:
    """Stand-in for ``_codecs.encode`` that only does what pickle's ``bytes`` rebuild needs.

    Python 3 pickles ``bytes`` at protocol 2 as ``_codecs.encode(text, 'latin1')``; other
    codecs (zlib, base64, ...) are never needed, so they are refused.
    """
    if not (isinstance(text, str) and isinstance(encoding, str) and _is_latin1(encoding)):
        raise _ForbiddenCall(
            f"_codecs.encode is only allowed as encode(str, 'latin1'), got encoding {encoding!r}"
        )
    return text.encode("latin1")


# Ask NumPy for its own reconstructor rather than importing numpy.core (deprecated in
# NumPy 2, where it lives in numpy._core); both spellings occur in real files.
_NUMPY_RECONSTRUCT = cast(
    Callable[..., np.ndarray], np.ndarray.__reduce__(np.empty(0, dtype=np.uint8))[0]
)


def _empty_array(subtype: object, shape: object, typecode: object) -> np.ndarray:
    """Stand-in for NumPy's ``_reconstruct``, limited to the call NumPy's pickles make.

    NumPy pickles an array as ``_reconstruct(ndarray, (0,), b'b')`` (an empty array) and
    then sets its real contents from the state; any other shape would only serve to
    allocate memory the file does not hold.
    """
    if subtype is not np.ndarray or shape != (0,) or typecode not in (b"b", "b"):
        raise _ForbiddenCall(
            f"_reconstruct is only allowed as _reconstruct(ndarray, (0,), 'b'), got "
            f"({subtype!r}, {shape!r}, {typecode!r})"
        )
    return _NUMPY_RECONSTRUCT(subtype, shape, typecode)


def _dtype(typecode: object, align: object = False, copy: object = True) -> np.dtype:
    """Stand-in for ``numpy.dtype`` limited to the call NumPy's pickles make.

    NumPy pickles a dtype as ``dtype('u1', False, True)`` (Python 2 wrote ``0, 1``); the
    flags are checked so a corrupt file gets an error instead of NumPy guessing.
    """
    if not isinstance(typecode, (str, bytes)) or align not in (0, False) or copy not in (1, True):
        raise _ForbiddenCall(
            f"dtype is only allowed as dtype(typecode, False, True), got "
            f"({typecode!r}, {align!r}, {copy!r})"
        )
    name = typecode.decode("latin1") if isinstance(typecode, bytes) else typecode
    return np.dtype(name, align=False, copy=True)


_ALLOWED_GLOBALS: dict[tuple[str, str], Any] = {
    ("numpy.core.multiarray", "_reconstruct"): _empty_array,
    ("numpy._core.multiarray", "_reconstruct"): _empty_array,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): _dtype,
    ("_codecs", "encode"): _latin1_encode,
}


def _forbidden_global(source: str, module: str, name: str) -> UnsafePickleError:
    return UnsafePickleError(
        f"{source}: refusing to load global {module}.{name}; a CIFAR-10 batch only needs "
        "NumPy's array globals, so this file is not a genuine batch and may be malicious"
    )


class _BoundedReader:
    """Reads from a file that never ask for more bytes than are left in it.

    A corrupt length field then yields a short read (reported as truncation) instead of
    an attempt to allocate gigabytes.
    """

    def __init__(self, file: BinaryIO) -> None:
        self._file = file
        self._size = os.fstat(file.fileno()).st_size

    def read(self, size: int = -1) -> bytes:
        left = max(self._size - self._file.tell(), 0)
        return self._file.read(left if size < 0 else min(size, left))

    def readline(self) -> bytes:
        return self._file.readline()

    def tell(self) -> int:
        return self._file.tell()


def scan_pickle(file: BinaryIO, source: str) -> None:
    """Walk a pickle's opcodes without executing them; raise if any is not allowed.

    Parameters
    ----------
    file : open binary file positioned at the start of the pickle; it is left at the end.
    source : how error messages name the file.

    Raises
    ------
    UnsafePickleError : a forbidden opcode or global, a protocol above 2, or a memo index
        that skips ahead (which would make the unpickler allocate a huge memo table).
    CifarFormatError : truncated data or an unknown opcode.
    """
    memo_puts = 0
    try:
        for opcode, arg, position in pickletools.genops(cast(BinaryIO, _BoundedReader(file))):
            name = opcode.name
            if name not in _ALLOWED_OPCODES:
                raise UnsafePickleError(
                    f"{source}: refusing pickle opcode {name} at byte {position}; CIFAR-10 "
                    "batches are protocol-2 pickles of dicts, lists, strings, ints and arrays"
                )
            if name == "PROTO" and isinstance(arg, int) and arg > _MAX_PROTOCOL:
                raise UnsafePickleError(
                    f"{source}: pickle protocol {arg}; CIFAR-10 batches use protocol 2"
                )
            if name == "GLOBAL":
                module, _, attribute = str(arg).partition(" ")
                if (module, attribute) not in _ALLOWED_GLOBALS:
                    raise _forbidden_global(source, module, attribute)
            if name in _MEMO_PUTS:
                if not isinstance(arg, int) or arg > memo_puts:
                    raise UnsafePickleError(
                        f"{source}: memo index {arg} at byte {position} skips ahead of the "
                        f"{memo_puts} entries stored so far"
                    )
                memo_puts += 1
    except ValueError as exc:  # pickletools' report of truncated data or unknown opcodes
        if isinstance(exc, CifarFormatError):
            raise
        raise CifarFormatError(f"{source}: truncated or corrupt pickle ({exc})") from exc


class SafeCifarUnpickler(pickle.Unpickler):
    """An unpickler that resolves only the globals in the CIFAR-10 allowlist.

    Use it through :func:`load_pickle_safely`, which also scans the opcodes first.

    Parameters
    ----------
    file : the open binary file to read.
    source : how error messages name the file (usually its path).
    encoding : how Python 2 ``str`` objects are decoded; ``'bytes'`` keeps them as bytes,
        which is what NumPy's array state needs.
    """

    def __init__(self, file: BinaryIO, source: str, encoding: str = "bytes") -> None:
        super().__init__(file, encoding=encoding)
        self.source = source

    def find_class(self, module: str, name: str) -> Any:
        """Return the allowed object for ``module.name``; refuse everything else."""
        try:
            return _ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise _forbidden_global(self.source, module, name) from None


# What a scrambled pickle can raise from inside the unpickler once the scan has passed;
# anything in this list means "the bytes are not a pickle of the expected objects".
_CORRUPT_PICKLE_ERRORS = (
    pickle.UnpicklingError,
    EOFError,
    ValueError,
    TypeError,
    KeyError,
    IndexError,
    AttributeError,
    OverflowError,
    UnicodeDecodeError,
    struct.error,
)


def load_pickle_safely(path: str | os.PathLike[str]) -> object:
    """Scan one pickle file with :func:`scan_pickle`, then unpickle it safely.

    Parameters
    ----------
    path : the pickle file.

    Returns
    -------
    The unpickled object; Python 2 strings come back as ``bytes``.

    Raises
    ------
    UnsafePickleError : the file needs a global, opcode or call outside the allowlist
        (nothing was called).
    CifarFormatError : the file is missing, truncated or not a pickle.
    """
    source = os.fspath(path)
    try:
        with open(source, "rb") as file:
            scan_pickle(file, source)
            file.seek(0)
            return SafeCifarUnpickler(file, source).load()
    except CifarFormatError:
        raise
    except _ForbiddenCall as exc:
        raise UnsafePickleError(f"{source}: {exc}") from None
    except FileNotFoundError:
        raise CifarFormatError(f"{source}: file not found") from None
    except _CORRUPT_PICKLE_ERRORS as exc:
        raise CifarFormatError(
            f"{source}: truncated or corrupt pickle ({type(exc).__name__}: {exc})"
        ) from exc
