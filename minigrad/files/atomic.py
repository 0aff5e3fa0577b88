"""Atomic file writers: a reader sees the old file or the new one, never half of one.

Each writer fills a temporary file in the destination's folder, flushes and fsyncs it,
then renames it over the destination with ``os.replace`` (atomic on POSIX and Windows
within one file system). If anything fails, the temporary file is removed and the
destination is untouched.
"""

from __future__ import annotations

import io
import json
import os
import secrets
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "atomic_write",
    "json_text",
    "write_bytes_atomic",
    "write_figure_atomic",
    "write_json_atomic",
    "write_npz_atomic",
    "write_text_atomic",
]

PathLike = str | os.PathLike[str]


def _fsync_folder(folder: Path) -> None:
    """Make the rename itself durable (POSIX); folders cannot be opened on Windows."""
    if os.name != "posix":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: PathLike, write: Callable[[IO[bytes]], None]) -> Path:
    """Create or replace ``path`` atomically with whatever ``write(file)`` writes.

    Parameters
    ----------
    path : the destination; its folder must exist.
    write : called once with a binary file open for writing.

    Returns
    -------
    The destination as a ``Path``.
    """
    target = Path(path)
    temp = target.with_name(f".{target.name}.{secrets.token_hex(6)}.tmp")
    # os.open with mode 0o666 lets the umask decide the permissions, as open() would
    # (tempfile's files are 0o600, which would leave run folders unreadable to others).
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temp, target)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    _fsync_folder(target.parent)
    return target


def write_bytes_atomic(path: PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically."""

    def put(file: IO[bytes]) -> None:
        file.write(data)

    return atomic_write(path, put)


def write_text_atomic(path: PathLike, text: str) -> Path:
    """Write ``text`` as UTF-8 with ``\\n`` line endings on every platform."""
    return write_bytes_atomic(path, text.encode("utf-8"))


def json_text(obj: Any) -> str:
    """The canonical JSON we write: 2-space indent, sorted keys, trailing newline.

    Sorted keys and ``repr``-exact floats make the bytes a function of the values, so
    two runs with the same results write byte-identical files. NaN and inf are refused
    (they are not JSON).
    """
    return json.dumps(obj, indent=2, sort_keys=True, allow_nan=False) + "\n"


def write_json_atomic(path: PathLike, obj: Any) -> Path:
    """Write ``obj`` as canonical JSON (see :func:`json_text`) atomically."""
    return write_text_atomic(path, json_text(obj))


def write_npz_atomic(path: PathLike, arrays: Mapping[str, np.ndarray]) -> Path:
    """Write named arrays as an uncompressed ``.npz`` atomically.

    The arrays must be plain numeric arrays, so the file loads with
    ``np.load(path, allow_pickle=False)``; object arrays are refused.
    """
    for name, array in arrays.items():
        if np.asarray(array).dtype.hasobject:
            raise TypeError(f"array {name!r} has dtype object, which would need pickle")

    def save(file: IO[bytes]) -> None:
        np.savez(file, **arrays)  # type: ignore[arg-type]

    return atomic_write(path, save)


def write_figure_atomic(path: PathLike, figure: Figure, **savefig_kwargs: Any) -> Path:
    """Render a matplotlib figure (PNG unless ``format=`` says otherwise) atomically."""
    savefig_kwargs.setdefault("format", "png")
    buffer = io.BytesIO()
    figure.savefig(buffer, **savefig_kwargs)
    return write_bytes_atomic(path, buffer.getvalue())
