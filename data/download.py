"""Download an archive, verify its md5 and unpack it safely, so a failure leaves nothing behind.

The bytes stream into a ``*.part`` file next to the destination; the archive is checked
member by member before anything is written (no absolute paths, no ``..``, no links or
devices); it is unpacked into a hidden temporary folder beside the destination and only
then moved into place with ``os.replace``. A half-finished download or extraction
therefore never looks like a complete data set, and every failure removes its temporaries.

Bounds: ``timeout`` limits each wait on the network, and ``deadline`` the whole transfer
(connecting, the headers and the body: a server that trickles a byte every half second
is cut off); ``max_bytes`` caps the archive whether or not the server announces its size.
A process killed mid-download cannot remove its ``*.part`` file: the next download sweeps
those nobody holds any more (each live download holds an ``flock`` on its own).
"""

from __future__ import annotations

import hashlib
import http.client
import os
import shutil
import socket
import tarfile
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterable
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any, BinaryIO

from tqdm.auto import tqdm

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "ChecksumError",
    "DataFetchError",
    "DownloadError",
    "UnsafeArchiveError",
    "download_and_extract",
    "extract_archive",
    "file_md5",
    "sweep_stale_partials",
    "unsafe_member_reason",
]

DEFAULT_DEADLINE = 3600.0
"""Seconds a whole download may take by default."""
DEFAULT_MAX_BYTES = 4 << 30
"""The largest archive downloaded by default (4 GiB)."""
MAX_ARCHIVE_MEMBERS = 10_000
MAX_EXTRACTED_BYTES = 8 << 30  # what an archive may unpack to (CIFAR-10: 178 MB)
PART_SUFFIX = ".part"
STAGING_PREFIX = ".extract-"
_PART_GRACE_SECONDS = 60.0  # a .part this young may be a download that has not locked it yet
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
    """Return the members if every one is safe, else raise naming the first bad one.

    ``members`` is consumed one header at a time, so an archive of a million members or
    of terabytes (a compression bomb) is refused at the cap, not after reading them all.
    """
    checked: list[tarfile.TarInfo] = []
    total = 0
    for member in members:
        reason = unsafe_member_reason(member)
        if reason is not None:
            raise UnsafeArchiveError(
                f"{archive}: member {member.name!r} {reason}; refusing to extract anything"
            )
        checked.append(member)
        total += member.size
        if len(checked) > MAX_ARCHIVE_MEMBERS or total > MAX_EXTRACTED_BYTES:
            raise UnsafeArchiveError(
                f"{archive}: more than {MAX_ARCHIVE_MEMBERS} members or "
                f"{MAX_EXTRACTED_BYTES} bytes to unpack; refusing to extract anything"
            )
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
    staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=dest_dir))
    try:
        with tar:
            try:
                members = _check_members(tar, str(archive))
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


