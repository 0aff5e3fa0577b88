"""One read-only copy of the data for every worker process of a search.

On Linux the split's arrays are written as ``.npy`` into anonymous memory files
(``memfd_create``) and the workers inherit their descriptors and map them read-only
(``/proc/self/fd/N``): N workers add no copy of the 600 MB training set, and because the
files have no name, nothing is left behind in ``/dev/shm`` however the search ends; the
kernel frees the memory when the last process holding it exits.

Elsewhere the arrays go to a folder named ``minigrad-tune-<pid>-<start time>-...`` in
``/dev/shm`` (or the temp folder), removed when the search ends; a search that was killed
leaves it, and the next search removes every such folder whose process is gone.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from minigrad.files.folder_lock import process_alive, process_start_time
from minigrad.tune.search_data import SearchData

__all__ = ["SHARED_PREFIX", "SharedSplit", "map_shared", "remove_stale_copies"]

SHARED_PREFIX = "minigrad-tune-"


def _shared_parent() -> str | None:
    shm = Path("/dev/shm")
    return str(shm) if shm.is_dir() and os.access(shm, os.W_OK) else None


def remove_stale_copies(parent: str | None = None) -> list[Path]:
    """Remove copies of data left by searches whose process is gone; return them."""
    removed: list[Path] = []
    folder = Path(parent or _shared_parent() or tempfile.gettempdir())
    try:
        entries = list(folder.glob(SHARED_PREFIX + "*"))
    except OSError:
        return removed
    for entry in entries:
        parts = entry.name[len(SHARED_PREFIX):].split("-")
        if len(parts) < 3 or not (parts[0].isdigit() and parts[1].isdigit()):
            continue  # not named by this scheme: not ours to judge
        if process_alive(int(parts[0]), int(parts[1])):
            continue
        shutil.rmtree(entry, ignore_errors=True)
        removed.append(entry)
    return removed


class SharedSplit:
    """A search's arrays (:meth:`SearchData.arrays`: rows, images, labels) shared with
    child processes.

    Use as a context manager; :attr:`spec` is what a child passes to :func:`map_shared`,
    :attr:`fds` the descriptors to hand it (``subprocess.Popen(pass_fds=...)``).
    """

    def __init__(self, data: Any) -> None:
        arrays = SearchData.of(data).arrays()
        self._fds: dict[str, int] = {}
        self._folder: Path | None = None
        if hasattr(os, "memfd_create") and Path("/proc/self/fd").is_dir():
            for name, array in arrays.items():
                fd = os.memfd_create(f"{SHARED_PREFIX}{name}")
                self._fds[name] = fd
                with os.fdopen(os.dup(fd), "wb") as file:
                    np.save(file, np.ascontiguousarray(array))
        else:
            remove_stale_copies()
            pid = os.getpid()
            self._folder = Path(tempfile.mkdtemp(
                prefix=f"{SHARED_PREFIX}{pid}-{process_start_time(pid) or 0}-",
                dir=_shared_parent(),
            ))
            for name, array in arrays.items():
                np.save(self._folder / f"{name}.npy", np.ascontiguousarray(array))

    @property
    def spec(self) -> dict[str, Any]:
        if self._folder is not None:
            return {"folder": os.fspath(self._folder)}
        return {"fds": dict(self._fds)}

    @property
    def fds(self) -> tuple[int, ...]:
        return tuple(self._fds.values())

    def view(self) -> SearchData:
        """The shared arrays mapped read-only in this process (the descriptors stay open),
        so the search's own process can drop its private copy of the data."""
        return map_shared(self.spec, close=False)

    def close(self) -> None:
        for fd in self._fds.values():
            with contextlib.suppress(OSError):
                os.close(fd)
        self._fds.clear()
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)
            self._folder = None

    def __enter__(self) -> SharedSplit:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def map_shared(spec: Mapping[str, Any], *, close: bool = True) -> SearchData:
    """The arrays of a :class:`SharedSplit`, mapped read-only (in a child process).

    With ``close``, the inherited descriptors are closed once mapped: the mappings keep
    the memory.
    """
    paths: dict[str, str] = {}
    fds = spec.get("fds")
    if isinstance(fds, dict):
        paths = {name: f"/proc/self/fd/{int(fd)}" for name, fd in fds.items()}
    else:
        folder = Path(str(spec["folder"]))
        paths = {path.stem: os.fspath(path) for path in folder.glob("*.npy")}
    # np.asarray drops the memmap subclass: plain ndarrays over the same read-only pages.
    arrays = {name: np.asarray(np.load(path, mmap_mode="r")) for name, path in paths.items()}
    if close and isinstance(fds, dict):
        for fd in fds.values():
            with contextlib.suppress(OSError):
                os.close(int(fd))
    return SearchData.from_arrays(arrays)
