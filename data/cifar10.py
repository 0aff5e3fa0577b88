"""Load the CIFAR-10 python batches into image arrays, validating every file on the way.

The release is a folder of pickles: ``data_batch_1..5`` (train), ``test_batch`` and
``batches.meta``. Each batch is a dict whose ``data`` is a uint8 array of shape
(n, 3072), one row per image holding the 1024 red, then 1024 green, then 1024 blue values
(each plane row-major), and whose ``labels`` is a list of n ints in 0..9. Images are
returned as (N, 32, 32, 3), height-width-channel, exactly like CS231n's ``load_CIFAR10``.
"""

from __future__ import annotations

import numbers
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from minigrad.data.locate import (
    CIFAR10_META_FILE,
    CIFAR10_TEST_FILE,
    CIFAR10_TRAIN_FILES,
    find_cifar10,
)
from minigrad.data.safe_pickle import (
    CifarFormatError,
    UnsafePickleError,
    describe_value,
    load_pickle_safely,
    pickled_uint8_array,
)
from minigrad.validation import check_positive_int

__all__ = [
    "IMAGE_SHAPE",
    "MAX_ROWS_PER_BATCH",
    "NUM_CLASSES",
    "ROW_LENGTH",
    "CifarFormatError",
    "CifarMeta",
    "UnsafePickleError",
    "load_cifar10",
    "load_cifar10_batch",
    "load_cifar10_meta",
    "load_label_names",
    "read_batch",
    "rows_to_images",
    "validate_batch",
    "validate_meta",
]

IMAGE_SHAPE = (32, 32, 3)  # height, width, channels: the layout we return
ROW_LENGTH = 32 * 32 * 3  # values per image on disk (the meta's num_vis)
NUM_CLASSES = 10
MAX_ROWS_PER_BATCH = 10000  # the release's num_cases_per_batch; every size is bounded by it
_MAX_LABEL_NAME_CHARS = 64
_LABELS = frozenset(range(NUM_CLASSES))
_LOADABLE_DTYPES = (np.dtype(np.uint8), np.dtype(np.float32), np.dtype(np.float64))


@dataclass(frozen=True)
class CifarMeta:
    """The contents of ``batches.meta``."""

    label_names: tuple[str, ...]
    num_cases_per_batch: int
    num_vis: int


def _text(value: object) -> str | None:
    """A Python 2 string (``bytes`` under ``encoding='bytes'``) or ``str`` as ``str``."""
    if isinstance(value, bytes):
        return value.decode("latin1")
    return value if isinstance(value, str) else None


def _with_str_keys(obj: object, source: str) -> dict[str, object]:
    """The unpickled dict with its keys as ``str`` (the real files have bytes keys)."""
    if not isinstance(obj, Mapping):
        raise CifarFormatError(f"{source}: expected a pickled dict, got {type(obj).__name__}")
    result = {}
    for key, value in obj.items():
        name = _text(key)
        if name is None:
            raise CifarFormatError(f"{source}: dict key {describe_value(key)} is not a string")
        result[name] = value
    return result


def _require_keys(entries: Mapping[str, object], keys: tuple[str, ...], source: str) -> None:
    missing = [key for key in keys if key not in entries]
    if missing:
        raise CifarFormatError(
            f"{source}: missing key(s) {', '.join(map(repr, missing))}; found "
            f"{describe_value(sorted(entries))}"
        )


def _positive_int(value: object, what: str, source: str, high: int | None = None) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise CifarFormatError(  # as check_positive_int says it, for any value from a file
            f"{source}: {what} must be an integer, got {type(value).__name__} "
            f"{describe_value(value)}"
        )
    try:
        number = check_positive_int(value, what)
    except (TypeError, ValueError) as err:  # a file that breaks the format
        raise CifarFormatError(f"{source}: {err}") from None
    if high is not None and number > high:
        raise CifarFormatError(f"{source}: {what} must be <= {high}, got {describe_value(number)}")
    return number


def _label_name(value: object, index: int, source: str) -> str:
    # The length is checked before decoding, so a 30 MB "name" is never copied.
    if isinstance(value, (bytes, str)) and 0 < len(value) <= _MAX_LABEL_NAME_CHARS:
        name = _text(value)
        if name is not None and name.isprintable():
            return name
    raise CifarFormatError(
        f"{source}: label_names[{index}] must be a printable string of 1 to "
        f"{_MAX_LABEL_NAME_CHARS} characters, got {describe_value(value)}"
    )


