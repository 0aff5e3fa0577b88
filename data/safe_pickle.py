"""Read a CIFAR-10 pickle without letting it run code or reach NumPy with unchecked state.

A pickle can name any importable callable (``os.system``) and have it called while it
loads, so ``pickle.load`` on a downloaded file is remote code execution. The CIFAR-10
python release needs exactly three globals, ``_reconstruct``, ``ndarray`` and ``dtype``
(the batches are protocol-2 pickles written by Python 2); a copy re-saved by Python 3 at
protocol 2 also needs ``_codecs.encode`` to rebuild its ``bytes``. Nothing else loads.

Refusing other globals is not enough. NumPy's own ``_reconstruct``, ``ndarray`` and
``dtype`` trust the state a pickle hands them: an object array with too few items, or a
dtype whose state hides an object field, makes NumPy follow pointers read from the file
(a segfault), and a declared shape of 2**31 objects makes it zero 16 GiB. So nothing from
the file reaches NumPy here. The allowed globals are stand-ins that build inert records
(:class:`PickledArray`, :class:`PickledDtype`); each load gets fresh ones, and BUILD on a
stand-in is refused, so one file cannot change how the next one loads. After unpickling,
:func:`pickled_uint8_array` checks that a record is exactly a C-ordered uint8 array
state with all its bytes and only then are the bytes viewed as an array.

The unpickler itself is also attackable: a 12-byte pickle whose memo index is 2**30
makes CPython allocate and clear 16 GB, and hashing a dict key of 10**6 nested tuples
overflows the C stack. So every file is first read whole (at most
:data:`MAX_FILE_BYTES`) and scanned opcode by opcode without executing anything: only
the opcodes of protocol <= 2 dicts, lists, strings, numbers and arrays pass, every length
fits in the file, memo indices are dense, the stack is modelled so that tuples nest at
most :data:`MAX_TUPLE_DEPTH` deep and dict keys are never tuples, and the number of
opcodes and dict items is bounded. Only then is it unpickled, from memory.

This module also defines :class:`CifarFormatError`, the error for any CIFAR-10 file that
cannot be used, because reading the pickle is the first place a file can turn out bad.
"""

from __future__ import annotations

import io
import itertools
import os
import pickle
import pickletools
import struct
from typing import Any

from minigrad.validation import describe

__all__ = [
    "MAX_FILE_BYTES",
    "MAX_OPCODES",
    "MAX_TUPLE_DEPTH",
    "CifarFormatError",
    "PickledArray",
    "PickledDtype",
    "SafeCifarUnpickler",
    "UnsafePickleError",
    "describe_value",
    "load_pickle_safely",
    "pickled_uint8_array",
    "scan_pickle",
]

# The largest genuine file is a 10000-row batch re-saved by Python 3, whose pixels are
# latin-1 text in UTF-8 (up to 2 bytes each): about 62 MB.
MAX_FILE_BYTES = 128 * 1024 * 1024
# A 10000-row batch has about 20000 opcodes (100000 when re-saved by Python 3).
MAX_OPCODES = 1_000_000
# The format nests tuples 3 deep (_reconstruct's arguments); hashing or comparing a
# deeply nested tuple recurses in C.
MAX_TUPLE_DEPTH = 16
# The format's dicts hold 3 or 4 items; integer keys with equal hashes make inserting
# n of them cost n**2.
MAX_DICT_ITEMS = 1000
_MAX_PROTOCOL = 2
_MAX_TYPECODE_CHARS = 16


class CifarFormatError(ValueError):
    """A CIFAR-10 file is missing, truncated, or does not hold what the format promises."""


class UnsafePickleError(CifarFormatError):
    """A pickle asked for a global, opcode or call outside what the CIFAR-10 format needs."""


class _ForbiddenCall(pickle.UnpicklingError):
    """An allowed global was called (or BUILD was applied) in a way the format never needs."""


