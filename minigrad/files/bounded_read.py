"""Reading a file that may be hostile: a size cap, regular files only, UTF-8 checked.

Every reader in minigrad starts here, so a 10 GB ``config.json``, a FIFO named
``metrics.json`` (which would block ``open`` for ever) or invalid UTF-8 in ``trials.csv``
all end in one :class:`UnreadableFileError` whose message names the file and the problem.
"""

from __future__ import annotations

import os
import stat

__all__ = [
    "DEFAULT_MAX_TEXT_BYTES",
    "UnreadableFileError",
    "decode_utf8",
    "format_bytes",
    "open_regular_file",
    "read_bytes_bounded",
    "read_text_bounded",
]

DEFAULT_MAX_TEXT_BYTES = 64 << 20
"""The default cap of a text file minigrad reads whole (64 MiB)."""

PathLike = str | os.PathLike[str]


class UnreadableFileError(ValueError):
    """A file is missing, too large, not a regular file, or not in its format.

    The message names the file and says what is wrong, in one line.
    """


def format_bytes(count: int | float) -> str:
    """``1536`` -> ``"1.5 KiB"``: a size for people."""
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(value) < 1024 or unit == "PiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def open_regular_file(path: PathLike) -> int:
    """Open ``path`` read-only and return the descriptor, if it is a regular file.

    ``O_NONBLOCK`` keeps ``open`` from waiting for a writer when the path is a FIFO; the
    ``fstat`` afterwards (on what was opened, not on the name) refuses FIFOs, devices and
    folders.

    Raises
    ------
    UnreadableFileError : missing, not a regular file, or unreadable (the message says why).
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise UnreadableFileError(f"{path} does not exist") from None
    except (OSError, ValueError) as err:  # ValueError: a NUL byte; UnicodeError: unencodable
        raise UnreadableFileError(f"cannot open {path}: {_reason(err)}") from None
    try:
        mode = os.fstat(fd).st_mode
    except OSError as err:
        os.close(fd)
        raise UnreadableFileError(f"cannot read {path}: {_reason(err)}") from None
    if not stat.S_ISREG(mode):
        os.close(fd)
        kind = "a folder" if stat.S_ISDIR(mode) else "not a regular file"
        raise UnreadableFileError(f"{path} is {kind}")
    return fd


def read_bytes_bounded(path: PathLike, max_bytes: int) -> bytes:
    """The bytes of regular file ``path``, refusing one larger than ``max_bytes``.

    At most ``max_bytes + 1`` bytes are read, whatever the file claims.
    """
    fd = open_regular_file(path)
    try:
        with os.fdopen(fd, "rb") as file:
            data = file.read(max_bytes + 1)
    except OSError as err:
        raise UnreadableFileError(f"cannot read {path}: {_reason(err)}") from None
    if len(data) > max_bytes:
        raise UnreadableFileError(
            f"{path} is larger than {format_bytes(max_bytes)}, more than this file can hold"
        )
    return data


def decode_utf8(data: bytes, source: PathLike) -> str:
    """``data`` decoded as UTF-8, or an error naming ``source`` and the first bad byte."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        raise UnreadableFileError(
            f"{source} is not UTF-8 text: byte 0x{data[err.start]:02x} at offset {err.start} "
            f"(line {line}) is invalid"
        ) from None


def read_text_bounded(path: PathLike, max_bytes: int = DEFAULT_MAX_TEXT_BYTES) -> str:
    """The UTF-8 text of ``path`` (at most ``max_bytes``), with a clear error otherwise."""
    return decode_utf8(read_bytes_bounded(path, max_bytes), path)


def _reason(err: BaseException) -> str:
    if isinstance(err, OSError) and err.strerror:
        return err.strerror
    return str(err) or type(err).__name__
