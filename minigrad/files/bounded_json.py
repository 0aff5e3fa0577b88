"""The one JSON reader: bounded in size, nesting and integer length, strict about values.

``json.loads`` on a hostile file can raise ``RecursionError`` (``[[[[...`` ten thousand
deep), ``ValueError`` outside ``JSONDecodeError`` (an integer of more than 4300 digits),
``UnicodeDecodeError``, or hand back NaN, infinity and silently merged duplicate keys.
:func:`read_json` turns each of these into one :class:`UnreadableFileError` naming the
file. The nesting is measured on the raw bytes before parsing, so the parser never
recurses deeper than ``max_depth``.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable
from typing import Any

import numpy as np

from minigrad.files.bounded_read import (
    UnreadableFileError,
    decode_utf8,
    read_bytes_bounded,
)

__all__ = [
    "DEFAULT_MAX_DEPTH",
    "DEFAULT_MAX_INT_DIGITS",
    "DEFAULT_MAX_JSON_BYTES",
    "json_nesting_depth",
    "parse_json",
    "read_json",
    "read_json_object",
]

DEFAULT_MAX_JSON_BYTES = 16 << 20
"""Largest JSON file read (16 MiB): minigrad's own are a few KiB."""
DEFAULT_MAX_DEPTH = 64
"""Deepest nesting of arrays and objects (minigrad's own files nest fewer than 10 deep)."""
DEFAULT_MAX_INT_DIGITS = 1000
"""Longest integer literal (a 128-bit generator state has 39 digits)."""

PathLike = str | os.PathLike[str]

_QUOTE, _OPEN, _CLOSE = 0x22, (0x5B, 0x7B), (0x5D, 0x7D)  # " [{ ]}


class _Refused(ValueError):
    """A value JSON allows syntactically but minigrad's files never hold."""


def json_nesting_depth(data: bytes, block: int = 1 << 20) -> int:
    """The deepest nesting of ``[`` and ``{`` outside strings in ``data`` (valid JSON or not).

    Escaped backslashes and quotes are dropped first, so every remaining quote opens or
    closes a string and the characters between an odd and the next even quote are inside
    one. UTF-8 multi-byte sequences never contain ASCII bytes, so bytes suffice.
    Vectorised a ``block`` of bytes at a time: linear time and bounded memory, whatever
    the input.
    """
    skeleton = data.replace(b"\\\\", b"").replace(b'\\"', b"")
    depth = deepest = parity = 0
    for start in range(0, len(skeleton), block):
        codes = np.frombuffer(skeleton, dtype=np.uint8, count=min(block, len(skeleton) - start),
                              offset=start)
        quotes = codes == _QUOTE
        # uint8 cumsum wraps at 256 but keeps the parity, which is all that is needed.
        inside = ((np.cumsum(quotes, dtype=np.uint8) + parity) & 1).astype(bool)
        parity = (parity + int(np.count_nonzero(quotes))) & 1
        step = np.isin(codes, _OPEN).astype(np.int32) - np.isin(codes, _CLOSE)
        step[inside] = 0
        levels = np.cumsum(step, dtype=np.int64) + depth
        deepest, depth = max(deepest, int(levels.max())), int(levels[-1])
    return deepest


def _int_parser(max_digits: int) -> Callable[[str], int]:
    def parse(literal: str) -> int:
        digits = len(literal.lstrip("-"))
        if digits > max_digits:
            raise _Refused(f"an integer of {digits} digits (at most {max_digits} are allowed)")
        return int(literal)

    return parse


def _float(literal: str) -> float:
    value = float(literal)
    if not math.isfinite(value):
        raise _Refused(f"the number {literal[:40]} is out of the range of a float")
    return value


def _constant(name: str) -> float:
    raise _Refused(f"{name} is not a JSON number")


def _first_duplicate(keys: list[str]) -> str:
    seen: set[str] = set()
    for key in keys:
        if key in seen:
            return key
        seen.add(key)
    raise AssertionError("no duplicate")


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):  # json.loads would keep the last value silently
        duplicate = _first_duplicate([key for key, _ in pairs])
        raise _Refused(f"the key {duplicate[:40]!r} appears twice in one object")
    return result


def parse_json(
    data: bytes,
    source: PathLike,
    *,
    max_depth: int = DEFAULT_MAX_DEPTH,
    max_int_digits: int = DEFAULT_MAX_INT_DIGITS,
) -> Any:
    """Parse JSON ``data`` (UTF-8 bytes) read from ``source``.

    Raises
    ------
    UnreadableFileError
        Not UTF-8, not JSON, nested deeper than ``max_depth``, an integer longer than
        ``max_int_digits``, NaN / Infinity or a float out of range, or a duplicate key.
    """
    text = decode_utf8(data, source)
    depth = json_nesting_depth(data)
    if depth > max_depth:
        raise UnreadableFileError(
            f"{source} is not a file minigrad wrote: its JSON nests {depth} levels deep "
            f"(at most {max_depth} are allowed)"
        )
    try:
        return json.loads(
            text,
            parse_int=_int_parser(max_int_digits),
            parse_float=_float,
            parse_constant=_constant,
            object_pairs_hook=_object,
        )
    except json.JSONDecodeError as err:
        raise UnreadableFileError(f"{source} is not valid JSON: {err}") from None
    except _Refused as err:
        raise UnreadableFileError(f"{source} is not valid JSON for minigrad: {err}") from None
    except (ValueError, RecursionError, MemoryError) as err:  # a last line of defence
        raise UnreadableFileError(
            f"{source} cannot be read as JSON: {type(err).__name__}"
        ) from None


def read_json(
    path: PathLike,
    *,
    max_bytes: int = DEFAULT_MAX_JSON_BYTES,
    max_depth: int = DEFAULT_MAX_DEPTH,
    max_int_digits: int = DEFAULT_MAX_INT_DIGITS,
) -> Any:
    """The JSON value in file ``path``, read with every bound of :func:`parse_json`.

    Raises
    ------
    UnreadableFileError
        Missing, not a regular file, larger than ``max_bytes``, or not acceptable JSON.
    """
    data = read_bytes_bounded(path, max_bytes)
    return parse_json(data, path, max_depth=max_depth, max_int_digits=max_int_digits)


def read_json_object(path: PathLike, **bounds: int) -> dict[str, Any]:
    """:func:`read_json`, for a file whose top level must be an object."""
    value = read_json(path, **bounds)
    if not isinstance(value, dict):
        raise UnreadableFileError(
            f"{path} must hold a JSON object {{...}}, got a JSON {_kind(value)}"
        )
    return value


def _kind(value: Any) -> str:
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    return "number"
