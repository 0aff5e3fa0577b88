"""One writer per folder: a lock file that names its holder and dies with it.

:func:`lock_folder` creates ``<folder>/.minigrad.lock`` (``O_EXCL`` tells whether it was
new), takes ``fcntl.flock`` on it for as long as the lock is held, and writes the
holder's PID, its start time and the host into it. The kernel drops a ``flock`` when
its process dies, however it dies, so

- a second process that finds the ``flock`` taken is refused with
  :class:`FolderInUseError` naming the holder's PID (a holder writes its record just
  after it takes the ``flock``, so the refusal waits up to 2 s for that record);
- a lock file whose ``flock`` is free was left by a process that was killed: it is taken
  over (``FolderLock.taken_over_from`` says from which PID).

Within one process the lock is re-entrant (the CLI holds a run folder while loading the
data, then the training run takes it again), counted by the folder's device and inode.
Releasing it the last time removes the lock file. Where ``fcntl`` does not exist
(Windows) the open lock file itself is the lock: it cannot be deleted while its holder
has it open.
"""

from __future__ import annotations

import json
import os
import socket
import stat
import threading
import time
from dataclasses import dataclass
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "LOCK_FILE",
    "FolderInUseError",
    "FolderLock",
    "FolderLockError",
    "LockOwner",
    "lock_folder",
    "process_alive",
    "process_start_time",
]

LOCK_FILE = ".minigrad.lock"
_MAX_RECORD_BYTES = 4096
_ATTEMPTS = 20
_RECORD_WAIT_S = 2.0

PathLike = str | os.PathLike[str]


class FolderLockError(OSError):
    """A folder cannot be locked for writing (missing, not a folder, not writable ...)."""


class FolderInUseError(FolderLockError):
    """Another live process holds the folder's lock.

    Attributes
    ----------
    pid : the holder's process id (None if its lock file does not say).
    """

    def __init__(self, message: str, pid: int | None = None) -> None:
        super().__init__(message)
        self.pid = pid

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (str(self), self.pid))


@dataclass(frozen=True)
class LockOwner:
    """What a lock file says about its holder (each field None when it does not say)."""

    pid: int | None = None
    start_time: int | None = None
    host: str | None = None


def process_start_time(pid: int) -> int | None:
    """When process ``pid`` started, in clock ticks since boot (Linux), else None.

    With the PID it identifies a process: a PID reused by a later process has another
    start time.
    """
    try:
        text = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    fields = text[text.rfind(")") + 2 :].split()  # the name in (...) may hold spaces
    return int(fields[19]) if len(fields) > 19 and fields[19].isdigit() else None


def process_alive(pid: int, start_time: int | None = None) -> bool:
    """Whether process ``pid`` exists (and, if ``start_time`` is given, is that process)."""
    if pid <= 0:
        return False
    if os.name == "posix":
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            pass  # it exists, it belongs to another user
    if start_time is not None:
        actual = process_start_time(pid)
        if actual is not None and actual != start_time:
            return False
    return True


def _own_record() -> bytes:
    pid = os.getpid()
    record = {"pid": pid, "start_time": process_start_time(pid), "host": socket.gethostname()}
    return (json.dumps(record) + "\n").encode("utf-8")


def _read_owner(fd: int) -> LockOwner:
    """The holder a lock file names; fields it does not hold (or garbage) are None."""
    try:
        data = os.pread(fd, _MAX_RECORD_BYTES, 0) if hasattr(os, "pread") else b""
        record = json.loads(data.decode("utf-8"))
    except (OSError, ValueError, RecursionError):
        return LockOwner()
    if not isinstance(record, dict):
        return LockOwner()

    def number(key: str) -> int | None:
        value = record.get(key)
        return value if type(value) is int and value >= 0 else None

    host = record.get("host")
    return LockOwner(number("pid"), number("start_time"), host if isinstance(host, str) else None)


def _describe_owner(folder: Path, owner: LockOwner) -> str:
    who = f"PID {owner.pid}" if owner.pid is not None else "another process"
    where = f" on {owner.host}" if owner.host and owner.host != socket.gethostname() else ""
    return (
        f"{folder} is in use by {who}{where}: another minigrad process is writing into it "
        "(wait for it to finish, or choose another folder)"
    )


def _same_file(fd: int, path: Path) -> bool:
    """Whether ``path`` still names the file open as ``fd`` (not removed or replaced)."""
    try:
        here, there = os.fstat(fd), os.stat(path)
    except OSError:
        return False
    return (here.st_dev, here.st_ino) == (there.st_dev, there.st_ino)


class FolderLock:
    """A held folder lock; :meth:`release` it (or use it as a context manager).

    Attributes
    ----------
    folder : the locked folder.
    path : its lock file.
    taken_over_from : the PID of the killed process whose stale lock this took over.
    """

    def __init__(self, folder: Path, key: tuple[int, int], fd: int,
                 taken_over_from: int | None) -> None:
        self.folder = folder
        self.path = folder / LOCK_FILE
        self.taken_over_from = taken_over_from
        self._key = key
        self._fd = fd
        self._pid = os.getpid()
        self._depth = 1

    @property
    def held(self) -> bool:
        """Whether this process still holds the lock."""
        return self._depth > 0 and self._pid == os.getpid()

    def release(self) -> None:
        """Give the lock back once; the last release removes the lock file."""
        with _REGISTRY_LOCK:
            if self._depth <= 0:
                return
            self._depth -= 1
            if self._depth > 0:
                return
            if _HELD.get(self._key) is self:
                del _HELD[self._key]
        if self._pid == os.getpid() and _same_file(self._fd, self.path):
            # Removed while still held, so nobody can take over a file about to vanish.
            try:
                self.path.unlink()
            except OSError:
                pass  # a read-only folder now, or removed already: the flock still ends
        os.close(self._fd)

    def __enter__(self) -> FolderLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def __repr__(self) -> str:
        return f"FolderLock({os.fspath(self.folder)!r}, held={self.held})"