def validate_meta(obj: object, source: str) -> CifarMeta:
    """Check an unpickled ``batches.meta`` and return its contents.

    Raises
    ------
    CifarFormatError : not a dict, keys missing, ``num_vis`` != 3072, ``num_cases_per_batch``
        not an int in 1..10000, or ``label_names`` not a list of 10 short printable strings.
    """
    entries = _with_str_keys(obj, source)
    _require_keys(entries, ("label_names", "num_cases_per_batch", "num_vis"), source)
    num_vis = _positive_int(entries["num_vis"], "num_vis", source)
    if num_vis != ROW_LENGTH:
        raise CifarFormatError(
            f"{source}: num_vis is {describe_value(num_vis)}, expected {ROW_LENGTH} "
            "(32 x 32 x 3 values)"
        )
    per_batch = _positive_int(
        entries["num_cases_per_batch"], "num_cases_per_batch", source, MAX_ROWS_PER_BATCH
    )
    raw_names = entries["label_names"]
    if type(raw_names) is not list or len(raw_names) != NUM_CLASSES:
        raise CifarFormatError(
            f"{source}: label_names must be a list of {NUM_CLASSES} strings, got "
            f"{describe_value(raw_names)}"
        )
    names = tuple(_label_name(name, index, source) for index, name in enumerate(raw_names))
    return CifarMeta(names, per_batch, num_vis)


def _labels_as_array(labels: object, num_rows: int, source: str) -> np.ndarray:
    """The batch's labels, a list of ints in [0, NUM_CLASSES), as int64 (n,)."""
    if type(labels) is not list:
        raise CifarFormatError(
            f"{source}: labels must be a flat list of ints, got {type(labels).__name__} "
            f"{describe_value(labels)}"
        )
    if len(labels) != num_rows:
        raise CifarFormatError(
            f"{source}: {len(labels)} labels for {num_rows} data rows; they must match"
        )
    if not all(type(label) is int for label in labels):
        index = next(i for i, label in enumerate(labels) if type(label) is not int)
        raise CifarFormatError(
            f"{source}: labels must be a flat list of ints; item {index} is "
            f"{type(labels[index]).__name__} {describe_value(labels[index])}"
        )
    if not _LABELS.issuperset(labels):
        bad = [i for i, label in enumerate(labels) if label not in _LABELS]
        raise CifarFormatError(
            f"{source}: {len(bad)} label(s) outside 0..{NUM_CLASSES - 1}, "
            f"first at index {bad[0]}: {describe_value(labels[bad[0]])}"
        )
    return np.array(labels, dtype=np.int64)


def _data_rows(data: object, source: str, expected_rows: int | None) -> np.ndarray:
    """The batch's ``data`` as a uint8 (n, 3072) array, checked before NumPy sees it."""
    if isinstance(data, np.ndarray):  # a caller's own array, not from a file
        if data.dtype != np.uint8:
            raise CifarFormatError(f"{source}: data must have dtype uint8, got {data.dtype}")
        shape, rows = data.shape, data
    else:
        shape, raw = pickled_uint8_array(data, source, "data")
        rows = None
    if len(shape) != 2 or shape[1] != ROW_LENGTH or not 1 <= shape[0] <= MAX_ROWS_PER_BATCH:
        raise CifarFormatError(
            f"{source}: data must have shape (n, {ROW_LENGTH}) with 1 <= n <= "
            f"{MAX_ROWS_PER_BATCH}, got {describe_value(shape)}"
        )
    if expected_rows is not None and shape[0] != expected_rows:
        raise CifarFormatError(
            f"{source}: {shape[0]} rows, but {CIFAR10_META_FILE} says "
            f"num_cases_per_batch = {describe_value(expected_rows)}"
        )
    if rows is None:  # only now, with shape and byte count checked, NumPy sees the bytes
        rows = np.frombuffer(raw, dtype=np.uint8).reshape(shape)
    return rows