# --- the opcode scan ------------------------------------------------------------------------

_CODE = {op.name: ord(op.code) for op in pickletools.opcodes if len(op.code) == 1}
_NAME = {code: name for name, code in _CODE.items()}

# Argument layouts: fixed-size little-endian fields, and counted strings (length field
# size, signed?).
_FIXED_ARGUMENT = {
    _CODE["PROTO"]: 1,
    _CODE["BININT1"]: 1,
    _CODE["BININT2"]: 2,
    _CODE["BININT"]: 4,
    _CODE["BINFLOAT"]: 8,
    _CODE["BINPUT"]: 1,
    _CODE["LONG_BINPUT"]: 4,
    _CODE["BINGET"]: 1,
    _CODE["LONG_BINGET"]: 4,
}
_COUNTED_ARGUMENT = {
    _CODE["SHORT_BINSTRING"]: (1, False),
    _CODE["LONG1"]: (1, False),
    _CODE["BINSTRING"]: (4, True),
    _CODE["BINUNICODE"]: (4, False),
}
# Opcodes that push one plain (non-tuple) object and take nothing from the stack.
_PUSH_ONE = frozenset(
    _CODE[name]
    for name in (
        "EMPTY_DICT", "EMPTY_LIST", "NONE", "NEWTRUE", "NEWFALSE", "BININT", "BININT1",
        "BININT2", "LONG1", "BINFLOAT", "SHORT_BINSTRING", "BINSTRING", "BINUNICODE", "GLOBAL",
    )
)  # fmt: skip
_TUPLE_N = {_CODE["TUPLE1"]: 1, _CODE["TUPLE2"]: 2, _CODE["TUPLE3"]: 3}
_ALLOWED_OPCODES = frozenset(
    {*_FIXED_ARGUMENT, *_COUNTED_ARGUMENT, *_PUSH_ONE, *_TUPLE_N}
    | {
        _CODE[name]
        for name in (
            "STOP", "MARK", "SETITEM", "SETITEMS", "APPEND", "APPENDS", "EMPTY_TUPLE",
            "TUPLE", "REDUCE", "BUILD",
        )
    }
)  # fmt: skip
_MEMO_PUTS = frozenset({_CODE["BINPUT"], _CODE["LONG_BINPUT"]})
# The scan's fast path: opcodes that push one plain object, and their argument's size.
_PLAIN_PUSH = {
    _CODE[name]: width
    for name, width in (
        ("NONE", 0), ("NEWTRUE", 0), ("NEWFALSE", 0), ("EMPTY_DICT", 0), ("EMPTY_LIST", 0),
        ("BININT1", 1), ("BININT2", 2), ("BININT", 4), ("BINFLOAT", 8),
    )
}  # fmt: skip
_SHORT_BINSTRING = _CODE["SHORT_BINSTRING"]
_MEMO_GETS = frozenset({_CODE["BINGET"], _CODE["LONG_BINGET"]})

_ALLOWED_GLOBAL_NAMES = frozenset(
    {
        (b"numpy.core.multiarray", b"_reconstruct"),
        (b"numpy._core.multiarray", b"_reconstruct"),
        (b"numpy", b"ndarray"),
        (b"numpy", b"dtype"),
        (b"_codecs", b"encode"),
    }
)


_BRIEF_ITEMS = 7  # one more than describe() shows, so it still marks the cut with '...'
_BRIEF_CHARS = 64  # likewise for strings


def _clip(value: object, depth: int) -> object:
    if type(value) in (bytes, str):
        return value[:_BRIEF_CHARS]  # type: ignore[index]
    if depth <= 0:
        return value
    if type(value) in (tuple, list):
        items = [_clip(item, depth - 1) for item in value[:_BRIEF_ITEMS]]  # type: ignore[index]
        return tuple(items) if type(value) is tuple else items
    if isinstance(value, dict):
        pairs = itertools.islice(value.items(), _BRIEF_ITEMS)
        return {_clip(key, 0): _clip(item, depth - 1) for key, item in pairs}
    return value


