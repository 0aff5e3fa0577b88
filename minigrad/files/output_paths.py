"""Output folders: checked before any work starts, created exclusively, printed safely.

A run that trains for an hour and then cannot write ``report.md`` because its folder
name cannot be encoded, or because ``--out`` names a file, has wasted the hour. These
checks run first. :func:`make_unique_folder` creates ``stem``, else ``stem-2``,
``stem-3`` ... with an exclusive ``mkdir``, so two processes that pick the same name in
the same second still get two folders.
"""

from __future__ import annotations

import errno
import os
import stat
import sys
from pathlib import Path

__all__ = [
    "UnusablePathError",
    "check_output_path",
    "make_folder",
    "make_unique_folder",
    "printable_path",
    "remove_if_empty",
]

PathLike = str | os.PathLike[str]
_MAX_SUFFIX = 10_000


class UnusablePathError(ValueError):
    """An output path cannot be used: unencodable, under a file, not writable ..."""


def printable_path(path: PathLike) -> str:
    """``path`` as text that can always be printed or written as UTF-8.

    Undecodable bytes in a POSIX file name (kept by Python as lone surrogates) become
    ``\\udcff``-style escapes instead of making ``print`` or ``str.encode`` fail.
    """
    return os.fspath(path).encode("utf-8", "backslashreplace").decode("utf-8")


def check_output_path(path: PathLike, what: str) -> Path:
    """Check that folder ``path`` exists or can be created, before any work starts.

    Parameters
    ----------
    path : the folder to write into.
    what : how the message calls it (``"--out"``, ``"run folder"``).

    Returns
    -------
    ``path`` as a ``Path``.

    Raises
    ------
    UnusablePathError
        The path is empty, holds a NUL, cannot be encoded by the file system, names a
        file or a broken link, runs through a file or a symbolic-link loop, or its
        nearest existing folder is not writable.
    """
    text = os.fspath(path)
    shown = f"{what} {printable_path(text)!r}"
    if not text:
        raise UnusablePathError(f"{what} is empty")
    if "\0" in text:
        raise UnusablePathError(f"{shown} contains a NUL character")
    try:
        os.fsencode(text)
    except UnicodeEncodeError:
        raise UnusablePathError(
            f"{shown} cannot be encoded by the file system "
            f"(encoding {sys.getfilesystemencoding()})"
        ) from None
    target = Path(text)
    for candidate in (target, *target.parents):
        try:
            info = os.stat(candidate)
        except NotADirectoryError:
            continue  # a parent is a file: found (and named) further up
        except FileNotFoundError:
            if os.path.islink(candidate):
                raise UnusablePathError(
                    f"{shown}: {printable_path(candidate)} is a broken symbolic link"
                ) from None
            continue
        except OSError as err:
            raise UnusablePathError(f"{shown} cannot be used: {_reason(err)}") from None
        if not stat.S_ISDIR(info.st_mode):
            where = "exists and" if candidate == target else f"runs through {candidate}, which"
            raise UnusablePathError(f"{shown} {where} is not a folder")
        if not os.access(candidate, os.W_OK | os.X_OK):
            raise UnusablePathError(
                f"{shown} cannot be written: no write permission in {printable_path(candidate)}"
            )
        break
    return target


def make_folder(path: PathLike, what: str) -> Path:
    """Create folder ``path`` and its parents if needed (``mkdir -p``), with clear errors."""
    target = check_output_path(path, what)
    try:
        target.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise UnusablePathError(
            f"{what} {printable_path(target)!r} exists and is not a folder"
        ) from None
    except OSError as err:
        raise UnusablePathError(
            f"{what} {printable_path(target)!r} cannot be created: {_reason(err)}"
        ) from None
    return target


def make_unique_folder(parent: PathLike, stem: str, what: str = "run folder") -> Path:
    """Create ``parent/stem`` (or ``stem-2``, ``stem-3`` ... if taken) exclusively.

    Returns
    -------
    The folder this call created: no other process can have created the same one.
    """
    base = make_folder(parent, what)
    for number in range(1, _MAX_SUFFIX + 1):
        candidate = base / (stem if number == 1 else f"{stem}-{number}")
        try:
            candidate.mkdir()
        except FileExistsError:
            continue
        except OSError as err:
            raise UnusablePathError(
                f"{what} {printable_path(candidate)!r} cannot be created: {_reason(err)}"
            ) from None
        return candidate
    raise UnusablePathError(
        f"no free {what} name {printable_path(base / stem)!r}-N after {_MAX_SUFFIX} tries"
    )


def remove_if_empty(folder: PathLike) -> bool:
    """Remove ``folder`` if it is empty (a run that failed before writing); whether it was."""
    try:
        os.rmdir(folder)  # refuses a folder with anything in it
    except OSError:
        return False
    return True


def _reason(err: OSError) -> str:
    if err.errno == errno.ELOOP:
        return "a symbolic-link loop"
    return err.strerror or str(err)
