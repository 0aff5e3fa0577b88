"""Mutation fuzzer for the CIFAR-10 loader: every file loads correctly or gets its error.

Run a long campaign from the repository's root::

    python -m tests.fuzz_loader --variants 100000 --seed 1

It starts from small valid batch and meta files in the real format (Python 2 cPickle
bytes from :mod:`fake_cifar`, and Python 3 protocol-2 re-saves), then flips bytes,
splices opcodes and varies the declared dtype, shape and state. Each variant is loaded
in a worker process whose address space is capped (``RLIMIT_AS``) and which is killed
after a time limit; a crash only costs a restarted worker. A variant passes when it

- loads, and the result is what the format promises (uint8 images of shape
  (n, 32, 32, 3) whose bytes are in the file, int64 labels in 0..9, ten label names,
  and for a whole folder the untouched batches exactly as the valid folder gives them);
- or raises :class:`CifarFormatError` (or a subclass) whose message names the file, is
  one printable line (no terminal escapes from the file) and stays short.

Anything else fails: a signal, a timeout, ``MemoryError``, ``RecursionError`` or any
other exception type, a wrong result, or an unbounded message. The campaign reports
counts by outcome; ``--replay INDEX`` re-runs one variant (each variant's mutations
come from its own seeded generator, so a failure is reproducible on its own).
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import pickletools
import random
import re
import select
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

try:  # pytest puts tests/ on sys.path; ``python -m tests.fuzz_loader`` runs from the root
    import fake_cifar as fc
except ModuleNotFoundError:  # pragma: no cover - depends on how the module is started
    from tests import fake_cifar as fc

__all__ = [
    "ACCEPTED",
    "Bases",
    "CampaignResult",
    "LoaderWorker",
    "Outcome",
    "Variant",
    "build_bases",
    "load_and_check",
    "make_variant",
    "run_campaign",
]

# Outcomes that pass; every other status is a failure.
LOADED, FORMAT_ERROR, UNSAFE_PICKLE = "loaded", "format_error", "unsafe_pickle"
ACCEPTED = frozenset({LOADED, FORMAT_ERROR, UNSAFE_PICKLE})
DEFAULT_MEMORY_BYTES = 1 << 30
DEFAULT_TIMEOUT = 30.0  # seconds per variant; a valid small file loads in milliseconds
MAX_MESSAGE_CHARS = 300  # an error message's length once the file's path is taken out
PER_BATCH = 2  # rows per fake batch: small files, so most mutations hit the structure
_STARTUP_TIMEOUT = 120.0  # importing NumPy on a busy machine
_WORKER_ENV = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


@dataclass(frozen=True)
class Outcome:
    """What loading one file did: ``status`` (see ``ACCEPTED``) and a short ``detail``."""

    status: str
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.status in ACCEPTED


# --- the worker: runs in the capped child process ---------------------------------------


def _short(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _safe_str(exc: BaseException) -> str:
    try:
        return str(exc)
    except BaseException as inner:  # noqa: BLE001 - a message that cannot print is a finding
        return f"<str() raised {type(inner).__name__}>"


def _where(exc: BaseException) -> str:
    """``file:line`` of the innermost frame, to find a wrong exception's source."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    if tb is None:
        return "?"
    return f"{Path(tb.tb_frame.f_code.co_filename).name}:{tb.tb_lineno}"


def _check_images(X: object, y: object, payload: bytes | None) -> str | None:
    """Why a loaded batch is wrong, or ``None``; ``payload`` holds the file's bytes."""
    if not (isinstance(X, np.ndarray) and isinstance(y, np.ndarray)):
        return f"not arrays: {type(X).__name__}, {type(y).__name__}"
    if X.dtype != np.uint8 or X.ndim != 4 or X.shape[1:] != (32, 32, 3):
        return f"images {X.dtype} {X.shape}"
    n = X.shape[0]
    if not 1 <= n <= 10000 or not X.flags.c_contiguous:
        return f"images {X.shape}, c_contiguous={X.flags.c_contiguous}"
    if y.dtype != np.int64 or y.shape != (n,):
        return f"labels {y.dtype} {y.shape} for {n} images"
    if y.size and not ((y >= 0) & (y < 10)).all():
        return f"labels outside 0..9: {np.unique(y)[:5]}"
    # Without _codecs.encode the only way to get pixel bytes is a string in the file.
    if payload is not None and b"_codecs" not in payload:
        rows = X.transpose(0, 3, 1, 2).reshape(n, 3072).tobytes()
        if rows not in payload:
            return "the pixel bytes are not in the file"
    return None


def _check_meta(meta: object) -> str | None:
    from minigrad.data.cifar10 import CifarMeta

    if not isinstance(meta, CifarMeta):
        return f"meta is {type(meta).__name__}"
    names = meta.label_names
    if len(names) != 10 or not all(isinstance(name, str) for name in names):
        return f"label_names {names!r:.100}"
    if not 1 <= meta.num_cases_per_batch <= 10000 or meta.num_vis != 3072:
        return f"num_cases_per_batch {meta.num_cases_per_batch}, num_vis {meta.num_vis}"
    return None


_REFERENCE: dict[str, tuple[np.ndarray, ...]] = {}


def _check_folder(result: tuple[np.ndarray, ...], request: dict) -> str | None:
    X_train, y_train, X_test, y_test = result
    for X, y in ((X_train, y_train), (X_test, y_test)):
        problem = _check_images(X, y, None)
        if problem:
            return problem
    n = X_test.shape[0]
    if X_train.shape[0] != 5 * n:
        return f"{X_train.shape[0]} training images for {n} test images"
    reference = request.get("reference")
    if not reference:
        return None
    if reference not in _REFERENCE:
        from minigrad.data.cifar10 import load_cifar10

        _REFERENCE[reference] = load_cifar10(reference, dtype=np.uint8, download=False)
    expected = _REFERENCE[reference]
    if n != expected[2].shape[0]:
        return f"{n} rows per batch, the valid folder has {expected[2].shape[0]}"
    mutated = request.get("mutated", "")
    blocks = [(f"data_batch_{i + 1}", 0, slice(i * n, (i + 1) * n)) for i in range(5)]
    blocks.append(("test_batch", 2, slice(0, n)))
    for name, index, block in blocks:
        if name == mutated:
            continue
        if not (
            np.array_equal(result[index][block], expected[index][block])
            and np.array_equal(result[index + 1][block], expected[index + 1][block])
        ):
            return f"{name} was not touched but loads differently"
    return None