class _Deadline:
    """Ends a transfer at a fixed time, wherever it waits: every socket it watches is shut
    down when the time is up, which wakes a blocked connect, header or body read."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.expired = False
        self._end = time.monotonic() + seconds
        self._sockets: list[socket.socket] = []
        self._guard = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def __enter__(self) -> _Deadline:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()

    @property
    def passed(self) -> bool:
        return self.expired or time.monotonic() > self._end

    def watch(self, sock: socket.socket) -> None:
        with self._guard:
            self._sockets.append(sock)
            if self.expired:
                _shut(sock)

    def _expire(self) -> None:
        with self._guard:
            self.expired = True
            for sock in self._sockets:
                _shut(sock)


def _shut(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # closed already, or detached when TLS wrapped it


def _watched(base: type[http.client.HTTPConnection], deadline: _Deadline) -> Any:
    """``base`` whose sockets (the TCP one and, for https, the TLS one) ``deadline`` watches."""

    class Watched(base):  # type: ignore[valid-type, misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._create_connection = self._watched_connection

        def _watched_connection(self, *args: Any, **kwargs: Any) -> socket.socket:
            sock = socket.create_connection(*args, **kwargs)
            deadline.watch(sock)
            return sock

        def connect(self) -> None:
            super().connect()
            deadline.watch(self.sock)

    return Watched


class _HTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, deadline: _Deadline) -> None:
        super().__init__()
        self._deadline = deadline

    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_watched(http.client.HTTPConnection, self._deadline), req)


class _HTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, deadline: _Deadline) -> None:
        super().__init__()
        self._deadline = deadline

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        # context=None: http.client's default, which verifies certificates and host names.
        connection = _watched(http.client.HTTPSConnection, self._deadline)
        return self.do_open(connection, req, context=None)


def _open_url(url: str, timeout: float, deadline: _Deadline) -> Any:
    """``urlopen`` whose every socket ``deadline`` can cut (http and https)."""
    opener = urllib.request.build_opener(_HTTPHandler(deadline), _HTTPSHandler(deadline))
    return opener.open(url, timeout=timeout)


def _stream(
    response: Any, out: BinaryIO, url: str, progress: bool, deadline: _Deadline, max_bytes: int
) -> str:
    """Copy the response body into ``out``; return its hex md5.

    Raises ``DownloadError`` when fewer bytes arrive than the server announced (a dropped
    connection ends the body early without any exception from ``read``), when more than
    ``max_bytes`` are announced or arrive, or when the deadline passes.
    """
    expected = _content_length(response)
    if expected is not None and expected > max_bytes:
        raise DownloadError(
            f"download of {url} refused: the server announces {expected} bytes, more than "
            f"the {max_bytes} allowed"
        )
    digest = hashlib.md5(usedforsecurity=False)
    received = 0
    label = PurePosixPath(urllib.parse.urlsplit(url).path).name or url
    # read1 returns what has arrived (at most one socket read), so the deadline is checked
    # between reads even when the server trickles; read() would wait for a full chunk.
    read = getattr(response, "read1", response.read)
    with tqdm(
        total=expected,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        desc=label,
        disable=not progress,
    ) as bar:
        while True:
            chunk = read(_CHUNK_BYTES)
            if deadline.passed:
                raise _deadline_error(url, deadline, received)
            if not chunk:
                break
            received += len(chunk)
            if received > max_bytes:
                raise DownloadError(
                    f"download of {url} stopped: more than the {max_bytes} bytes allowed "
                    "arrived (the server did not announce a size)"
                )
            out.write(chunk)
            digest.update(chunk)
            bar.update(len(chunk))
    if expected is not None and received != expected:
        raise DownloadError(
            f"transfer of {url} interrupted: received {received} of {expected} bytes"
        )
    return digest.hexdigest()


def _deadline_error(url: str, deadline: _Deadline, received: int) -> DownloadError:
    return DownloadError(
        f"download of {url} timed out: not finished within the deadline of "
        f"{deadline.seconds:g} s ({received} bytes received)"
    )


def _hold(fd: int) -> None:
    """Mark our ``.part`` file as live for as long as this process has it open."""
    if fcntl is not None:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            pass  # a file system without flock: the age rule of the sweep still applies


def _unheld(path: Path) -> bool:
    """Whether no live process holds ``path`` (its downloader died); needs flock."""
    assert fcntl is not None
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False  # a live download is writing it
    except OSError:
        return True  # no flock here: the age decides
    finally:
        os.close(fd)
    return True


def sweep_stale_partials(
    folder: str | os.PathLike[str], older_than: float = DEFAULT_DEADLINE
) -> list[Path]:
    """Remove what killed downloads left in ``folder``: ``*.part`` files and staging folders.

    A ``*.part`` file is stale when no live process holds it (and it is more than a
    minute old), or, where that cannot be told, when it is older than ``older_than``
    seconds; a ``.extract-*`` folder when it is older than ``older_than``.

    Returns
    -------
    The paths removed.
    """
    now, removed = time.time(), []
    try:
        entries = list(Path(folder).iterdir())
    except OSError:
        return []
    for entry in entries:
        try:
            age = now - entry.lstat().st_mtime
        except OSError:
            continue
        if entry.name.endswith(PART_SUFFIX) and entry.is_file():
            abandoned = fcntl is not None and age > _PART_GRACE_SECONDS and _unheld(entry)
            if abandoned or age > older_than:
                entry.unlink(missing_ok=True)
                removed.append(entry)
        elif entry.name.startswith(STAGING_PREFIX) and entry.is_dir() and age > older_than:
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
    return removed


def download_and_extract(
    url: str,
    dest_dir: str | os.PathLike[str],
    md5: str,
    *,
    progress: bool = True,
    timeout: float = 60.0,
    deadline: float = DEFAULT_DEADLINE,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> list[Path]:
    """Download a tarball, verify its md5, and unpack it safely into ``dest_dir``.

    Parameters
    ----------
    url : where to fetch the archive (http, https or file).
    dest_dir : folder (created if needed) that receives the archive's top-level entries; the
        temporary ``*.part`` file and extraction folder are created here too, so the final
        ``os.replace`` stays on one file system. Stale ``*.part`` files of killed downloads
        are removed first (:func:`sweep_stale_partials`).
    md5 : expected hex md5 of the archive.
    progress : show a tqdm progress bar.
    timeout : seconds a connect or a single read may block.
    deadline : seconds the whole transfer may take, however the server paces it.
    max_bytes : the largest archive accepted, announced or not.

    Returns
    -------
    The top-level paths created (or replaced) in ``dest_dir``. The archive is not kept.

    Raises
    ------
    DownloadError : network failure, HTTP error, fewer bytes than announced, more than
        ``max_bytes``, or past the deadline.
    ChecksumError : the bytes received do not have the expected md5.
    UnsafeArchiveError : a member is absolute, climbs out with ``..``, or is a link/device.
    In every case no ``*.part`` file and no partial folder is left in ``dest_dir``.
    """
    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    sweep_stale_partials(dest_dir, older_than=max(deadline, timeout))
    label = PurePosixPath(urllib.parse.urlsplit(url).path).name or "download"
    fd, part_name = tempfile.mkstemp(prefix=label + ".", suffix=PART_SUFFIX, dir=dest_dir)
    part = Path(part_name)
    _hold(fd)
    try:
        with os.fdopen(fd, "wb") as out, _Deadline(deadline) as clock:
            try:
                with _open_url(url, timeout, clock) as response:
                    actual = _stream(response, out, url, progress, clock, max_bytes)
            except (OSError, http.client.HTTPException) as exc:
                # URLError, HTTPError, timeouts and resets are OSErrors; IncompleteRead is not.
                if clock.passed:
                    raise _deadline_error(url, clock, out.tell()) from exc
                raise DownloadError(f"download of {url} failed: {exc}") from exc
        if actual != md5.lower():
            raise ChecksumError(
                f"download of {url} has md5 {actual}, expected {md5}: corrupt transfer or a "
                "different file; nothing was kept"
            )
        return _extract_checked(part, dest_dir)
    finally:
        part.unlink(missing_ok=True)