_REGISTRY_LOCK = threading.Lock()
_HELD: dict[tuple[int, int], FolderLock] = {}


def _folder_key(folder: Path) -> tuple[int, int]:
    try:
        info = os.stat(folder)
    except FileNotFoundError:
        raise FolderLockError(f"cannot lock {folder}: it does not exist") from None
    except (OSError, ValueError) as err:
        raise FolderLockError(f"cannot lock {folder}: {_reason(err)}") from None
    if not stat.S_ISDIR(info.st_mode):
        raise FolderLockError(f"cannot lock {folder}: it is not a folder")
    return info.st_dev, info.st_ino


def lock_folder(folder: PathLike) -> FolderLock:
    """Lock ``folder`` for writing by this process (re-entrant within the process).

    Raises
    ------
    FolderInUseError
        A live process holds the lock (the message names its PID).
    FolderLockError
        The folder does not exist, is not a folder, or the lock file cannot be created.
    """
    path = Path(folder)
    key = _folder_key(path)
    with _REGISTRY_LOCK:
        held = _HELD.get(key)
        if held is not None and held.held:
            held._depth += 1
            return held
        lock = _acquire(path, key)
        _HELD[key] = lock
        return lock


def _acquire(folder: Path, key: tuple[int, int]) -> FolderLock:
    lock_path = folder / LOCK_FILE
    cloexec = getattr(os, "O_CLOEXEC", 0)
    for _ in range(_ATTEMPTS):
        created = True
        try:
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_EXCL | cloexec, 0o644)
        except FileExistsError:
            created = False
            if fcntl is None and not _remove_unheld(lock_path):
                raise FolderInUseError(_describe_owner(folder, LockOwner())) from None
            try:
                fd = os.open(lock_path, os.O_RDWR | cloexec)
            except FileNotFoundError:
                continue  # released in between: create it afresh
            except OSError as err:
                raise FolderLockError(f"cannot lock {folder}: {_reason(err)}") from None
        except OSError as err:
            raise FolderLockError(
                f"cannot lock {folder} for writing: cannot create {LOCK_FILE} ({_reason(err)})"
            ) from None
        try:
            lock = _take(folder, key, fd, lock_path, created)
        except BaseException:
            os.close(fd)
            raise
        if lock is not None:
            return lock
        os.close(fd)
    raise FolderLockError(f"cannot lock {folder}: its lock file keeps changing")


def _take(
    folder: Path, key: tuple[int, int], fd: int, lock_path: Path, created: bool
) -> FolderLock | None:
    """Hold ``fd``'s flock and write our record; None if the file was replaced meanwhile."""
    if fcntl is not None:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = _wait_for_holder(fd)
            raise FolderInUseError(_describe_owner(folder, owner), owner.pid) from None
        except OSError:  # a file system without flock (some network ones): the PID decides
            if not created:
                owner = _wait_for_holder(fd)
                if _owner_alive(owner):
                    raise FolderInUseError(_describe_owner(folder, owner), owner.pid) from None
    if not _same_file(fd, lock_path):
        return None  # its holder released (removed) it between our open and our flock
    previous = None if created else _read_owner(fd).pid
    os.ftruncate(fd, 0)
    os.lseek(fd, 0, os.SEEK_SET)
    os.write(fd, _own_record())
    return FolderLock(folder, key, fd, previous)


def _wait_for_holder(fd: int) -> LockOwner:
    """The holder a taken lock file names, once it names a live process (or time is up).

    A holder writes its record just after it takes the flock, so for a moment the file
    can be empty, or still name the killed process it is taking over from.
    """
    deadline = time.monotonic() + _RECORD_WAIT_S
    while True:
        owner = _read_owner(fd)
        if _owner_alive(owner) or time.monotonic() >= deadline:
            return owner
        time.sleep(0.01)


def _owner_alive(owner: LockOwner) -> bool:
    """Whether the lock file's holder is a live process of this host (not this one)."""
    if owner.pid is None or owner.pid == os.getpid():
        return False
    if owner.host is not None and owner.host != socket.gethostname():
        return True  # another machine's process: it cannot be checked, so assume it lives
    return process_alive(owner.pid, owner.start_time)


def _remove_unheld(lock_path: Path) -> bool:
    """Without flock: an open lock file cannot be removed (Windows), so removal means stale."""
    try:
        lock_path.unlink()
    except FileNotFoundError:
        return True
    except OSError:
        return False
    return True


def _reason(err: BaseException) -> str:
    if isinstance(err, OSError) and err.strerror:
        return err.strerror
    return str(err) or type(err).__name__
