"""Folder locks: a second writer is refused naming the holder, a dead holder's lock is taken over.

The holders here are real processes (a lock held by this process is re-entrant, so it
could not show a refusal); each one prints a line once it holds the lock, then waits.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

import minigrad.files.folder_lock as folder_lock
from minigrad.files.folder_lock import (
    LOCK_FILE,
    FolderInUseError,
    FolderLockError,
    lock_folder,
    process_alive,
)

HOLDER = (
    "import sys, time\n"
    "from minigrad.files.folder_lock import lock_folder\n"
    "lock = lock_folder(sys.argv[1])\n"
    "print('held', flush=True)\n"
    "time.sleep(60)\n"
)


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}


@pytest.fixture
def holder(tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    """Another process holding the lock of ``tmp_path / "run"``."""
    folder = tmp_path / "run"
    folder.mkdir()
    process = subprocess.Popen([sys.executable, "-c", HOLDER, str(folder)], env=_env(),
                               stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None and process.stdout.readline().strip() == "held"
    yield process
    process.kill()
    process.wait(timeout=30)


def test_a_second_writer_is_refused_naming_the_pid(
    holder: subprocess.Popen[str], tmp_path: Path
) -> None:
    with pytest.raises(FolderInUseError, match=f"is in use by PID {holder.pid}") as caught:
        lock_folder(tmp_path / "run")
    assert caught.value.pid == holder.pid
    record = json.loads((tmp_path / "run" / LOCK_FILE).read_text())
    assert record["pid"] == holder.pid  # the holder's record is untouched


@pytest.fixture
def live_pid() -> Iterator[int]:
    """The PID of a live process other than this one."""
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield process.pid
    process.kill()
    process.wait(timeout=30)


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait(timeout=30)
    return process.pid


def _flock_without_record(folder: Path, content: bytes) -> int:
    """A holder caught between taking the flock and writing its record (this is a
    second open file description, so its flock conflicts with ``lock_folder``'s)."""
    import fcntl

    fd = os.open(folder / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    os.write(fd, content)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    return fd


@pytest.mark.skipif(os.name != "posix", reason="flock")
@pytest.mark.parametrize("before", ["empty", "a killed holder's record"])
def test_a_refusal_names_a_holder_that_has_not_written_its_record_yet(
    tmp_path: Path, live_pid: int, before: str
) -> None:
    # Two runs started together: the loser used to read the winner's lock file before
    # the winner wrote its PID into it, and said "in use by another process".
    stale = json.dumps({"pid": _dead_pid()}).encode() if before != "empty" else b""
    fd = _flock_without_record(tmp_path, stale)
    record = json.dumps({"pid": live_pid}).encode()
    writer = threading.Timer(0.3, lambda: (os.ftruncate(fd, 0), os.pwrite(fd, record, 0)))
    writer.start()
    try:
        with pytest.raises(FolderInUseError, match=f"is in use by PID {live_pid}:") as caught:
            lock_folder(tmp_path)
        assert caught.value.pid == live_pid
    finally:
        writer.join()
        os.close(fd)


@pytest.mark.skipif(os.name != "posix", reason="flock")
def test_a_holder_that_never_writes_its_record_is_still_refused_clearly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(folder_lock, "_RECORD_WAIT_S", 0.1)
    fd = _flock_without_record(tmp_path, b"")
    try:
        with pytest.raises(FolderInUseError, match="is in use by another process") as caught:
            lock_folder(tmp_path)
        assert caught.value.pid is None
    finally:
        os.close(fd)


def test_a_lock_left_by_a_killed_process_is_taken_over(
    holder: subprocess.Popen[str], tmp_path: Path
) -> None:
    holder.send_signal(signal.SIGKILL)  # no chance to clean up: the lock file stays
    holder.wait(timeout=30)
    assert (tmp_path / "run" / LOCK_FILE).exists()
    assert not process_alive(holder.pid)
    with lock_folder(tmp_path / "run") as lock:
        assert lock.taken_over_from == holder.pid
        assert json.loads(lock.path.read_text())["pid"] == os.getpid()
    assert not (tmp_path / "run" / LOCK_FILE).exists()


def test_a_lock_file_with_garbage_and_no_holder_is_taken_over(tmp_path: Path) -> None:
    (tmp_path / LOCK_FILE).write_bytes(b"\xff\x00 not a record" * 100)
    with lock_folder(tmp_path) as lock:
        assert lock.taken_over_from is None  # it named nobody
    assert list(tmp_path.iterdir()) == []


def test_the_lock_is_reentrant_within_a_process_and_the_last_release_removes_it(
    tmp_path: Path,
) -> None:
    outer = lock_folder(tmp_path)
    inner = lock_folder(tmp_path / ".")  # another spelling of the same folder
    assert inner is outer and outer.held
    inner.release()
    assert (tmp_path / LOCK_FILE).exists() and outer.held
    outer.release()
    assert not outer.held and not (tmp_path / LOCK_FILE).exists()
    outer.release()  # once more is harmless


def test_a_process_that_waits_for_a_released_lock_gets_it(
    holder: subprocess.Popen[str], tmp_path: Path
) -> None:
    holder.send_signal(signal.SIGTERM)  # a normal exit: the kernel drops the flock
    holder.wait(timeout=30)
    with lock_folder(tmp_path / "run"):
        pass


@pytest.mark.parametrize("kind", ["missing", "file"])
def test_what_is_not_a_folder_cannot_be_locked(tmp_path: Path, kind: str) -> None:
    target = tmp_path / "x"
    if kind == "file":
        target.write_text("a file")
    with pytest.raises(FolderLockError, match="does not exist" if kind == "missing"
                       else "is not a folder"):
        lock_folder(target)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0,
                    reason="root writes into read-only folders")
def test_a_read_only_folder_cannot_be_locked(tmp_path: Path) -> None:
    tmp_path.chmod(0o555)
    try:
        with pytest.raises(FolderLockError, match="cannot create .minigrad.lock"):
            lock_folder(tmp_path)
    finally:
        tmp_path.chmod(0o755)


def test_a_lock_file_that_cannot_be_created_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_open = os.open

    def read_only(path: object, flags: int, *args: object) -> int:
        if str(path).endswith(LOCK_FILE):
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_open(path, flags, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(folder_lock.os, "open", read_only)
    with pytest.raises(FolderLockError, match=r"cannot lock .* \(Permission denied\)"):
        lock_folder(tmp_path)


def test_errors_are_picklable_for_worker_processes() -> None:
    import pickle

    error = pickle.loads(pickle.dumps(FolderInUseError("in use by PID 7", 7)))
    assert (str(error), error.pid) == ("in use by PID 7", 7)


def test_process_alive_knows_dead_and_reused_pids() -> None:
    assert process_alive(os.getpid())
    assert not process_alive(0) and not process_alive(-5)
    start = folder_lock.process_start_time(os.getpid())
    if start is not None:  # Linux: a PID with another start time is another process
        assert process_alive(os.getpid(), start)
        assert not process_alive(os.getpid(), start + 1)
