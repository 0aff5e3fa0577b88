"""Download an archive, verify its md5 and unpack it safely, so a failure leaves nothing behind.

The bytes stream into a ``*.part`` file next to the destination; the archive is checked
member by member before anything is written (no absolute paths, no ``..``, no links or
devices); it is unpacked into a hidden temporary folder beside the destination and only
then moved into place with ``os.replace``. A half-finished download or extraction
therefore never looks like a complete data set, and every failure removes its temporaries.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import shutil
import tarfile
import tempfile
import urllib.parse
import urllib.request
from collections.abc import Iterable
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import BinaryIO

from tqdm.auto import tqdm

__all__ = [
    "ChecksumError",
    "DataFetchError",
    "DownloadError",
    "UnsafeArchiveError",
    "download_and_extract",
    "extract_archive",
    "file_md5",
    "unsafe_member_reason",
]

_CHUNK_BYTES = 1 << 20
# tarfile.FilterError only exists where extraction filters were backported (3.10.12+).
_FILTER_ERRORS: tuple[type[Exception], ...] = (
    (tarfile.FilterError,) if hasattr(tarfile, "FilterError") else ()
)


class DataFetchError(RuntimeError):
    """Fetching or unpacking a data archive failed; nothing partial was left behind."""


class DownloadError(DataFetchError):
    """The transfer failed, was cut short, or produced an unreadable archive."""


class ChecksumError(DownloadError):
    """The archive's md5 differs from the expected one."""


class UnsafeArchiveError(DataFetchError):
    """An archive member would write outside the destination or is not a plain file/folder."""


