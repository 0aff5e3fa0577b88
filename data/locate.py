"""Decide which folder the CIFAR-10 batches are read from, downloading them as a last resort.

The order is: an explicit ``root``; the environment variable ``MINIGRAD_CIFAR10``; the
per-user cache (``MINIGRAD_CACHE_DIR`` or platformdirs' cache folder for "minigrad");
a download of the official archive into that cache. A folder the user named explicitly
(``root`` or ``MINIGRAD_CIFAR10``) must hold the files: we never download behind their back.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import platformdirs

from minigrad.data.download import (
    DEFAULT_DEADLINE,
    DataFetchError,
    download_and_extract,
    extract_archive,
)
from minigrad.data.safe_pickle import CifarFormatError

__all__ = [
    "CACHE_ENV_VAR",
    "CIFAR10_ARCHIVE_NAME",
    "CIFAR10_FILES",
    "CIFAR10_FOLDER_NAME",
    "CIFAR10_MD5",
    "CIFAR10_META_FILE",
    "CIFAR10_TEST_FILE",
    "CIFAR10_TRAIN_FILES",
    "CIFAR10_URL",
    "DATA_ENV_VAR",
    "CifarFilesMissingError",
    "CifarNotFoundError",
    "cifar10_cache_dir",
    "find_cifar10",
    "minigrad_cache_dir",
    "missing_cifar10_files",
]

CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR10_MD5 = "c58f30108f718f92721af3b95e74349a"
CIFAR10_ARCHIVE_NAME = "cifar-10-python.tar.gz"
CIFAR10_FOLDER_NAME = "cifar-10-batches-py"  # the archive's top-level folder
CIFAR10_ARCHIVE_BYTES = 170_498_071
CIFAR10_MAX_BYTES = 256 << 20  # the official archive, with room; never gigabytes
_CACHE_LOCK = ".cifar10-download.lock"
CIFAR10_TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR10_TEST_FILE = "test_batch"
CIFAR10_META_FILE = "batches.meta"
CIFAR10_FILES = (*CIFAR10_TRAIN_FILES, CIFAR10_TEST_FILE, CIFAR10_META_FILE)

DATA_ENV_VAR = "MINIGRAD_CIFAR10"
CACHE_ENV_VAR = "MINIGRAD_CACHE_DIR"

_WHAT_THE_FILES_ARE = (
    "the CIFAR-10 python release: batches.meta, data_batch_1 .. data_batch_5 and test_batch, "
    f"i.e. the '{CIFAR10_FOLDER_NAME}' folder inside {CIFAR10_ARCHIVE_NAME} ({CIFAR10_URL})"
)


class CifarFilesMissingError(CifarFormatError, FileNotFoundError):
    """A folder that should hold the CIFAR-10 batches lacks some of them."""


class CifarNotFoundError(FileNotFoundError):
    """No CIFAR-10 folder was found and none could be downloaded."""


def missing_cifar10_files(folder: str | os.PathLike[str]) -> list[str]:
    """Names from :data:`CIFAR10_FILES` that are not regular files in ``folder``."""
    folder = Path(folder)
    return [name for name in CIFAR10_FILES if not (folder / name).is_file()]


def minigrad_cache_dir() -> Path:
    """The per-user cache folder: ``$MINIGRAD_CACHE_DIR`` if set, else platformdirs'."""
    override = os.environ.get(CACHE_ENV_VAR)
    if override:
        return Path(override).expanduser()
    return Path(platformdirs.user_cache_dir("minigrad"))


def cifar10_cache_dir() -> Path:
    """Where the cached CIFAR-10 batches live: ``<cache>/cifar-10-batches-py``."""
    return minigrad_cache_dir() / CIFAR10_FOLDER_NAME


def _require_complete(folder: Path, origin: str) -> Path:
    """Return ``folder`` if it holds every CIFAR-10 file, else raise naming what is missing."""
    if not folder.is_dir():
        raise CifarFilesMissingError(
            f"CIFAR-10 folder {folder} ({origin}) does not exist; it should hold "
            f"{_WHAT_THE_FILES_ARE}. Nothing is downloaded for a folder you named yourself."
        )
    missing = missing_cifar10_files(folder)
    if not missing:
        return folder
    hint = ""
    if not missing_cifar10_files(folder / CIFAR10_FOLDER_NAME):
        hint = f" (they are in {folder / CIFAR10_FOLDER_NAME}: did you mean that folder?)"
    raise CifarFilesMissingError(
        f"CIFAR-10 folder {folder} ({origin}) is missing {', '.join(missing)}{hint}; it should "
        f"hold {_WHAT_THE_FILES_ARE}. Nothing is downloaded for a folder you named yourself."
    )