def _check_inert(obj: object) -> str | None:
    """Why the unpickled graph holds something other than plain data and inert records."""
    from minigrad.data.safe_pickle import PickledArray, PickledDtype, _StandIn

    plain = (bool, int, float, bytes, str, type(None))
    seen: set[int] = set()
    todo = [obj]
    while todo:
        item = todo.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        if type(item) in (list, tuple):
            todo.extend(item)  # type: ignore[arg-type]
        elif type(item) is dict:
            todo.extend(item.keys())
            todo.extend(item.values())
        elif type(item) in (PickledArray, PickledDtype):
            todo.append(item.state)
        elif type(item) not in plain and not isinstance(item, _StandIn):
            return f"the pickle layer returned a {type(item).__module__}.{type(item).__name__}"
    return None


def _load(request: dict) -> tuple[object, str | None]:
    """Run the request's loader; return its result and why the result is wrong."""
    from minigrad.data.cifar10 import load_cifar10, load_cifar10_batch, validate_meta
    from minigrad.data.safe_pickle import load_pickle_safely

    kind, path = request["kind"], request["path"]
    if kind == "batch":
        X, y = load_cifar10_batch(path, dtype=np.uint8)
        return (X, y), _check_images(X, y, Path(path).read_bytes())
    if kind == "meta":
        meta = validate_meta(load_pickle_safely(path), path)
        return meta, _check_meta(meta)
    if kind == "folder":
        result = load_cifar10(path, dtype=np.uint8, download=False)
        return result, _check_folder(result, request)
    if kind == "pickle":
        obj = load_pickle_safely(path)
        return obj, _check_inert(obj)
    if kind == "selftest-crash":  # proves that a crash is seen as one
        os.kill(os.getpid(), signal.SIGSEGV)
    if kind == "selftest-sleep":  # proves that the time limit holds
        time.sleep(float(request.get("seconds", 60)))
    if kind == "selftest-memory":  # proves that the memory cap holds
        return bytearray(int(request.get("bytes", 2 << 30))), None
    raise ValueError(f"unknown request kind {kind!r}")


def _classify_error(exc: BaseException, request: dict) -> Outcome:
    from minigrad.data.safe_pickle import UnsafePickleError

    message = _safe_str(exc)
    path = request["path"]
    folder = path if request["kind"] == "folder" else os.path.dirname(path)
    if os.path.basename(path) not in message:
        return Outcome("bad_message", f"does not name {path}: {_short(message)}")
    message = message.replace(folder, "<dir>")
    if not message.isprintable() or len(message) > MAX_MESSAGE_CHARS:
        return Outcome("bad_message", f"{len(message)} chars: {_short(message)}")
    status = UNSAFE_PICKLE if isinstance(exc, UnsafePickleError) else FORMAT_ERROR
    return Outcome(status, f"{type(exc).__name__}: {_short(message)}")


def load_and_check(request: dict) -> Outcome:
    """Load one file as ``request`` says and judge the outcome (runs in the worker)."""
    from minigrad.data.safe_pickle import CifarFormatError

    try:
        result, problem = _load(request)
    except CifarFormatError as exc:
        return _classify_error(exc, request)
    except Exception as exc:  # noqa: BLE001 - MemoryError, RecursionError, ...: findings
        return Outcome(
            "wrong_exception",
            f"{type(exc).__name__} at {_where(exc)}: {_short(_safe_str(exc))}",
        )
    if problem:
        return Outcome("bad_result", problem)
    return Outcome(LOADED, type(result).__name__)


def _worker_main(memory_bytes: int) -> None:
    """Answer one JSON request per line with one JSON outcome per line, until EOF."""
    import faulthandler

    import minigrad.data.cifar10  # noqa: F401 - import before the cap, as a loader would be

    faulthandler.enable()
    protocol = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # anything the loader prints goes to stderr, not into the protocol
    if memory_bytes > 0:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    protocol.write('{"ready": true}\n')  # the time limit starts counting after this
    protocol.flush()
    for line in sys.stdin:
        outcome = load_and_check(json.loads(line))
        protocol.write(json.dumps({"status": outcome.status, "detail": outcome.detail}) + "\n")
        protocol.flush()


# --- the parent side: a restartable worker ------------------------------------------------