def file_md5(path: str | os.PathLike[str]) -> str:
    """Hex md5 of a file, read in chunks so memory stays constant."""
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(_CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()


def unsafe_member_reason(member: tarfile.TarInfo) -> str | None:
    """Why extracting ``member`` would be unsafe, or ``None`` if it is a plain file/folder
    with a relative path that stays inside the destination."""
    name = member.name
    # Tar names are POSIX paths, but a backslash or drive would be a path on Windows.
    parts = name.replace("\\", "/").split("/")
    if not name or not name.strip("/"):
        return "has an empty name"
    if PurePosixPath(name).is_absolute() or PureWindowsPath(name).drive or name[0] in "/\\":
        return "has an absolute path"
    if ".." in parts:
        return "contains '..' (it would escape the destination)"
    if member.issym():
        return f"is a symbolic link (to {member.linkname!r})"
    if member.islnk():
        return f"is a hard link (to {member.linkname!r})"
    if not (member.isfile() or member.isdir()):
        return "is a device, FIFO or other special file"
    return None


def _check_members(members: Iterable[tarfile.TarInfo], archive: str) -> list[tarfile.TarInfo]:
    """Return the members if every one is safe, else raise naming the first bad one."""
    checked = []
    for member in members:
        reason = unsafe_member_reason(member)
        if reason is not None:
            raise UnsafeArchiveError(
                f"{archive}: member {member.name!r} {reason}; refusing to extract anything"
            )
        checked.append(member)
    return checked


def _move_into_place(staging: Path, dest_dir: Path) -> list[Path]:
    """Move each top-level entry of ``staging`` into ``dest_dir``, replacing old copies."""
    placed = []
    for entry in sorted(staging.iterdir()):
        target = dest_dir / entry.name
        if target.is_dir() and not target.is_symlink():
            # os.replace cannot overwrite a non-empty folder: park the old one in staging,
            # which is deleted afterwards.
            os.replace(target, staging.with_name(staging.name + "-old-" + entry.name))
        os.replace(entry, target)
        placed.append(target)
    return placed


def _extract_checked(archive: Path, dest_dir: Path) -> list[Path]:
    """Unpack a verified-safe tarball into a temporary folder, then move it into place."""
    try:
        tar = tarfile.open(archive, "r:*")
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise DownloadError(f"{archive}: not a readable tar archive ({exc})") from exc
    staging = Path(tempfile.mkdtemp(prefix=".extract-", dir=dest_dir))
    try:
        with tar:
            try:
                members = _check_members(tar.getmembers(), str(archive))
                if hasattr(tarfile, "data_filter"):
                    # Python >= 3.10.12 / 3.11.4: the standard library's own safety net too.
                    tar.extractall(staging, members=members, filter="data")
                else:
                    tar.extractall(staging, members=members)
            except _FILTER_ERRORS as exc:
                raise UnsafeArchiveError(f"{archive}: {exc}; refusing to extract") from exc
            except (tarfile.TarError, EOFError, OSError) as exc:
                raise DownloadError(f"{archive}: corrupt tar archive ({exc})") from exc
        return _move_into_place(staging, dest_dir)
    finally:
        for leftover in dest_dir.glob(staging.name + "*"):
            shutil.rmtree(leftover, ignore_errors=True)


def extract_archive(
    archive: str | os.PathLike[str], dest_dir: str | os.PathLike[str], md5: str | None = None
) -> list[Path]:
    """Check an archive's md5 (when given) and unpack it safely into ``dest_dir``.

    Parameters
    ----------
    archive : a ``.tar``, ``.tar.gz``, ``.tar.bz2`` or ``.tar.xz`` file.
    dest_dir : the existing folder that receives the archive's top-level entries.
    md5 : expected hex md5 of ``archive``; ``None`` skips the check.

    Returns
    -------
    The top-level paths created (or replaced) in ``dest_dir``.

    Raises
    ------
    ChecksumError, DownloadError, UnsafeArchiveError : nothing was extracted.
    """
    archive, dest_dir = Path(archive), Path(dest_dir)
    if md5 is not None:
        actual = file_md5(archive)
        if actual != md5.lower():
            raise ChecksumError(f"{archive}: md5 is {actual}, expected {md5}; the file is corrupt")
    return _extract_checked(archive, dest_dir)


def _content_length(response: http.client.HTTPResponse) -> int | None:
    """The announced size in bytes, or ``None`` when the server does not say."""
    value = response.headers.get("Content-Length")
    return int(value) if value is not None and value.strip().isdigit() else None


def _stream(response: http.client.HTTPResponse, out: BinaryIO, url: str, progress: bool) -> str:
    """Copy the response body into ``out``; return its hex md5.

    Raises ``DownloadError`` when fewer bytes arrive than the server announced (a dropped
    connection ends the body early without any exception from ``read``).
    """
    expected = _content_length(response)
    digest = hashlib.md5(usedforsecurity=False)
    received = 0
    label = PurePosixPath(urllib.parse.urlsplit(url).path).name or url
    with tqdm(
        total=expected,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        desc=label,
        disable=not progress,
    ) as bar:
        for chunk in iter(lambda: response.read(_CHUNK_BYTES), b""):
            out.write(chunk)
            digest.update(chunk)
            received += len(chunk)
            bar.update(len(chunk))
    if expected is not None and received != expected:
        raise DownloadError(
            f"transfer of {url} interrupted: received {received} of {expected} bytes"
        )
    return digest.hexdigest()


def download_and_extract(
    url: str,
    dest_dir: str | os.PathLike[str],
    md5: str,
    *,
    progress: bool = True,
    timeout: float = 60.0,
) -> list[Path]:
    """Download a tarball, verify its md5, and unpack it safely into ``dest_dir``.

    Parameters
    ----------
    url : where to fetch the archive (http, https or file).
    dest_dir : folder (created if needed) that receives the archive's top-level entries; the
        temporary ``*.part`` file and extraction folder are created here too, so the final
        ``os.replace`` stays on one file system.
    md5 : expected hex md5 of the archive.
    progress : show a tqdm progress bar.
    timeout : seconds a connect or a read may block before the download fails.

    Returns
    -------
    The top-level paths created (or replaced) in ``dest_dir``. The archive is not kept.

    Raises
    ------
    DownloadError : network failure, HTTP error, or fewer bytes than announced.
    ChecksumError : the bytes received do not have the expected md5.
    UnsafeArchiveError : a member is absolute, climbs out with ``..``, or is a link/device.
    In every case no ``*.part`` file and no partial folder is left in ``dest_dir``.
    """
    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    label = PurePosixPath(urllib.parse.urlsplit(url).path).name or "download"
    fd, part_name = tempfile.mkstemp(prefix=label + ".", suffix=".part", dir=dest_dir)
    part = Path(part_name)
    try:
        with os.fdopen(fd, "wb") as out:
            try:
                with urllib.request.urlopen(url, timeout=timeout) as response:
                    actual = _stream(response, out, url, progress)
            except (OSError, http.client.HTTPException) as exc:
                # URLError, HTTPError, timeouts and resets are OSErrors; IncompleteRead is not.
                raise DownloadError(f"download of {url} failed: {exc}") from exc
        if actual != md5.lower():
            raise ChecksumError(
                f"download of {url} has md5 {actual}, expected {md5}: corrupt transfer or a "
                "different file; nothing was kept"
            )
        return _extract_checked(part, dest_dir)
    finally:
        part.unlink(missing_ok=True)