def describe_value(value: object) -> str:
    """:func:`~minigrad.validation.describe` for a value read from a file.

    Long strings and bytes and big containers are cut first, so that describing a
    30 MB string costs as little as describing a short one (``repr`` of ``bytes`` is
    otherwise built whole before it is shortened).
    """
    return describe(_clip(value, 3))


def _corrupt(source: str, problem: str) -> CifarFormatError:
    return CifarFormatError(f"{source}: truncated or corrupt pickle ({problem})")


def _printable(text: str, limit: int = 40) -> str:
    """``text`` with anything unprintable (a terminal escape sequence from the file)
    backslash-escaped, cut to ``limit`` characters."""
    escaped = "".join(
        char if char.isascii() and char.isprintable() else ascii(char)[1:-1]
        for char in text[:limit]
    )
    return escaped if len(escaped) <= limit else escaped[: limit - 3] + "..."


def _forbidden_global(source: str, module: str, name: str) -> UnsafePickleError:
    return UnsafePickleError(
        f"{source}: refusing to load global {_printable(module)}.{_printable(name)}; a "
        "CIFAR-10 batch only needs NumPy's array globals, so this file is not a genuine batch "
        "and may be malicious"
    )


def _opcode_name(code: int) -> str:
    return _NAME.get(code, f"0x{code:02x}")


class _StackModel:
    """What the unpickler's stack would hold, reduced to each item's tuple nesting depth.

    It mirrors CPython's stack and MARK rules (an item below the newest MARK cannot be
    popped), so its depths are exact: tuples are immutable and only TUPLE* builds them.
    """

    def __init__(self, source: str) -> None:
        self.source = source
        self.stack: list[int] = []
        self.marks: list[int] = []
        self.memo: list[int] = []
        self.dict_items = 0

    def _fence(self) -> int:
        return self.marks[-1] if self.marks else 0

    def pop(self, count: int, position: int) -> list[int]:
        start = len(self.stack) - count
        if start < self._fence():
            raise _corrupt(self.source, f"stack underflow at byte {position}")
        items = self.stack[start:]
        del self.stack[start:]
        return items

    def pop_mark(self, position: int) -> list[int]:
        if not self.marks:
            raise _corrupt(self.source, f"no MARK for the opcode at byte {position}")
        start = self.marks.pop()
        items = self.stack[start:]
        del self.stack[start:]
        return items

    def top(self, position: int) -> int:
        if len(self.stack) <= self._fence():
            raise _corrupt(self.source, f"stack underflow at byte {position}")
        return self.stack[-1]

    def push_tuple(self, items: list[int], position: int) -> None:
        depth = 1 + max(items, default=0)
        if depth > MAX_TUPLE_DEPTH:
            raise CifarFormatError(
                f"{self.source}: tuples nested deeper than {MAX_TUPLE_DEPTH} at byte "
                f"{position}; the format nests them at most 3 deep"
            )
        self.stack.append(depth)

    def set_items(self, keys: list[int], position: int) -> None:
        self.top(position)  # the dict
        self.dict_items += len(keys)
        if self.dict_items > MAX_DICT_ITEMS:
            raise CifarFormatError(
                f"{self.source}: more than {MAX_DICT_ITEMS} dict items; the format's dicts "
                "hold at most 4"
            )
        if any(keys):
            raise CifarFormatError(
                f"{self.source}: a tuple used as a dict key at byte {position}; the "
                "format's keys are strings"
            )

    def memo_put(self, index: int, position: int) -> None:
        depth = self.top(position)
        if index > len(self.memo):
            raise UnsafePickleError(
                f"{self.source}: memo index {index} at byte {position} skips ahead of the "
                f"{len(self.memo)} entries stored so far"
            )
        if index == len(self.memo):
            self.memo.append(depth)
        else:
            self.memo[index] = depth

    def memo_get(self, index: int, position: int) -> None:
        if index >= len(self.memo):
            raise _corrupt(self.source, f"memo index {index} at byte {position} was never set")
        self.stack.append(self.memo[index])

    def apply(self, code: int, argument: int, position: int) -> None:
        """Apply one allowed opcode; ``argument`` is its integer argument, if any."""
        if code in _PUSH_ONE:
            self.stack.append(0)
        elif code == _CODE["MARK"]:
            self.marks.append(len(self.stack))
        elif code in _TUPLE_N:
            self.push_tuple(self.pop(_TUPLE_N[code], position), position)
        elif code == _CODE["TUPLE"]:
            self.push_tuple(self.pop_mark(position), position)
        elif code == _CODE["EMPTY_TUPLE"]:
            self.stack.append(1)
        elif code == _CODE["APPEND"]:
            self.pop(1, position)
            self.top(position)
        elif code == _CODE["APPENDS"]:
            self.pop_mark(position)
            self.top(position)
        elif code == _CODE["SETITEM"]:
            self.set_items(self.pop(2, position)[:1], position)
        elif code == _CODE["SETITEMS"]:
            items = self.pop_mark(position)
            if len(items) % 2:
                raise _corrupt(self.source, f"odd number of SETITEMS items at byte {position}")
            self.set_items(items[::2], position)
        elif code in (_CODE["REDUCE"], _CODE["BUILD"]):
            self.pop(1, position)  # the arguments or the state
            self.top(position)  # the callable or the object
            if code == _CODE["REDUCE"]:
                self.stack[-1] = 0  # a stand-in's result is never a tuple
        elif code in _MEMO_PUTS:
            self.memo_put(argument, position)
        elif code in _MEMO_GETS:
            self.memo_get(argument, position)
        # PROTO changes nothing on the stack.

    def finish(self, position: int) -> None:
        if len(self.stack) != 1 or self.marks:
            raise _corrupt(
                self.source,
                f"STOP at byte {position} with {len(self.stack)} objects and "
                f"{len(self.marks)} open MARKs on the stack",
            )