class LoaderWorker:
    """A long-lived child process that loads files under a memory cap and a time limit.

    If the child dies (a signal) or overruns the time limit, that request's outcome says
    so and the next request starts a fresh child.

    Parameters
    ----------
    memory_bytes : the child's ``RLIMIT_AS`` (0: no cap).
    timeout : seconds one request may take.
    """

    def __init__(
        self, memory_bytes: int = DEFAULT_MEMORY_BYTES, timeout: float = DEFAULT_TIMEOUT
    ) -> None:
        self.memory_bytes = memory_bytes
        self.timeout = timeout
        self.starts = 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._stderr = tempfile.TemporaryFile()

    def __enter__(self) -> LoaderWorker:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _start(self) -> subprocess.Popen[bytes]:
        env = {**os.environ, **_WORKER_ENV, "PYTHONFAULTHANDLER": "1"}
        command = [sys.executable, os.path.abspath(__file__), "--worker"]
        command += ["--memory-bytes", str(self.memory_bytes)]
        self._stderr.seek(0)
        self._stderr.truncate()
        self.starts += 1
        proc = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr, env=env
        )
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], _STARTUP_TIMEOUT)
        if not ready or not proc.stdout.readline():
            proc.kill()
            proc.wait()
            raise RuntimeError(f"the loader worker did not start: {self._stderr_tail()}")
        return proc

    def _stderr_tail(self) -> str:
        """faulthandler's 'Fatal Python error' line and the innermost frame."""
        self._stderr.seek(0)
        lines = self._stderr.read().decode("utf-8", "replace").splitlines()
        fatal = [line for line in lines if line.startswith("Fatal Python error")]
        frames = [line.strip() for line in lines if line.strip().startswith("File ")]
        return " | ".join(fatal[:1] + frames[:1]) or " | ".join(lines[-2:])

    def _died(self, proc: subprocess.Popen[bytes], why: str) -> Outcome:
        if why == "timeout":
            proc.kill()
        code = proc.wait()
        self._proc = None
        if why == "timeout":
            return Outcome("timeout", f"no answer within {self.timeout} s")
        if code < 0:
            name = signal.Signals(-code).name
            return Outcome("signal", f"{name}: {_short(self._stderr_tail())}")
        return Outcome("worker_exit", f"exit code {code}: {_short(self._stderr_tail())}")

    def load(self, kind: str, path: str | os.PathLike[str], **extra: str) -> Outcome:
        """Load ``path`` as ``kind`` (batch, meta, folder or pickle) in the child."""
        proc = self._proc if self._proc is not None else self._start()
        self._proc = proc
        assert proc.stdin is not None and proc.stdout is not None
        request = {"kind": kind, "path": os.fspath(path), **extra}
        try:
            proc.stdin.write((json.dumps(request) + "\n").encode())
            proc.stdin.flush()
        except BrokenPipeError:
            return self._died(proc, "exit")
        ready, _, _ = select.select([proc.stdout], [], [], self.timeout)
        if not ready:
            return self._died(proc, "timeout")
        line = proc.stdout.readline()
        if not line:
            return self._died(proc, "exit")
        answer = json.loads(line)
        return Outcome(answer["status"], answer["detail"])

    def close(self) -> None:
        """Stop the child (it exits at the end of its input)."""
        proc, self._proc = self._proc, None
        if proc is not None:
            assert proc.stdin is not None
            try:
                proc.stdin.close()
                proc.wait(timeout=10)
            except (BrokenPipeError, subprocess.TimeoutExpired):
                proc.kill()
                proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()
        self._stderr.close()


# --- the valid starting files ------------------------------------------------------------

BATCH_NAMES = tuple(f"data_batch_{i}" for i in range(1, 6)) + ("test_batch",)
META_NAME = "batches.meta"


@dataclass(frozen=True)
class Bases:
    """The valid files every variant starts from.

    Attributes
    ----------
    batches, metas : single batch and meta files: Python 2 cPickle bytes, then a Python 3
        protocol-2 re-save (str keys, memo, ``_codecs.encode``).
    folder : the seven files of a valid folder of ``PER_BATCH``-row batches.
    """

    batches: tuple[bytes, ...]
    metas: tuple[bytes, ...]
    folder: dict[str, bytes]

    def all_files(self) -> tuple[bytes, ...]:
        return (*self.batches, *self.metas)


def build_bases(root: Path) -> Bases:
    """Write the valid folder under ``root`` and return every starting file's bytes."""
    fake = fc.write_fake_cifar(root, num_cases_per_batch=PER_BATCH, seed=0)
    folder = {name: (root / name).read_bytes() for name in (*BATCH_NAMES, META_NAME)}
    rows, labels = fake.train_rows[:PER_BATCH], fake.train_labels[:PER_BATCH].tolist()
    py3_batch = {
        "batch_label": "training batch 1 of 5",
        "labels": labels,
        "data": rows,
        "filenames": [f"fake_{i:04d}.png".encode() for i in range(PER_BATCH)],
    }
    py3_meta = {
        "num_cases_per_batch": PER_BATCH,
        "label_names": list(fc.LABEL_NAMES),
        "num_vis": 3072,
    }
    return Bases(
        batches=(folder["data_batch_1"], pickle.dumps(py3_batch, protocol=2)),
        metas=(folder[META_NAME], pickle.dumps(py3_meta, protocol=2)),
        folder=folder,
    )


# --- semantic variants: rebuild a file with some of its parts replaced ---------------------

u = fc.unicode_string
OBJECT_DTYPE_STATE = (3, u("|"), None, None, None, -1, -1, 63)
_INTS = (0, 1, -1, 2, 3, 255, 256, 3071, 3072, 10000, 10001, 2**31 - 1, 2**31, -(2**31),
         2**32, 2**40, 2**62, 2**63, 2**64, -(2**63), 2**2000)  # fmt: skip


def _object_dtype() -> fc.Opcodes:
    return fc.dtype_pickle(u("O8"), state=OBJECT_DTYPE_STATE)


def _deep_list(depth: int) -> fc.Opcodes:
    return fc.Opcodes(b"]" * depth + b"a" * (depth - 1))


def _deep_tuple(depth: int) -> fc.Opcodes:
    return fc.Opcodes(b")" + b"\x85" * (depth - 1))


def _cyclic_list() -> fc.Opcodes:
    return fc.Opcodes(b"]q\x00h\x00a")  # L = [L]; index 0 may overwrite an entry


def _weird_scalar(rng: random.Random) -> object:
    return rng.choice(
        [None, True, False, 1.5, float("nan"), float("inf"), b"", b"x", u("x"), (), [], {},
         rng.choice(_INTS), _deep_list(rng.choice([30, 3000, 30_000])),
         _deep_tuple(rng.choice([4, 17, 30, 100_000])), _cyclic_list(),
         fc.global_ref("numpy", "ndarray"), fc.global_ref("numpy", "dtype"),
         fc.global_ref("_codecs", "encode"), fc.dtype_pickle(), _object_dtype()]
    )  # fmt: skip


def _weird_shape(rng: random.Random, n: int) -> object:
    return rng.choice(
        [(n * 3072,), (n, 3072, 1), (3072, n), (0, 3072), (n + 1, 3072), (n - 1, 3072),
         (2**31, 3072), (2**31,), (2**62, 4), (-1, 3072), (n, -3072), (10001, 3072),
         (2**64, 3072), [n, 3072], (n, 3072.0), (b"\x02", 3072), None, (), (True, 3072),
         (n, 3072, *(1,) * 30), (2**63 - 1, 2**63 - 1), (0,), (n * 3072 * 2,), (n, 1536, 2),
         _deep_tuple(40), (n, _deep_tuple(20))]
    )  # fmt: skip