def _where_to_put_the_files(cache_folder: Path) -> str:
    """The instructions shown when the data is nowhere and cannot be downloaded."""
    return (
        f"CIFAR-10 is not available. Put {_WHAT_THE_FILES_ARE} in {cache_folder} "
        f"(or put {CIFAR10_ARCHIVE_NAME} itself in {cache_folder.parent}), "
        f"or set {DATA_ENV_VAR} to a folder that holds those files, "
        "or pass root= to the loader."
    )


def find_cifar10(
    root: str | os.PathLike[str] | None = None,
    download: bool = True,
    *,
    url: str = CIFAR10_URL,
    md5: str = CIFAR10_MD5,
    progress: bool = True,
    timeout: float = 60.0,
    deadline: float = DEFAULT_DEADLINE,
) -> Path:
    """Return the folder holding the CIFAR-10 python batches, downloading them if needed.

    Parameters
    ----------
    root : a folder holding ``data_batch_1..5``, ``test_batch`` and ``batches.meta``;
        when given it must be complete (no fallback).
    download : allow downloading the official archive into the cache as a last resort.
    url, md5 : the archive to download and its checksum (the official release by default).
    progress : show a progress bar while downloading.
    timeout : seconds one wait on the network may take before giving up.
    deadline : seconds the whole download may take.

    Returns
    -------
    The folder, as a ``Path``; every file in :data:`CIFAR10_FILES` exists in it.

    Raises
    ------
    CifarFilesMissingError : ``root`` or ``$MINIGRAD_CIFAR10`` names an incomplete folder.
    CifarNotFoundError : nothing in the cache and the download is disabled or failed; the
        message says where to put the files.
    """
    if root is not None:
        return _require_complete(Path(root).expanduser(), "the root you passed")
    from_env = os.environ.get(DATA_ENV_VAR)
    if from_env:
        return _require_complete(Path(from_env).expanduser(), f"from ${DATA_ENV_VAR}")

    cache_folder = cifar10_cache_dir()
    if not missing_cifar10_files(cache_folder):
        return cache_folder
    with _one_fetch_at_a_time(cache_folder.parent):
        # Another process may have fetched it while this one waited.
        if not missing_cifar10_files(cache_folder):
            return cache_folder
        return _fetch(cache_folder, download, url, md5, progress, timeout, deadline)


@contextlib.contextmanager
def _one_fetch_at_a_time(folder: Path) -> Iterator[None]:
    """Hold an exclusive flock on the cache's lock file (where flock exists).

    Two processes that find the cache empty would otherwise both download and both move
    their copy into place; the second now waits and finds the first one's files.
    """
    try:
        import fcntl
    except ImportError:  # Windows: no waiting, each fetch stays atomic on its own
        yield
        return
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(folder / _CACHE_LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise CifarNotFoundError(f"{_where_to_put_the_files(folder / CIFAR10_FOLDER_NAME)} "
                                 f"The cache {folder} cannot be written: {exc}") from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the flock


def _fetch(
    cache_folder: Path,
    download: bool,
    url: str,
    md5: str,
    progress: bool,
    timeout: float,
    deadline: float,
) -> Path:
    """Unpack a copied archive or download one into the cache; the cache folder."""
    archive = cache_folder.parent / CIFAR10_ARCHIVE_NAME
    have_archive = archive.is_file()
    if not have_archive and not download:
        raise CifarNotFoundError(
            f"{_where_to_put_the_files(cache_folder)} (download=False, so nothing was downloaded.)"
        )
    try:
        if have_archive:
            # A user who copied the archive by hand should not need the network.
            extract_archive(archive, cache_folder.parent, md5)
        else:
            download_and_extract(
                url, cache_folder.parent, md5, progress=progress, timeout=timeout,
                deadline=deadline, max_bytes=CIFAR10_MAX_BYTES,
            )
    except (DataFetchError, OSError) as exc:
        raise CifarNotFoundError(
            f"{_where_to_put_the_files(cache_folder)} Fetching it failed: {exc}"
        ) from exc

    missing = missing_cifar10_files(cache_folder)
    if missing:
        raise CifarNotFoundError(
            f"{_where_to_put_the_files(cache_folder)} The archive from {url} did not provide "
            f"{', '.join(missing)}."
        )
    return cache_folder
