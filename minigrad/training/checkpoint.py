"""Checkpoints: a trainer's full state in an ``.npz`` (arrays) plus a ``.json`` (the rest).

A checkpoint named ``run/ckpt`` is two files::

    run/ckpt.json                     scalars, the caller's config, the array index, and
                                      the name and SHA-256 of ...
    run/ckpt.<first 16 of sha256>.npz the arrays (parameters, optimiser slots, RNG keys,
                                      the shuffled order, the curves)

Each file is written atomically (temporary file, fsync, ``os.replace``), the npz first and
the json last, and the npz's name carries its digest. So the json that exists always names
a complete npz: a crash between the two writes leaves the previous json and its npz intact.
Older npz files of the same checkpoint are removed after the json is replaced. Loading
uses ``allow_pickle=False`` and checks the digest, so a truncated or altered file is
reported as such, never half-loaded.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from minigrad.files.atomic import write_bytes_atomic, write_json_atomic
from minigrad.files.bounded_json import read_json
from minigrad.files.bounded_read import UnreadableFileError, read_bytes_bounded
from minigrad.files.checked_npz import MAX_HEADER_BYTES, ArraySpec, read_npz
from minigrad.files.folder_lock import FolderLock, lock_folder
from minigrad.files.memory import InsufficientMemoryError, check_memory
from minigrad.training.callbacks import Callback, TrainingRun
from minigrad.validation import check_positive_int, describe

if TYPE_CHECKING:
    from minigrad.training.trainer import Trainer

__all__ = [
    "CHECKPOINT_FORMAT",
    "CheckpointError",
    "PeriodicCheckpoint",
    "checkpoint_json_path",
    "join_arrays",
    "load_checkpoint",
    "read_checkpoint",
    "save_checkpoint",
    "split_arrays",
]

CHECKPOINT_FORMAT = "minigrad-checkpoint"
CHECKPOINT_VERSION = 1
_ARRAY_MARK = "__array__"  # a JSON leaf {"__array__": "<key>"} stands for an npz entry
_DIGEST_CHARS = 16
MAX_JSON_BYTES = 16 << 20  # the scalars and the index; the arrays are in the npz
_MEMBER_OVERHEAD = 2 * 1024 + MAX_HEADER_BYTES  # zip headers + the .npy header, per array


class CheckpointError(ValueError):
    """A checkpoint is missing, corrupt, or does not fit the trainer; the message says which."""


# ---------------------------------------------------------------------- state <-> json + npz


def split_arrays(state: Any, prefix: str = "") -> tuple[Any, dict[str, np.ndarray]]:
    """Separate the ndarrays of a nested state from its JSON-able rest.

    Parameters
    ----------
    state : nested dicts (str keys) and lists of JSON scalars, NumPy scalars and ndarrays.
    prefix : the key path of ``state`` (used to name its arrays).

    Returns
    -------
    tree : ``state`` with every ndarray replaced by ``{"__array__": key}`` and NumPy
        scalars by Python ones.
    arrays : key -> ndarray, the keys being "/"-joined paths such as ``"model/0.W"``.
    """
    arrays: dict[str, np.ndarray] = {}

    def walk(node: Any, path: str) -> Any:
        if isinstance(node, np.ndarray):
            if node.dtype.hasobject:
                raise TypeError(f"state entry {path!r} is an object array, which needs pickle")
            arrays[path] = node
            return {_ARRAY_MARK: path}
        if isinstance(node, np.generic):
            return node.item()
        if isinstance(node, Mapping):
            if _ARRAY_MARK in node:
                raise ValueError(f"state entry {path!r} uses the reserved key {_ARRAY_MARK!r}")
            for key in node:
                if not isinstance(key, str) or "/" in key:
                    raise ValueError(f"state key {key!r} under {path!r} must be a str without '/'")
            return {
                key: walk(value, f"{path}/{key}" if path else key) for key, value in node.items()
            }
        if isinstance(node, (list, tuple)):
            return [walk(value, f"{path}/{i}") for i, value in enumerate(node)]
        if node is None or isinstance(node, (bool, int, float, str)):
            return node
        raise TypeError(f"state entry {path!r} is a {type(node).__name__}, not JSON-able")

    return walk(state, prefix), arrays


def join_arrays(tree: Any, arrays: Mapping[str, np.ndarray]) -> Any:
    """Inverse of :func:`split_arrays`: put the arrays back in place of their marks.

    Raises
    ------
    CheckpointError
        If a mark names an array that is not in ``arrays``.
    """
    if isinstance(tree, dict):
        if set(tree) == {_ARRAY_MARK}:
            key = tree[_ARRAY_MARK]
            if key not in arrays:
                raise CheckpointError(f"the checkpoint's json names array {key!r}, not in the npz")
            return arrays[key]
        return {key: join_arrays(value, arrays) for key, value in tree.items()}
    if isinstance(tree, list):
        return [join_arrays(value, arrays) for value in tree]
    return tree


def _npz_bytes(arrays: Mapping[str, np.ndarray]) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)  # type: ignore[arg-type]
    return buffer.getvalue()


def _array_index(arrays: Mapping[str, np.ndarray]) -> dict[str, dict[str, Any]]:
    return {
        key: {"shape": list(array.shape), "dtype": array.dtype.str}
        for key, array in sorted(arrays.items())
    }


# ---------------------------------------------------------------------- paths


def checkpoint_json_path(path: str | os.PathLike[str]) -> Path:
    """The json file of checkpoint ``path`` (``run/ckpt``, ``run/ckpt.json`` or an npz of it)."""
    target = Path(path)
    if target.suffix == ".json":
        return target
    if target.suffix == ".npz":
        stem = re.sub(rf"\.[0-9a-f]{{{_DIGEST_CHARS}}}$", "", target.stem)
        return target.with_name(stem + ".json")
    return target.with_name(target.name + ".json")


def _npz_pattern(stem: str) -> re.Pattern[str]:
    return re.compile(rf"{re.escape(stem)}\.[0-9a-f]{{{_DIGEST_CHARS}}}\.npz")


# ---------------------------------------------------------------------- save


def save_checkpoint(
    path: str | os.PathLike[str], trainer: TrainingRun, config: Mapping[str, Any] | None = None
) -> Path:
    """Write ``trainer.state_dict()`` (and ``config``) as checkpoint ``path``.

    Parameters
    ----------
    path : ``folder/name`` (or ``folder/name.json``); the folder must exist.
    trainer : the trainer to save, between iterations (after ``fit`` returns, or from a
        callback's ``on_iteration_end``).
    config : JSON-able settings to store alongside, e.g. what is needed to rebuild the
        model, optimiser and trainer before :func:`load_checkpoint`.

    Returns
    -------
    The json file's path.

    Raises
    ------
    minigrad.files.folder_lock.FolderInUseError
        Another process is writing into the folder.
    """
    json_path = checkpoint_json_path(path)
    with lock_folder(json_path.parent):  # one writer per checkpoint folder
        return _save(json_path, trainer, config)


def _save(json_path: Path, trainer: TrainingRun, config: Mapping[str, Any] | None) -> Path:
    stem = json_path.stem
    tree, arrays = split_arrays(trainer.state_dict())
    data = _npz_bytes(arrays)
    digest = hashlib.sha256(data).hexdigest()
    npz_name = f"{stem}.{digest[:_DIGEST_CHARS]}.npz"
    write_bytes_atomic(json_path.with_name(npz_name), data)
    write_json_atomic(
        json_path,
        {
            "format": CHECKPOINT_FORMAT,
            "version": CHECKPOINT_VERSION,
            "npz": npz_name,
            "npz_sha256": digest,
            "arrays": _array_index(arrays),
            "state": tree,
            "config": None if config is None else dict(config),
        },
    )
    pattern = _npz_pattern(stem)
    for old in json_path.parent.iterdir():
        if old.name != npz_name and pattern.fullmatch(old.name):
            old.unlink(missing_ok=True)  # superseded: the json now names the new npz
    return json_path


# ---------------------------------------------------------------------- load


def _read_json(json_path: Path) -> dict[str, Any]:
    if not json_path.is_file():
        raise CheckpointError(f"no checkpoint at {json_path.with_suffix('')}: no {json_path}")
    try:
        meta = read_json(json_path, max_bytes=MAX_JSON_BYTES)
    except UnreadableFileError as err:
        raise CheckpointError(f"corrupt checkpoint: {err}") from None
    if not isinstance(meta, dict) or meta.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{json_path} is not a minigrad checkpoint (no format marker)")
    if meta.get("version") != CHECKPOINT_VERSION:
        raise CheckpointError(
            f"{json_path} is checkpoint version {describe(meta.get('version'))}; this minigrad "
            f"reads version {CHECKPOINT_VERSION}"
        )
    for field in ("npz", "npz_sha256", "arrays", "state"):
        if field not in meta:
            raise CheckpointError(f"corrupt checkpoint: {json_path} has no {field!r} entry")
    return meta


def _index_specs(json_path: Path, index: Any) -> dict[str, ArraySpec]:
    """The json's array index as specs: names, shapes and plain numeric dtypes."""
    if not isinstance(index, dict):
        raise CheckpointError(f"corrupt checkpoint: the array index in {json_path} is not a map")
    specs = {}
    for key, entry in index.items():
        shape = entry.get("shape") if isinstance(entry, dict) else None
        dtype = entry.get("dtype") if isinstance(entry, dict) else None
        try:
            if not (isinstance(shape, list) and all(type(n) is int and n >= 0 for n in shape)):
                raise ValueError("bad shape")
            if not isinstance(dtype, str):
                raise ValueError("bad dtype")
            spec = ArraySpec(tuple(shape), np.dtype(dtype))
        except (TypeError, ValueError, SyntaxError):
            raise CheckpointError(
                f"corrupt checkpoint: {json_path} lists array {key[:60]!r} as "
                f"{describe(entry)}, not a shape and a dtype"
            ) from None
        if spec.dtype.hasobject or spec.dtype.kind not in "biufc" or spec.dtype.subdtype:
            raise CheckpointError(
                f"corrupt checkpoint: {json_path} lists array {key[:60]!r} with dtype "
                f"{dtype[:40]!r}; only plain numbers are stored"
            )
        specs[key] = spec
    return specs


def _read_npz(json_path: Path, meta: Mapping[str, Any]) -> dict[str, np.ndarray]:
    name = meta["npz"]
    if not isinstance(name, str) or Path(name).name != name:
        raise CheckpointError(f"corrupt checkpoint: {json_path} names the npz {describe(name)}")
    npz_path = json_path.with_name(name)
    if not npz_path.is_file():
        raise CheckpointError(f"incomplete checkpoint: no {npz_path} (named by {json_path})")
    specs = _index_specs(json_path, meta["arrays"])
    total = sum(spec.nbytes for spec in specs.values())
    try:
        # The bytes and then the arrays made of them: both must fit.
        check_memory(2 * total, f"loading checkpoint {json_path}")
        # A stored npz is its arrays plus small headers; anything larger is not this one.
        data = read_bytes_bounded(npz_path, total + _MEMBER_OVERHEAD * (len(specs) + 1))
    except (InsufficientMemoryError, UnreadableFileError) as err:
        raise CheckpointError(f"corrupt checkpoint: {err}") from None
    if hashlib.sha256(data).hexdigest() != meta["npz_sha256"]:
        raise CheckpointError(
            f"corrupt checkpoint: {npz_path} does not match the SHA-256 in {json_path} "
            "(truncated or altered)"
        )
    try:
        return read_npz(data, specs, label=os.fspath(npz_path))
    except UnreadableFileError as err:
        raise CheckpointError(
            f"corrupt checkpoint: {npz_path} does not hold the arrays {json_path} lists "
            f"({err})"
        ) from None


def read_checkpoint(path: str | os.PathLike[str]) -> tuple[dict[str, Any], Any]:
    """Read and verify checkpoint ``path`` without applying it.

    Returns
    -------
    state : the trainer state (as :meth:`Trainer.state_dict` gave it).
    config : the ``config`` passed to :func:`save_checkpoint` (None if none).

    Raises
    ------
    CheckpointError
        The json or npz is missing, truncated, not valid, or they do not belong together.
    """
    json_path = checkpoint_json_path(path)
    meta = _read_json(json_path)
    arrays = _read_npz(json_path, meta)
    state = join_arrays(meta["state"], arrays)
    if not isinstance(state, dict):
        raise CheckpointError(f"corrupt checkpoint: the state in {json_path} is not a mapping")
    return state, meta.get("config")


def load_checkpoint(path: str | os.PathLike[str], trainer: Trainer) -> Any:
    """Restore checkpoint ``path`` into ``trainer`` (built like the saved one); return its config.

    Raises
    ------
    CheckpointError
        As :func:`read_checkpoint`, or when the checkpoint does not fit the trainer
        (another model, optimiser type, sampling ...); the trainer is then unchanged.
    """
    state, config = read_checkpoint(path)
    try:
        trainer.load_state_dict(state)
    except (ValueError, TypeError, KeyError, AttributeError, IndexError) as err:
        # Not only ValueError: the state came from a file, and any shape of it is possible.
        raise CheckpointError(
            f"checkpoint {checkpoint_json_path(path)} does not fit this trainer: {err}"
        ) from err
    return config


# ---------------------------------------------------------------------- during training


class PeriodicCheckpoint(Callback):
    """Save a checkpoint every ``every`` iterations (a run killed later resumes from it).

    The checkpoint's folder is locked from the start of ``fit`` to its end, so two
    processes never write the same checkpoints.

    Parameters
    ----------
    path : checkpoint path, as for :func:`save_checkpoint`; rewritten each time.
    every : iterations between saves.
    config : stored with every save (see :func:`save_checkpoint`).
    """

    def __init__(
        self, path: str | os.PathLike[str], every: int, config: Mapping[str, Any] | None = None
    ) -> None:
        self.path = path
        self.every = check_positive_int(every, "every")
        self.config = config
        self._lock: FolderLock | None = None

    def on_train_begin(self, trainer: TrainingRun) -> None:
        # Held for the whole fit, so a second process saving here fails at its start.
        if self._lock is None or not self._lock.held:
            self._lock = lock_folder(checkpoint_json_path(self.path).parent)

    def on_iteration_end(self, trainer: TrainingRun, iteration: int, loss: float) -> None:
        if (iteration + 1) % self.every == 0:
            save_checkpoint(self.path, trainer, self.config)

    def on_train_end(self, trainer: TrainingRun) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def __repr__(self) -> str:
        return f"PeriodicCheckpoint({os.fspath(self.path)!r}, every={self.every})"
