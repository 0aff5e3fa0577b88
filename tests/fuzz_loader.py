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
- or raises :class:`CifarFormatError` (or a subclass) whose message names the file and
  stays short.

Anything else fails: a signal, a timeout, ``MemoryError``, ``RecursionError`` or any
other exception type, a wrong result, or an unbounded message. The campaign reports
counts by outcome; ``--replay INDEX`` re-runs one variant (each variant's mutations
come from its own seeded generator, so a failure is reproducible on its own).
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["ACCEPTED", "LoaderWorker", "Outcome", "load_and_check"]

# Outcomes that pass; every other status is a failure.
LOADED, FORMAT_ERROR, UNSAFE_PICKLE = "loaded", "format_error", "unsafe_pickle"
ACCEPTED = frozenset({LOADED, FORMAT_ERROR, UNSAFE_PICKLE})
DEFAULT_MEMORY_BYTES = 1 << 30
DEFAULT_TIMEOUT = 30.0  # seconds per variant; a valid small file loads in milliseconds
MAX_MESSAGE_CHARS = 300  # an error message's length once the file's path is taken out
PER_BATCH = 2  # rows per fake batch: small files, so most mutations hit the structure
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
        return load_pickle_safely(path), None
    if kind == "selftest-crash":  # proves that a crash is seen as one
        os.kill(os.getpid(), signal.SIGSEGV)
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
    if "\n" in message or len(message) > MAX_MESSAGE_CHARS:
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
        return subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr, env=env
        )

    def _stderr_tail(self) -> str:
        self._stderr.seek(0)
        text = self._stderr.read().decode("utf-8", "replace").strip().splitlines()
        return " | ".join(text[-3:])

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


if __name__ == "__main__" and "--worker" in sys.argv:
    _worker_main(int(sys.argv[sys.argv.index("--memory-bytes") + 1]))
    sys.exit(0)