def _unsigned(data: bytes, start: int, size: int) -> int:
    return int.from_bytes(data[start : start + size], "little")


def _scan_global(data: bytes, start: int, source: str) -> int:
    """Check a GLOBAL's ``module\\nname\\n`` at ``start``; return where it ends."""
    module_end = data.find(b"\n", start)
    name_end = data.find(b"\n", module_end + 1) if module_end >= 0 else -1
    if name_end < 0:
        raise _corrupt(source, f"GLOBAL at byte {start - 1} runs past the end")
    module, name = data[start:module_end], data[module_end + 1 : name_end]
    if (module, name) not in _ALLOWED_GLOBAL_NAMES:
        raise _forbidden_global(source, module.decode("latin1"), name.decode("latin1"))
    return name_end + 1


def _argument(data: bytes, code: int, start: int, source: str) -> tuple[int, int]:
    """``(integer argument or 0, end of the argument)`` for the opcode whose argument is at
    ``start``, checking that the argument fits in the file."""
    size = _FIXED_ARGUMENT.get(code)
    if size is not None:
        if start + size > len(data):
            raise _corrupt(source, f"{_opcode_name(code)} at byte {start - 1} is cut off")
        return _unsigned(data, start, size), start + size
    counted = _COUNTED_ARGUMENT.get(code)
    if counted is not None:
        width, signed = counted
        if start + width > len(data):
            raise _corrupt(source, f"{_opcode_name(code)} at byte {start - 1} is cut off")
        length = int.from_bytes(data[start : start + width], "little", signed=signed)
        end = start + width + length
        if length < 0 or end > len(data):
            raise _corrupt(
                source,
                f"{_opcode_name(code)} at byte {start - 1} declares {length} bytes; "
                f"{len(data) - start - width} are left",
            )
        return 0, end
    if code == _CODE["GLOBAL"]:
        return 0, _scan_global(data, start, source)
    return 0, start