def _weird_typecode(rng: random.Random) -> object:
    return rng.choice(
        [b"O", b"O8", b"V8", b"V3072", b"f8", b"i1", b"b1", b"S1", b"U1", b"|u1", b"<u1",
         b"u2", b"M8[s]", b"c16", b"", b"u1,u1", b"(3072,)u1", b"x" * 20, None, 5, u("u1"),
         u("O"), b"u1\x00", b"B", b"uint8", u("V8")]
    )  # fmt: skip


def _weird_dtype_state(rng: random.Random) -> object:
    state: list[object] = list(fc.UINT8_DTYPE_STATE)
    choices: dict[int, list[object]] = {
        0: [4, 2, 1, 0, -1, 2**40, None, b"3"],
        1: [b"<", b">", b"=", u("|"), b"", None, b"||", 5],
        2: [(fc.dtype_pickle(), (3072,)), (_object_dtype(), (2**31,)), (fc.dtype_pickle(), ()),
            5, (None,), (fc.dtype_pickle(), (3072,), 1)],
        3: [(b"f0",), (u("f0"),), (u("f0"), u("f1")), (), 5],
        4: [{u("f0"): (_object_dtype(), 0)}, {b"f0": (fc.dtype_pickle(), 0)},
            {u("f0"): (fc.dtype_pickle(), 2**40)}, {}, 5,
            {u("f0"): (fc.dtype_pickle(), 0, u("t"))}],
        5: [8, 1, 0, 2**31, 2**63, -2, 3072],
        6: [8, 1, 0, 2**31, -2],
        7: [63, 1, 27, -1, 2**40, 16, 8],
    }  # fmt: skip
    for _ in range(rng.choice([1, 1, 2, 3])):
        position = rng.randrange(8)
        state[position] = rng.choice(choices[position])
    if rng.random() < 0.15:  # the whole layout is wrong
        return rng.choice([(*state, {u("a"): 1}), tuple(state[:6]), (), {u("a"): 1}, None, 3])
    return tuple(state)