def validate_batch(
    obj: object, source: str, expected_rows: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Check an unpickled batch and return its raw rows and labels.

    Parameters
    ----------
    obj : the unpickled object (from :func:`load_pickle_safely`), expected to be a dict
        with ``data`` (a pickled uint8 array, or a caller's own ndarray) and ``labels``.
    source : how error messages name the file.
    expected_rows : rows the batch must have (``num_cases_per_batch``), if known.

    Returns
    -------
    data : ndarray of shape (n, 3072), uint8, as on disk (R plane, G plane, B plane); a
        read-only view of the file's bytes when ``obj`` came from :func:`load_pickle_safely`.
    labels : ndarray of shape (n,), int64, in [0, 10).

    Raises
    ------
    CifarFormatError : not a dict, keys missing, ``data`` not exactly a C-ordered uint8
        array of shape (n, 3072) with 1 <= n <= 10000 and all its bytes (or not
        ``expected_rows`` rows), ``labels`` not a list of n ints in 0..9.
    """
    entries = _with_str_keys(obj, source)
    _require_keys(entries, ("data", "labels"), source)
    data = _data_rows(entries["data"], source, expected_rows)
    return data, _labels_as_array(entries["labels"], data.shape[0], source)


def read_batch(
    path: str | os.PathLike[str], expected_rows: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Safely unpickle and validate one batch file; see :func:`validate_batch`."""
    return validate_batch(load_pickle_safely(path), os.fspath(path), expected_rows)


def rows_to_images(rows: np.ndarray, out: np.ndarray) -> np.ndarray:
    """Write planar rows as height-width-channel images, converting dtype in the same pass.

    Parameters
    ----------
    rows : ndarray of shape (n, 3072), uint8, R then G then B plane per row.
    out : ndarray of shape (n, 32, 32, 3), any of the loadable dtypes; filled in place so
        no intermediate copy in another dtype is ever made.

    Returns
    -------
    ``out``.
    """
    planar = rows.reshape(rows.shape[0], 3, 32, 32)
    np.copyto(out, planar.transpose(0, 2, 3, 1))
    return out


def _loadable_dtype(dtype: npt.DTypeLike) -> np.dtype:
    resolved = np.dtype(dtype)
    if resolved not in _LOADABLE_DTYPES:
        raise ValueError(
            f"dtype must be one of uint8, float32, float64 (got {resolved}); "
            "uint8 keeps the raw pixels, the floats are the same values converted"
        )
    return resolved


def load_cifar10_batch(
    path: str | os.PathLike[str],
    dtype: npt.DTypeLike = np.float64,
    *,
    expected_rows: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Load one batch file (e.g. ``data_batch_1``) as images and labels.

    Parameters
    ----------
    path : the batch file.
    dtype : uint8, float32 or float64 for the images.
    expected_rows : rows the batch must have, if known.

    Returns
    -------
    X : ndarray of shape (n, 32, 32, 3), ``dtype``, C-contiguous.
    y : ndarray of shape (n,), int64, in [0, 10).

    Raises
    ------
    CifarFormatError : the file is missing, corrupt, or not a valid batch.
    UnsafePickleError : the pickle tried to load a forbidden global.
    """
    resolved = _loadable_dtype(dtype)
    rows, labels = read_batch(path, expected_rows)
    images = np.empty((rows.shape[0], *IMAGE_SHAPE), dtype=resolved)
    return rows_to_images(rows, images), labels


def _read_meta(folder: Path) -> CifarMeta:
    path = folder / CIFAR10_META_FILE
    return validate_meta(load_pickle_safely(path), os.fspath(path))


def load_cifar10_meta(
    root: str | os.PathLike[str] | None = None, *, download: bool = True
) -> CifarMeta:
    """Read and validate ``batches.meta``; ``root`` is found as in :func:`find_cifar10`."""
    return _read_meta(find_cifar10(root, download))


def load_label_names(
    root: str | os.PathLike[str] | None = None, *, download: bool = True
) -> list[str]:
    """The ten class names, in label order (``['airplane', 'automobile', ...]``)."""
    return list(load_cifar10_meta(root, download=download).label_names)


def _load_batches_into(
    paths: list[Path], per_batch: int, dtype: np.dtype
) -> tuple[np.ndarray, np.ndarray]:
    """Concatenate batches without an intermediate list: fill one preallocated array.

    The array is allocated once the first batch has shown that ``per_batch`` rows really
    are in the files, not on the meta file's word alone.
    """
    first: tuple[np.ndarray, np.ndarray] | None = read_batch(paths[0], per_batch)
    images = np.empty((len(paths) * per_batch, *IMAGE_SHAPE), dtype=dtype)
    labels = np.empty(len(paths) * per_batch, dtype=np.int64)
    for index, path in enumerate(paths):
        if first is not None:
            (rows, batch_labels), first = first, None
        else:
            rows, batch_labels = read_batch(path, expected_rows=per_batch)
        block = slice(index * per_batch, (index + 1) * per_batch)
        rows_to_images(rows, images[block])
        labels[block] = batch_labels
    return images, labels


def load_cifar10(
    root: str | os.PathLike[str] | None = None,
    dtype: npt.DTypeLike = np.float64,
    *,
    download: bool = True,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Load all of CIFAR-10, like CS231n's ``load_CIFAR10(root)``.

    Parameters
    ----------
    root : folder with the python batches; ``None`` looks in ``$MINIGRAD_CIFAR10``, then
        the per-user cache, then downloads (see :func:`minigrad.data.locate.find_cifar10`).
    dtype : uint8 (raw pixels, 184 MB in all), float32 or float64. The uint8 values on disk
        are converted once, straight into the requested dtype.
    download : allow the download when the data is found nowhere.

    Returns
    -------
    X_train : ndarray of shape (5 * num_cases_per_batch, 32, 32, 3), i.e. (50000, 32, 32, 3)
    y_train : ndarray of shape (50000,), int64
    X_test : ndarray of shape (num_cases_per_batch, 32, 32, 3), i.e. (10000, 32, 32, 3)
    y_test : ndarray of shape (10000,), int64
    Images are C-contiguous in ``dtype``; labels are in [0, 10).

    Raises
    ------
    CifarFormatError : a file is missing, truncated, or breaks the format (the message
        names the file and the problem); ``UnsafePickleError`` for a malicious pickle.
    """
    resolved = _loadable_dtype(dtype)
    folder = find_cifar10(root, download)
    per_batch = _read_meta(folder).num_cases_per_batch
    train_paths = [folder / name for name in CIFAR10_TRAIN_FILES]
    X_train, y_train = _load_batches_into(train_paths, per_batch, resolved)
    X_test, y_test = _load_batches_into([folder / CIFAR10_TEST_FILE], per_batch, resolved)
    return X_train, y_train, X_test, y_test