def scan_pickle(data: bytes, source: str) -> None:
    """Walk a pickle's opcodes without executing them; raise if any breaks the rules.

    Parameters
    ----------
    data : the whole pickle.
    source : how error messages name the file.

    Raises
    ------
    UnsafePickleError : a forbidden opcode or global, a protocol above 2, or a memo index
        that skips ahead (which would make the unpickler allocate a huge memo table).
    CifarFormatError : truncated data, an unknown opcode, a stack the opcodes do not fit,
        tuples nested more than :data:`MAX_TUPLE_DEPTH` deep, a tuple as a dict key,
        more than :data:`MAX_OPCODES` opcodes or :data:`MAX_DICT_ITEMS` dict items, or
        bytes after STOP.
    """
    model = _StackModel(source)
    stack, size = model.stack, len(data)
    position = 0
    for _ in range(MAX_OPCODES + 1):
        if position >= size:
            raise _corrupt(source, f"ends at byte {min(position, size)} before the STOP opcode")
        code = data[position]
        # Fast path for most of a batch's opcodes (labels, file names): a plain object
        # with a fixed-size or short argument. Running past the end is caught just above.
        width = _PLAIN_PUSH.get(code)
        if width is not None:
            position += 1 + width
            stack.append(0)
            continue
        if code == _SHORT_BINSTRING and position + 1 < size:
            position += 2 + data[position + 1]
            stack.append(0)
            continue
        position = _scan_opcode(data, code, position, model)
        if position < 0:
            return
    raise CifarFormatError(
        f"{source}: more than {MAX_OPCODES} pickle opcodes; a CIFAR-10 batch has about 20000"
    )


def _scan_opcode(data: bytes, code: int, position: int, model: _StackModel) -> int:
    """Check and apply one opcode; return where the next starts (-1 after STOP)."""
    source = model.source
    if code not in _ALLOWED_OPCODES:
        if code not in _NAME:
            raise _corrupt(source, f"unknown opcode 0x{code:02x} at byte {position}")
        raise UnsafePickleError(
            f"{source}: refusing pickle opcode {_opcode_name(code)} at byte {position}; "
            "CIFAR-10 batches are protocol-2 pickles of dicts, lists, strings, ints and arrays"
        )
    argument, end = _argument(data, code, position + 1, source)
    if code == _CODE["PROTO"] and (argument > _MAX_PROTOCOL or position != 0):
        raise UnsafePickleError(
            f"{source}: pickle protocol {argument} at byte {position}; CIFAR-10 batches use "
            "protocol 2, declared once at the start"
        )
    if code == _CODE["STOP"]:
        model.finish(position)
        if end != len(data):
            raise _corrupt(source, f"{len(data) - end} bytes after STOP")
        return -1
    model.apply(code, argument, position)
    return end


# --- inert records and the stand-ins that build them ------------------------------------------


class PickledArray:
    """What a pickle's ``_reconstruct(ndarray, (0,), 'b')`` and BUILD made: inert data.

    ``state`` is whatever BUILD gave (``built`` says whether it did), unchecked; NumPy's
    would be ``(version, shape, dtype, fortran_order, raw_bytes)``. See
    :func:`pickled_uint8_array`.
    """

    __slots__ = ("built", "state")

    def __init__(self) -> None:
        self.built = False
        self.state: object = None

    def __setstate__(self, state: object) -> None:
        if self.built:
            raise _ForbiddenCall("BUILD applied twice to one pickled array")
        self.built, self.state = True, state

    def __repr__(self) -> str:
        return "<pickled ndarray>"