def _weird_raw(rng: random.Random, raw: bytes) -> object:
    encode = fc.global_ref("_codecs", "encode").code
    as_text = encode + u(raw.decode("latin1")).code + u("latin1").code + b"\x86R"
    return rng.choice(
        [b"", raw[:-1], raw + b"\x00", raw * 2, [], [None] * 3, [0] * 4, u("x" * 10), None, 0,
         bytes(len(raw) * 8), fc.array_pickle((len(raw),), raw), (raw,), fc.Opcodes(as_text),
         fc.Opcodes(encode + u("x").code + u("zlib").code + b"\x86R"), raw[: len(raw) // 2]]
    )  # fmt: skip


def _hidden_object_array() -> fc.Opcodes:
    """A structured dtype whose state hides an object field: raw bytes become pointers."""
    field = {u("f0"): (_object_dtype(), 0)}
    hidden = fc.dtype_pickle(u("V8"), state=(3, u("|"), None, (u("f0"),), field, 8, 1, 0))
    return fc.array_pickle((1,), b"A" * 8, dtype=hidden)


def _weird_data(rng: random.Random, n: int, raw: bytes) -> object:
    reconstruct = fc.global_ref("numpy.core.multiarray", "_reconstruct").code
    empty = reconstruct + fc.py2_pickle_dumps((fc.global_ref("numpy", "ndarray"), (0,), b"b"))
    empty = empty[:-1].replace(b"\x80\x02", b"", 1) + b"R"
    valid = fc.array_pickle((n, 3072), raw)
    state = fc.py2_pickle_dumps((1, (n, 3072), fc.dtype_pickle(), False, raw))[2:-1]
    return rng.choice(
        [[[0] * 3072] * n, None, {}, raw, fc.dtype_pickle(), fc.global_ref("numpy", "ndarray"),
         fc.Opcodes(empty), fc.Opcodes(valid.code + state + b"b"),
         fc.Opcodes(b"cnumpy\nndarray\n" + fc.py2_pickle_dumps(((2**31,), b"O"))[2:-1] + b"R"),
         fc.array_pickle((1000,), [], dtype=_object_dtype()),
         fc.array_pickle((n, 3072), [0] * 3, dtype=_object_dtype()),
         _hidden_object_array(), [valid], (valid,), _deep_list(1000), _deep_tuple(100_000),
         fc.array_pickle((n,), raw, dtype=fc.dtype_pickle(
             b"V3072", state=(3, b"|", (fc.dtype_pickle(), (3072,)), None, None, 3072, 1, 0)))]
    )  # fmt: skip


def _weird_labels(rng: random.Random, labels: list[int]) -> object:
    n = len(labels)
    return rng.choice(
        [labels + [0], labels[:-1], tuple(labels), _deep_list(20_000), {}, None,
         fc.array_pickle((n,), bytes(labels)), bytes(labels), [[label] for label in labels],
         labels * 5000, []]
    )  # fmt: skip


def _weird_label(rng: random.Random) -> object:
    return rng.choice([10, -1, 2**40, 2**70, -(2**70), True, 1.0, b"1", [1], None,
                       fc.dtype_pickle(), _deep_tuple(17)])  # fmt: skip


def _numpy_pickle(obj: object) -> fc.Opcodes:
    """What Python 3's pickle writes for ``obj`` at protocol 2, without PROTO and STOP."""
    return fc.Opcodes(pickle.dumps(obj, protocol=2)[2:-1])


_NUMPY_DTYPES = ("u1", "i1", "u2", ">u2", "f4", "f8", "O", "V8", "S4", "U2", "?", "M8[D]",
                 "m8[s]", "c8", [("a", "u1"), ("b", "f4")], [("p", "u1", (3072,))],
                 [("o", "O"), ("u", "u1")], ("u1", (4,)))  # fmt: skip


def _genuine_array(rng: random.Random, n: int) -> fc.Opcodes:
    """A real NumPy array of another dtype, shape or order, pickled by NumPy itself."""
    dtype = np.dtype(rng.choice(_NUMPY_DTYPES))  # type: ignore[call-overload]
    shape = rng.choice([(n, 3072), (n * 3072,), (n, 3072, 1), (0, 3072), (n, 3, 1024), (), (n,)])
    array = np.zeros(shape, dtype=dtype)
    if rng.random() < 0.3 and array.ndim >= 2:
        array = np.asfortranarray(array)
    return _numpy_pickle(array)


_ARRAY_SLOTS = ("version", "shape", "typecode", "align", "copy", "dtype_state", "dtype_build",
                "fortran", "raw", "reconstruct", "data")  # fmt: skip
_BATCH_SLOTS = (*_ARRAY_SLOTS, "numpy", "labels", "label", "keys", "whole")
_META_SLOTS = ("per_batch", "num_vis", "label_names", "label_name", "keys", "whole")


def _pick(rng: random.Random, slots: tuple[str, ...]) -> set[str]:
    return set(rng.sample(slots, rng.choice([1, 1, 1, 2, 3])))


def _dtype_part(rng: random.Random, alter: set[str]) -> fc.Opcodes:
    typecode = _weird_typecode(rng) if "typecode" in alter else b"u1"
    align = rng.choice([1, True, None, 2, b""]) if "align" in alter else 0
    copy = rng.choice([0, False, None, 2]) if "copy" in alter else 1
    state = _weird_dtype_state(rng) if "dtype_state" in alter else fc.UINT8_DTYPE_STATE
    dtype = fc.dtype_pickle(typecode, align, copy, state)
    if "dtype_build" in alter:
        code = dtype.code
        body = code[:-1] if rng.random() < 0.5 else code + fc.py2_pickle_dumps(state)[2:-1] + b"b"
        if rng.random() < 0.3:  # the state goes on the global itself
            body = b"cnumpy\ndtype\n" + fc.py2_pickle_dumps(state)[2:-1] + b"b"
        return fc.Opcodes(body)
    return dtype


def _data_part(rng: random.Random, alter: set[str], n: int, raw: bytes) -> object:
    if "numpy" in alter:
        return _genuine_array(rng, n)
    if "data" in alter:
        return _weird_data(rng, n, raw)
    reconstruct_args = None
    if "reconstruct" in alter:
        ndarray = fc.global_ref("numpy", "ndarray")
        reconstruct_args = rng.choice(
            [(ndarray, (2**31,), b"b"), (ndarray, (0,), b"O"), (ndarray,),
             (fc.global_ref("numpy", "dtype"), (0,), b"b"), (ndarray, (0,), u("b")),
             (None, (0,), b"b"), (ndarray, [0], b"b"), (ndarray, (0,), b"b", 1),
             (ndarray, (False,), b"b"), (_deep_tuple(5), (0,), b"b")]
        )  # fmt: skip
    return fc.array_pickle(
        _weird_shape(rng, n) if "shape" in alter else (n, 3072),
        _weird_raw(rng, raw) if "raw" in alter else raw,
        dtype=_dtype_part(rng, alter),
        fortran=rng.choice([True, 1, 0, None, b"", 2]) if "fortran" in alter else False,
        version=rng.choice([0, 2, -1, 2**40, None, True, b"\x01", (1,), 1.0])
        if "version" in alter
        else 1,
        reconstruct_args=reconstruct_args,
    )


def _alter_keys(rng: random.Random, entries: dict[object, object]) -> dict[object, object]:
    keys = list(entries)
    action = rng.choice(["drop", "str", "extra", "tuple", "int", "dup", "bytes_value"])
    if action == "drop":
        del entries[rng.choice(keys)]
    elif action == "str":  # Python 3 spelling: still valid
        key = rng.choice(keys)
        entries[u(key.decode())] = entries.pop(key)  # type: ignore[union-attr]
    elif action == "extra":
        entries[rng.choice([b"extra", u("extra"), b"x" * 300])] = _weird_scalar(rng)
    elif action == "tuple":
        entries[fc.Opcodes(b"U\x01x\x85")] = 1
    elif action == "int":
        entries[rng.choice(_INTS)] = 1
    elif action == "dup":
        entries[fc.Opcodes(fc.py2_pickle_dumps(rng.choice(keys))[2:-1])] = _weird_scalar(rng)
    else:
        entries[rng.choice(keys)] = _weird_scalar(rng)
    return entries


def semantic_batch(rng: random.Random, n: int = PER_BATCH) -> tuple[bytes, str]:
    """A batch with one to three of its parts replaced; returns (bytes, what changed)."""
    alter = _pick(rng, _BATCH_SLOTS)
    raw = rng.randbytes(n * 3072)
    labels = [rng.randrange(10) for _ in range(n)]
    label_list: object = _weird_labels(rng, labels) if "labels" in alter else labels
    if "label" in alter:
        label_list = list(labels)
        label_list[rng.randrange(n)] = _weird_label(rng)
    entries: dict[object, object] = {
        b"batch_label": b"training batch 1 of 5",
        b"labels": label_list,
        b"data": _data_part(rng, alter, n, raw),
        b"filenames": [b"f%d.png" % i for i in range(n)],
    }
    if "keys" in alter:
        entries = _alter_keys(rng, entries)
    if "whole" in alter:
        payload = fc.py2_pickle_dumps(rng.choice([[entries], (entries,), _weird_scalar(rng)]))
    else:
        payload = fc.py2_pickle_dumps(entries)
    return payload, "semantic:" + ",".join(sorted(alter))


def semantic_meta(rng: random.Random, n: int = PER_BATCH) -> tuple[bytes, str]:
    """A meta file with one to three of its parts replaced; returns (bytes, what changed)."""
    alter = _pick(rng, _META_SLOTS)
    names: list[object] = [name.encode() for name in fc.LABEL_NAMES]
    entries: dict[object, object] = fc.meta_dict(n)  # type: ignore[assignment]
    if "per_batch" in alter:
        entries[b"num_cases_per_batch"] = rng.choice(
            [*_INTS, True, 2.0, b"2", None, u("2"), _hidden_object_array(), (2,), [2],
             fc.array_pickle((1,), b"\x02"), _deep_list(20_000), _numpy_pickle(np.int64(2)),
             _numpy_pickle(np.array(2))]
        )  # fmt: skip
    if "num_vis" in alter:
        entries[b"num_vis"] = rng.choice([3071, 0, 2**40, 3072.0, True, b"3072", None, 6144])
    if "label_names" in alter:
        entries[b"label_names"] = rng.choice(
            [names[:9], [*names, b"x"], _deep_list(20_000), tuple(names), {}, None,
             names * 1000, b"cat", [], _cyclic_list(), [_deep_list(50)] * 10]
        )  # fmt: skip
    if "label_name" in alter:
        names[rng.randrange(10)] = rng.choice(
            [b"x" * 65, b"y" * 100_000, b"", b"\x00", u("\udcff"), u("caf\xe9"), u("ok"), 5,
             None, [b"cat"], b"ca\nt", _deep_list(1000), _object_dtype(), _deep_tuple(17)]
        )  # fmt: skip
        entries[b"label_names"] = names
    if "keys" in alter:
        entries = _alter_keys(rng, entries)
    whole: object = entries
    if "whole" in alter:
        whole = rng.choice([[entries], (entries,), _weird_scalar(rng)])
    return fc.py2_pickle_dumps(whole), "semantic:" + ",".join(sorted(alter))


# --- byte and opcode mutations of whatever a variant is so far ------------------------------

_SNIPPETS = [
    b"b", b"R", b"(", b"t", b")", b"\x85", b"\x86", b"\x87", b"}", b"]", b"s", b"u", b"a",
    b"e", b"N", b"\x88", b"\x89", b"0", b"1", b"2", b".", b"\x80\x02", b"\x80\x05", b"q\x00",
    b"h\x00", b"h\x05", b"r\x00\x00\x00\x00", b"r\xff\xff\xff\x7f", b"j\x00\x00\x00\x00",
    b"j\xff\xff\xff\xff", b"K\x00", b"K\xff", b"M\xff\xff", b"J\xff\xff\xff\xff",
    b"J\x00\x00\x00\x80", b"\x8a\x09" + (2**64).to_bytes(9, "little"), b"\x8a\x00",
    b"G" + struct.pack(">d", float("nan")), b"U\x00", b"U\x01O", b"U\x02u1", b"U\x02V8",
    b"U\x01|", b"U\xff", b"T\xff\xff\xff\x7f", b"T\x00\x00\x00\x80", b"T\xff\xff\xff\xff",
    b"X\x01\x00\x00\x00\xff", b"X\xff\xff\xff\xff", b"X\x03\x00\x00\x00\xed\xb3\xbf",
    b"cnumpy\ndtype\n", b"cnumpy\nndarray\n", b"cnumpy.core.multiarray\n_reconstruct\n",
    b"cnumpy._core.multiarray\n_reconstruct\n", b"c_codecs\nencode\n", b"cos\nsystem\n",
    b"cbuiltins\ngetattr\n", b"c__builtin__\nset\n", b"cnumpy\nfrombuffer\n", b"cnumpy\n",
    b"\x95" + bytes(8), b"\x94", b"I2\n", b"S'x'\n", b"V\n", b"\x8c\x01x", b"B\x00\x00\x00\x00",
    b"C\x00", b"\x81", b"\x82\x01", b"\x93", b"o", b"i__main__\nx\n", b"P0\n", b"Q", b"\x97",
    b"\x98", b"N}X\x0c\x00\x00\x00__defaults__N\x85s\x86b",
    fc.dtype_pickle().code, _object_dtype().code, _hidden_object_array().code,
    fc.array_pickle((2**31,), [], dtype=_object_dtype()).code, _deep_tuple(100_000).code,
    _deep_list(20_000).code, b")" * 1000, b"(" * 1000, b"N" * 1000 + b"t",
]  # fmt: skip
_INTERESTING_BYTES = (0x00, 0x01, 0x7F, 0x80, 0xFF, 0xFE, ord("."), ord("("), ord("b"))
_MAX_TOKENS = 3000


def _op_spans(payload: bytes) -> list[tuple[int, int]]:
    """``(start, end)`` of each opcode as far as the bytes parse (then one tail span)."""
    spans: list[tuple[int, int]] = []
    starts: list[int] = []
    try:
        for count, (_, _, position) in enumerate(pickletools.genops(payload)):
            starts.append(position)  # type: ignore[arg-type]
            if count >= _MAX_TOKENS:
                break
    except Exception:  # noqa: BLE001 - a mutated pickle stops parsing somewhere
        pass
    bounds = [*starts, len(payload)]
    spans = [(a, b) for a, b in zip(bounds, bounds[1:], strict=False) if b > a]
    return spans or [(0, len(payload))]


def _structure_position(rng: random.Random, payload: bytes, spans: list[tuple[int, int]]) -> int:
    """A byte position, mostly in an opcode or a short argument, rarely in pixel data."""
    if not payload:
        return 0
    if rng.random() < 0.2:
        return rng.randrange(len(payload))
    start, end = rng.choice(spans)
    return rng.randrange(start, min(end, start + 6))


def _mutate_bytes(
    rng: random.Random, payload: bytes, spans: list[tuple[int, int]]
) -> tuple[bytes, str]:
    data = bytearray(payload)
    action = rng.choice(["flip", "set", "insert", "delete", "truncate", "duplicate"])
    if not data:
        return bytes(rng.choice(_SNIPPETS)), "bytes:from-empty"
    position = _structure_position(rng, payload, spans)
    if action == "flip":
        for _ in range(rng.randint(1, 8)):
            data[_structure_position(rng, payload, spans)] ^= 1 << rng.randrange(8)
    elif action == "set":
        for _ in range(rng.randint(1, 4)):
            data[_structure_position(rng, payload, spans)] = rng.choice(
                [*_INTERESTING_BYTES, rng.randrange(256)]
            )
    elif action == "insert":
        data[position:position] = rng.randbytes(rng.randint(1, 16))
    elif action == "delete":
        del data[position : position + rng.randint(1, 16)]
    elif action == "truncate":
        del data[position:]
    else:
        length = rng.randint(1, 64)
        data[position:position] = data[position : position + length]
    return bytes(data), f"bytes:{action}"


def _replace_argument(rng: random.Random, payload: bytes, span: tuple[int, int]) -> bytes:
    """Overwrite an opcode's argument bytes (a length, an int, an index) in place."""
    start, end = span
    width = min(end - start - 1, 4)
    if width <= 0:
        return payload
    value = rng.choice([0, 1, 0xFF, 0x7F, 0x80, 0xFFFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF,
                        rng.randrange(1 << (8 * width))])  # fmt: skip
    value &= (1 << (8 * width)) - 1
    return payload[: start + 1] + value.to_bytes(width, "little") + payload[start + 1 + width :]


def _mutate_opcodes(
    rng: random.Random, payload: bytes, spans: list[tuple[int, int]], bases: Bases
) -> tuple[bytes, str]:
    action = rng.choice(["delete", "duplicate", "swap", "insert", "insert", "splice", "argument"])
    index = rng.randrange(len(spans))
    start, end = spans[index]
    if action == "delete":
        return payload[:start] + payload[end:], "op:delete"
    if action == "duplicate":
        return payload[:end] + payload[start:end] + payload[end:], "op:duplicate"
    if action == "swap" and index + 1 < len(spans):
        _, after = spans[index + 1]
        swapped = payload[:start] + payload[end:after] + payload[start:end] + payload[after:]
        return swapped, "op:swap"
    if action == "splice":
        donor = rng.choice(bases.all_files())
        donor_spans = _op_spans(donor)
        first = rng.randrange(len(donor_spans))
        last = min(len(donor_spans) - 1, first + rng.randint(0, 12))
        chunk = donor[donor_spans[first][0] : donor_spans[last][1]]
        return payload[:start] + chunk + payload[start:], "op:splice"
    if action == "argument":
        return _replace_argument(rng, payload, (start, end)), "op:argument"
    return payload[:start] + rng.choice(_SNIPPETS) + payload[start:], "op:insert"


def mutate(rng: random.Random, payload: bytes, bases: Bases) -> tuple[bytes, str]:
    """One random byte-level or opcode-level mutation; returns (bytes, what was done)."""
    spans = _op_spans(payload)
    if rng.random() < 0.4:
        return _mutate_bytes(rng, payload, spans)
    return _mutate_opcodes(rng, payload, spans, bases)


# --- variants ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Variant:
    """One fuzzed file: load ``payload`` as ``kind``; for a folder, it replaces ``target``."""

    index: int
    kind: str
    target: str
    payload: bytes
    recipe: str


_KINDS = ("batch", "meta", "folder", "pickle")
_KIND_WEIGHTS = (45, 25, 20, 10)


def make_variant(index: int, seed: int, bases: Bases) -> Variant:
    """The ``index``-th variant of campaign ``seed``; it depends on nothing else."""
    rng = random.Random(f"{seed}:{index}")
    kind = rng.choices(_KINDS, _KIND_WEIGHTS)[0]
    if kind == "folder":
        target = rng.choice([META_NAME, *BATCH_NAMES])
        is_meta, base = target == META_NAME, bases.folder[target]
    else:
        target = {"batch": "data_batch_1", "meta": META_NAME, "pickle": "blob"}[kind]
        is_meta = kind == "meta" or (kind == "pickle" and rng.random() < 0.4)
        base = rng.choice(bases.metas if is_meta else bases.batches)
    steps = []
    if rng.random() < 0.45:
        payload, step = (semantic_meta if is_meta else semantic_batch)(rng)
        steps.append(step)
        rounds = rng.choice([0, 0, 0, 1, 2])
    else:
        payload, rounds = base, rng.choice([1, 1, 1, 2, 3, 4])
    for _ in range(rounds):
        payload, step = mutate(rng, payload, bases)
        steps.append(step)
    return Variant(index, kind, target, payload, "+".join(steps) or "valid")


# --- the campaign ---------------------------------------------------------------------------


@dataclass
class CampaignResult:
    """Counts by outcome, and each failure with what reproduces it."""

    variants: int = 0
    seed: int = 0
    seconds: float = 0.0
    worker_starts: int = 0
    counts: Counter[str] = field(default_factory=Counter)
    by_kind: Counter[str] = field(default_factory=Counter)
    messages: Counter[str] = field(default_factory=Counter)
    failures: list[tuple[Variant, Outcome]] = field(default_factory=list)

    def add(self, variant: Variant, outcome: Outcome) -> None:
        self.variants += 1
        self.counts[outcome.status] += 1
        self.by_kind[variant.kind] += 1
        if outcome.status in (FORMAT_ERROR, UNSAFE_PICKLE):
            self.messages[_signature(outcome.detail)] += 1
        if not outcome.ok:
            self.failures.append((variant, outcome))

    def report(self, top: int = 12) -> str:
        """A human-readable summary: counts, speed, the commonest errors, the failures."""
        rate = self.variants / self.seconds if self.seconds else 0.0
        lines = [
            f"{self.variants} variants (seed {self.seed}) in {self.seconds:.1f} s "
            f"({rate:.0f}/s), {self.worker_starts} worker start(s)",
            "outcomes: " + ", ".join(f"{k} {v}" for k, v in self.counts.most_common()),
            "entry points: " + ", ".join(f"{k} {v}" for k, v in self.by_kind.most_common()),
            f"failures: {len(self.failures)}",
        ]
        for variant, outcome in self.failures[:top]:
            lines.append(
                f"  #{variant.index} {variant.kind}/{variant.target} [{variant.recipe}]: "
                f"{outcome.status}: {outcome.detail}"
            )
        lines.append(f"commonest errors ({len(self.messages)} kinds):")
        lines += [f"  {n:7d}  {text}" for text, n in self.messages.most_common(top)]
        return "\n".join(lines)

    def summary(self) -> dict[str, object]:
        return {
            "variants": self.variants,
            "seed": self.seed,
            "seconds": round(self.seconds, 1),
            "outcomes": dict(self.counts),
            "entry_points": dict(self.by_kind),
            "failures": len(self.failures),
            "worker_starts": self.worker_starts,
        }


def _signature(detail: str) -> str:
    """An error message without the file and numbers, to count kinds of errors."""
    text = re.sub(r"<dir>/\S+: ", "", detail)
    return re.sub(r"\d+", "#", text)[:90]


class _Slot:
    """One worker with its own scratch folder: a valid folder copy and single files."""

    def __init__(self, root: Path, bases: Bases, reference: Path, memory: int, timeout: float):
        self.root, self.bases, self.reference = root, bases, reference
        self.folder = root / "cifar-10-batches-py"
        self.folder.mkdir(parents=True)
        for name, payload in bases.folder.items():
            (self.folder / name).write_bytes(payload)
        self.worker = LoaderWorker(memory, timeout)

    def run(self, variant: Variant) -> Outcome:
        if variant.kind != "folder":
            path = self.root / variant.target
            path.write_bytes(variant.payload)
            return self.worker.load(variant.kind, path)
        path = self.folder / variant.target
        path.write_bytes(variant.payload)
        try:
            return self.worker.load(
                "folder", self.folder, reference=str(self.reference), mutated=variant.target
            )
        finally:
            path.write_bytes(self.bases.folder[variant.target])


def _save_failure(folder: Path, variant: Variant, outcome: Outcome) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"{variant.index}-{variant.kind}-{variant.target}"
    (folder / stem).write_bytes(variant.payload)
    record = {
        "index": variant.index,
        "kind": variant.kind,
        "target": variant.target,
        "recipe": variant.recipe,
        "status": outcome.status,
        "detail": outcome.detail,
    }
    with open(folder / "failures.jsonl", "a") as log:
        log.write(json.dumps(record) + "\n")


def run_campaign(
    variants: int,
    seed: int,
    *,
    scratch: Path | None = None,
    jobs: int = 1,
    first: int = 0,
    memory_bytes: int = DEFAULT_MEMORY_BYTES,
    timeout: float = DEFAULT_TIMEOUT,
    save_failures: Path | None = None,
    progress: Callable[[CampaignResult], None] | None = None,
    progress_every: int = 0,
) -> CampaignResult:
    """Load variants ``first .. first + variants - 1`` of campaign ``seed``; count outcomes.

    Parameters
    ----------
    variants, seed, first : which variants (each depends only on ``seed`` and its index).
    scratch : a folder for the files (a temporary one if None).
    jobs : worker processes loading in parallel.
    memory_bytes, timeout : each worker's address-space cap and per-variant time limit.
    save_failures : write each failing variant's bytes and a ``failures.jsonl`` here.
    progress, progress_every : called with the result so far every so many variants.
    """
    with tempfile.TemporaryDirectory(prefix="fuzz-loader-") as temporary:
        root = Path(scratch) if scratch is not None else Path(temporary)
        bases = build_bases(root / "reference")
        result = CampaignResult(seed=seed)
        lock = threading.Lock()
        slots = [_Slot(root / f"job{k}", bases, root / "reference", memory_bytes, timeout)
                 for k in range(jobs)]  # fmt: skip
        start = time.perf_counter()

        def work(slot: _Slot, indices: range) -> None:
            for index in indices:
                variant = make_variant(index, seed, bases)
                outcome = slot.run(variant)
                with lock:
                    result.add(variant, outcome)
                    if not outcome.ok and save_failures is not None:
                        _save_failure(save_failures, variant, outcome)
                    if progress and progress_every and result.variants % progress_every == 0:
                        result.seconds = time.perf_counter() - start
                        progress(result)

        threads = [
            threading.Thread(target=work, args=(slot, range(first + k, first + variants, jobs)))
            for k, slot in enumerate(slots)
        ]
        try:
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        finally:
            for slot in slots:
                result.worker_starts += slot.worker.starts
                slot.worker.close()
        result.seconds = time.perf_counter() - start
        return result


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tests.fuzz_loader", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--variants", type=int, default=10000, help="how many (default 10000)")
    parser.add_argument("--seed", type=int, default=1, help="campaign seed (default 1)")
    parser.add_argument("--first", type=int, default=0, help="index of the first variant")
    parser.add_argument("--jobs", type=int, default=1, help="parallel workers (default 1)")
    parser.add_argument("--memory-mb", type=int, default=DEFAULT_MEMORY_BYTES >> 20,
                        help="each worker's address-space cap in MiB (default 1024)")  # fmt: skip
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT,
                        help="seconds per variant (default 30)")  # fmt: skip
    parser.add_argument("--save-failures", type=Path, help="write failing variants here")
    parser.add_argument("--replay", type=int, help="run only this variant and describe it")
    parser.add_argument("--json", type=Path, help="also write the summary as JSON here")
    return parser.parse_args(argv)