class PickledDtype:
    """What a pickle's ``dtype(typecode, align, copy)`` and BUILD made: inert data."""

    __slots__ = ("built", "state", "typecode")

    def __init__(self, typecode: str) -> None:
        self.typecode = typecode
        self.built = False
        self.state: object = None

    def __setstate__(self, state: object) -> None:
        if self.built:
            raise _ForbiddenCall("BUILD applied twice to one pickled dtype")
        self.built, self.state = True, state

    def __repr__(self) -> str:
        return f"<pickled dtype {self.typecode!r}>"


class _StandIn:
    """Base of the allowed globals' stand-ins: no attributes, and BUILD is refused."""

    __slots__ = ()
    name = "?"

    def __setstate__(self, state: object) -> None:
        raise _ForbiddenCall(f"BUILD on the global {self.name}; the format never does that")

    def __repr__(self) -> str:
        return f"<{self.name}>"


class _NdarrayType(_StandIn):
    """Stand-in for ``numpy.ndarray``: only ever ``_reconstruct``'s first argument."""

    __slots__ = ()
    name = "numpy.ndarray"

    def __call__(self, *args: object) -> None:
        raise _ForbiddenCall(
            f"numpy.ndarray called with {describe_value(args)}; the format only passes it to "
            "_reconstruct"
        )


class _Reconstruct(_StandIn):
    """Stand-in for NumPy's ``_reconstruct``, limited to the call NumPy's pickles make.

    NumPy pickles an array as ``_reconstruct(ndarray, (0,), b'b')`` (an empty array) and
    then sets its contents from the state with BUILD.
    """

    __slots__ = ()
    name = "numpy.core.multiarray._reconstruct"

    def __call__(self, *args: object) -> PickledArray:
        if not (
            len(args) == 3
            and isinstance(args[0], _NdarrayType)
            and type(args[1]) is tuple
            and len(args[1]) == 1
            and type(args[1][0]) is int
            and args[1][0] == 0
            and type(args[2]) in (bytes, str)
            and args[2] in (b"b", "b")
        ):
            raise _ForbiddenCall(
                f"_reconstruct is only allowed as _reconstruct(ndarray, (0,), 'b'), got "
                f"{describe_value(args)}"
            )
        return PickledArray()


def _is_false(value: object) -> bool:
    return type(value) in (bool, int) and value == 0


def _is_true(value: object) -> bool:
    return type(value) in (bool, int) and value == 1


class _Dtype(_StandIn):
    """Stand-in for ``numpy.dtype``, limited to the call NumPy's pickles make.

    NumPy pickles a dtype as ``dtype('u1', False, True)`` (Python 2 wrote ``0, 1``).
    """

    __slots__ = ()
    name = "numpy.dtype"

    def __call__(self, *args: object) -> PickledDtype:
        typecode = args[0] if args else None
        if not (
            len(args) == 3
            and type(typecode) in (bytes, str)
            and 0 < len(typecode) <= _MAX_TYPECODE_CHARS  # type: ignore[arg-type]
            and _is_false(args[1])
            and _is_true(args[2])
        ):
            raise _ForbiddenCall(
                f"dtype is only allowed as dtype(typecode, False, True), got {describe_value(args)}"
            )
        if isinstance(typecode, bytes):
            typecode = typecode.decode("latin1")
        return PickledDtype(str(typecode))


class _LatinEncode(_StandIn):
    """Stand-in for ``_codecs.encode`` that only does what pickle's ``bytes`` rebuild needs.

    Python 3 pickles ``bytes`` at protocol 2 as ``_codecs.encode(text, 'latin1')``; other
    codecs (zlib, base64, ...) are never needed, so they are refused. It never makes more
    bytes than the file holds, however often the file calls it on the same text.
    """

    __slots__ = ("budget",)
    name = "_codecs.encode"

    def __init__(self, budget: int) -> None:
        self.budget = budget

    def __call__(self, *args: object) -> bytes:
        if not (
            len(args) == 2
            and type(args[0]) is str
            and type(args[1]) is str
            and args[1] in ("latin1", "latin-1")
        ):
            raise _ForbiddenCall(
                "_codecs.encode is only allowed as encode(str, 'latin1'), got "
                f"{describe_value(args)}"
            )
        text = args[0]
        assert isinstance(text, str)
        self.budget -= len(text)
        if self.budget < 0:
            raise _ForbiddenCall("_codecs.encode asked for more bytes than the file holds")
        return text.encode("latin1")


def _stand_ins(budget: int) -> dict[tuple[str, str], object]:
    """Fresh stand-ins for one load, so nothing one file does outlives it."""
    reconstruct = _Reconstruct()
    return {
        ("numpy.core.multiarray", "_reconstruct"): reconstruct,
        ("numpy._core.multiarray", "_reconstruct"): reconstruct,
        ("numpy", "ndarray"): _NdarrayType(),
        ("numpy", "dtype"): _Dtype(),
        ("_codecs", "encode"): _LatinEncode(budget),
    }


class SafeCifarUnpickler(pickle.Unpickler):
    """An unpickler whose only globals are inert stand-ins for the CIFAR-10 allowlist.

    Use it through :func:`load_pickle_safely`, which also scans the opcodes first. Arrays
    and dtypes come back as :class:`PickledArray` / :class:`PickledDtype` records.

    Parameters
    ----------
    file : the open binary file to read.
    source : how error messages name the file (usually its path).
    encoding : how Python 2 ``str`` objects are decoded; ``'bytes'`` keeps them as bytes,
        which is what the array state needs.
    budget : most bytes ``_codecs.encode`` may make in this load (the file's size).
    """

    def __init__(
        self, file: io.BufferedIOBase | io.BytesIO, source: str, encoding: str = "bytes",
        budget: int = MAX_FILE_BYTES,
    ) -> None:  # fmt: skip
        super().__init__(file, encoding=encoding)
        self.source = source
        self._globals = _stand_ins(budget)

    def find_class(self, module: str, name: str) -> Any:
        """Return this load's stand-in for ``module.name``; refuse everything else."""
        try:
            return self._globals[(module, name)]
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
    struct.error,
)


def _read_file(source: str) -> bytes:
    try:
        with open(source, "rb") as file:
            size = os.fstat(file.fileno()).st_size
            if size > MAX_FILE_BYTES:
                raise CifarFormatError(
                    f"{source}: {size} bytes, more than any CIFAR-10 file ({MAX_FILE_BYTES})"
                )
            data = file.read(size)  # read(n) allocates n bytes first: ask for the size
            if file.read(1):
                raise CifarFormatError(f"{source}: the file grew while it was read")
            return data
    except FileNotFoundError:
        raise CifarFormatError(f"{source}: file not found") from None
    except OSError as exc:
        raise CifarFormatError(f"{source}: cannot read it ({describe(exc.strerror)})") from None


def load_pickle_safely(path: str | os.PathLike[str]) -> object:
    """Read one pickle file, scan it with :func:`scan_pickle`, then unpickle it safely.

    Parameters
    ----------
    path : the pickle file.

    Returns
    -------
    The unpickled object: dicts, lists, tuples, ints, floats, ``None``/bools, ``bytes``
    (Python 2 strings), ``str`` and inert :class:`PickledArray` / :class:`PickledDtype`
    records; never a NumPy object.

    Raises
    ------
    UnsafePickleError : the file needs a global, opcode or call outside the allowlist
        (nothing was called).
    CifarFormatError : the file is missing, too big, truncated or not a pickle.
    """
    source = os.fspath(path)
    data = _read_file(source)
    scan_pickle(data, source)
    try:
        return SafeCifarUnpickler(io.BytesIO(data), source, budget=len(data)).load()
    except _ForbiddenCall as exc:
        raise UnsafePickleError(f"{source}: {exc}") from None
    except _CORRUPT_PICKLE_ERRORS as exc:
        # The message can quote file content (an attribute name): keep it short.
        raise _corrupt(source, f"{type(exc).__name__}: {describe_value(str(exc))}") from None