def _replay(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="fuzz-loader-") as temporary:
        root = Path(temporary)
        bases = build_bases(root / "reference")
        variant = make_variant(args.replay, args.seed, bases)
        slot = _Slot(root / "job0", bases, root / "reference", args.memory_mb << 20, args.timeout)
        try:
            outcome = slot.run(variant)
        finally:
            slot.worker.close()
        print(f"#{variant.index} {variant.kind}/{variant.target} ({len(variant.payload)} bytes)")
        print(f"recipe: {variant.recipe}")
        print(f"{outcome.status}: {outcome.detail}")
        if args.save_failures:
            _save_failure(args.save_failures, variant, outcome)
        return 0 if outcome.ok else 1


def main(argv: list[str] | None = None) -> int:
    """Run a campaign and print counts by outcome; exit 1 if any variant failed."""
    args = _parse(argv)
    if args.replay is not None:
        return _replay(args)

    def progress(result: CampaignResult) -> None:
        counts = ", ".join(f"{k} {v}" for k, v in sorted(result.counts.items()))
        print(f"[{result.variants}/{args.variants} {result.seconds:.0f} s] {counts}",
              file=sys.stderr, flush=True)  # fmt: skip

    result = run_campaign(
        args.variants,
        args.seed,
        jobs=args.jobs,
        first=args.first,
        memory_bytes=args.memory_mb << 20,
        timeout=args.timeout,
        save_failures=args.save_failures,
        progress=progress,
        progress_every=max(args.variants // 20, 1),
    )
    print(result.report())
    if args.json:
        args.json.write_text(json.dumps(result.summary(), indent=2) + "\n")
    return 0 if not result.failures else 1


if __name__ == "__main__":
    if "--worker" in sys.argv:
        _worker_main(int(sys.argv[sys.argv.index("--memory-bytes") + 1]))
        sys.exit(0)
    sys.exit(main())