# --- from a record to validated bytes ------------------------------------------------------

# numpy.dtype('u1').__reduce__()[2]: version, byte order, subarray, names, fields, elsize,
# alignment, flags. Python 2 wrote the byte order '|' as a byte string.
_UINT8_STATE_TAIL = (None, None, None, -1, -1, 0)
_MAX_NDIM = 32


def _is_uint8_dtype(dtype: object) -> bool:
    """Exactly NumPy's plain ``uint8``: no object, structured, void or sub-array parts."""
    if not isinstance(dtype, PickledDtype) or dtype.typecode != "u1":
        return False
    state = dtype.state
    return (
        type(state) is tuple
        and len(state) == 8
        and type(state[0]) is int
        and state[0] == 3
        and type(state[1]) in (bytes, str)
        and state[1] in (b"|", "|")
        and all(
            type(got) is type(want) and got == want
            for got, want in zip(state[2:], _UINT8_STATE_TAIL, strict=True)
        )
    )


def _shape(value: object) -> tuple[int, ...] | None:
    if type(value) is not tuple or len(value) > _MAX_NDIM:
        return None
    if not all(type(size) is int and size >= 0 for size in value):
        return None
    return value


def _size(shape: tuple[int, ...]) -> int:
    total = 1
    for size in shape:
        total *= size
    return total


def pickled_uint8_array(value: object, source: str, what: str) -> tuple[tuple[int, ...], bytes]:
    """Check that ``value`` is exactly a pickled C-ordered uint8 array with all its bytes.

    Nothing is handed to NumPy: the caller checks the shape against its format and then
    views the bytes, e.g. ``np.frombuffer(raw, np.uint8).reshape(shape)``.

    Parameters
    ----------
    value : an object from :func:`load_pickle_safely`.
    source : how error messages name the file.
    what : how error messages name the value (``'data'``).

    Returns
    -------
    shape : tuple of non-negative ints.
    raw : ``bytes`` of exactly ``prod(shape)`` items.

    Raises
    ------
    CifarFormatError : anything else: another type or dtype, a non-standard dtype state,
        Fortran order, a wrong state layout, or a byte count that does not fit the shape.
    """
    if not isinstance(value, PickledArray):
        raise CifarFormatError(
            f"{source}: {what} must be a numpy uint8 array, got {type(value).__name__}"
        )
    state = value.state
    if not (type(state) is tuple and len(state) == 5):
        raise CifarFormatError(
            f"{source}: {what}'s array state must be (1, shape, dtype, False, bytes), got "
            f"{describe_value(state)}"
        )
    version, raw_shape, dtype, fortran, raw = state
    if type(version) is not int or version != 1:
        raise CifarFormatError(f"{source}: {what}'s array state version must be 1")
    if not _is_uint8_dtype(dtype):
        raise CifarFormatError(
            f"{source}: {what} must have dtype uint8, got {describe_value(dtype)} with state "
            f"{describe_value(getattr(dtype, 'state', None))}"
        )
    shape = _shape(raw_shape)
    if shape is None:
        raise CifarFormatError(
            f"{source}: {what}'s shape must be a tuple of ints >= 0, got "
            f"{describe_value(raw_shape)}"
        )
    if fortran is not False:
        raise CifarFormatError(
            f"{source}: {what} must be in C order, got {describe_value(fortran)}"
        )
    if type(raw) is not bytes:
        raise CifarFormatError(
            f"{source}: {what}'s contents must be a byte string, got {type(raw).__name__}"
        )
    if len(raw) != _size(shape):
        raise CifarFormatError(
            f"{source}: {what} holds {len(raw)} bytes, but its shape {describe(shape)} needs "
            f"{_size(shape)}"
        )
    return shape, raw
