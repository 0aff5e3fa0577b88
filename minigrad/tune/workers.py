"""Worker processes of a search, and what runs inside one.

A worker is ``python -m minigrad.tune.workers --parent PID``, started by the search's
process with its settings on standard input (never on the command line, where a database
password would show). It

- dies with its parent: on Linux ``prctl(PR_SET_PDEATHSIG, SIGKILL)``, and everywhere a
  thread that waits on a pipe whose other end only the parent holds (EOF: the parent is
  gone, however it died), so a killed search leaves no process behind;
- runs BLAS on one thread (``OMP_NUM_THREADS`` etc. are 1 before NumPy loads), so N
  workers on N cores do not fight over them;
- maps the search's one read-only copy of the data (:mod:`minigrad.tune.shared_data`);
- takes trials from the study until none is waiting (mode ``trials``), or retrains the
  best trial into a run folder (mode ``retrain``);
- ignores Ctrl-C and SIGHUP, which reach the whole process group: the parent decides,
  and ends workers with SIGTERM.

:class:`WorkerGroup` is the parent's side: start, watch, stop.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

__all__ = [
    "BLAS_THREAD_VARIABLES",
    "EXIT_ORPHANED",
    "Worker",
    "WorkerGroup",
    "describe_exit",
    "die_with_parent",
    "main",
    "worker_environment",
]

BLAS_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
EXIT_ORPHANED = 3  # the parent was gone before (or while) the worker started
_PR_SET_PDEATHSIG = 1
_STOP_TIMEOUT = 5.0


def die_with_parent(parent: int) -> None:
    """Make this process end when process ``parent`` (which started it) ends."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    if os.getppid() != parent:  # it died before prctl took effect
        os._exit(EXIT_ORPHANED)


def _watch_parent(fd: int) -> None:
    """Exit as soon as the read end ``fd`` of the parent's pipe reaches EOF."""

    def wait() -> None:
        try:
            while os.read(fd, 1):
                pass
        except OSError:
            pass
        os._exit(EXIT_ORPHANED)

    threading.Thread(target=wait, name="minigrad-parent-watch", daemon=True).start()


def worker_environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment for a worker: one BLAS thread, this minigrad first on
    the import path, plus ``extra``."""
    env = dict(os.environ)
    env.update({name: "1" for name in BLAS_THREAD_VARIABLES})
    root = os.fspath(Path(__file__).resolve().parents[2])  # the folder holding minigrad/
    env["PYTHONPATH"] = os.pathsep.join(
        [root, *([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])]
    )
    env.update(extra or {})
    return env


def describe_exit(code: int) -> str:
    """A process's ``returncode`` in words: ``exit code 3`` or ``signal 9 (SIGKILL)``."""
    if code >= 0:
        return f"exit code {code}"
    try:
        name = signal.Signals(-code).name
    except ValueError:
        name = "unknown"
    return f"signal {-code} ({name})"


@dataclass
class Worker:
    """One started worker: its process, and its name in the study (``host:pid``)."""

    process: subprocess.Popen[bytes]
    name: str

    @property
    def pid(self) -> int:
        return self.process.pid


class WorkerGroup:
    """The parent's worker processes: :meth:`start` them, :meth:`reap` the ones that
    ended, :meth:`stop` them all (also on leaving the ``with`` block).

    Parameters
    ----------
    spec : what each worker is told (JSON-able; ``mode``, ``location``, ``data`` ...).
    pass_fds : descriptors the workers inherit (the shared data).
    capture_output : read each worker's standard output (a retrain's result).
    """

    def __init__(self, spec: Mapping[str, Any], pass_fds: Sequence[int] = (),
                 capture_output: bool = False) -> None:
        self._spec = dict(spec)
        self._pass_fds = tuple(pass_fds)
        self._capture = capture_output
        self._watch_read, self._watch_write = os.pipe()  # the write end never leaves us
        self.workers: list[Worker] = []
        self.started = 0

    def start(self, salt: int | None = None) -> Worker:
        """Start one worker; ``salt`` seeds its sampler apart from the others'."""
        import socket

        spec = {**self._spec, "watch_fd": self._watch_read,
                "salt": self.started + 1 if salt is None else salt}
        process = subprocess.Popen(
            [sys.executable, "-m", "minigrad.tune.workers", "--parent", str(os.getpid())],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE if self._capture else subprocess.DEVNULL,
            env=worker_environment(),
            pass_fds=(self._watch_read, *self._pass_fds),
        )
        assert process.stdin is not None
        try:
            process.stdin.write(json.dumps(spec).encode("utf-8"))
            process.stdin.close()
        except OSError:
            pass  # it died at once: reap will tell
        worker = Worker(process, f"{socket.gethostname()}:{process.pid}")
        self.workers.append(worker)
        self.started += 1
        return worker

    def alive(self) -> list[Worker]:
        return [worker for worker in self.workers if worker.process.poll() is None]

    def reap(self) -> list[tuple[Worker, int]]:
        """The workers that ended since the last call, with their return codes."""
        ended = [(w, code) for w in self.workers if (code := w.process.poll()) is not None]
        self.workers = [w for w in self.workers if w.process.returncode is None]
        return ended

    def stop(self) -> list[tuple[Worker, int]]:
        """End every worker (SIGTERM, then SIGKILL after a few seconds) and wait for them."""
        for worker in self.alive():
            with contextlib.suppress(OSError):
                worker.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + _STOP_TIMEOUT
        for worker in self.workers:
            remaining = max(deadline - time.monotonic(), 0.0)
            try:
                worker.process.wait(timeout=remaining)
            except subprocess.TimeoutExpired:
                worker.process.kill()
                worker.process.wait()
        return self.reap()

    def close(self) -> None:
        self.stop()
        for fd in (self._watch_read, self._watch_write):
            with contextlib.suppress(OSError):
                os.close(fd)

    def __enter__(self) -> WorkerGroup:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_output(worker: Worker) -> str:
    """A finished worker's standard output (``capture_output`` groups)."""
    stream: IO[bytes] | None = worker.process.stdout
    return "" if stream is None else stream.read().decode("utf-8", "replace")


# ------------------------------------------------------------------ inside a worker


def _run_trials(spec: Mapping[str, Any], split: Any) -> int:
    from minigrad.tune.study import SearchStudy, StudyLocation

    location = StudyLocation.from_dict(spec["location"])
    search = SearchStudy.attach(location, int(spec["salt"]))
    search.run_trials(split, wait_for_others=not location.is_embedded)
    return 0


def _retrain(spec: Mapping[str, Any], shared: Any) -> int:
    from minigrad.experiment.config import TrainConfig
    from minigrad.experiment.training_run import train_into_folder
    from minigrad.training.early_stopping import EarlyStopping

    task = spec["retrain"]
    config = TrainConfig.from_dict(task["config"])
    patience = task.get("patience")
    callbacks = [] if patience is None else [EarlyStopping(int(patience))]
    outcome = train_into_folder(config, shared.for_config(config), Path(task["run_dir"]),
                                callbacks=callbacks, progress=False)
    measured = outcome.accuracies
    print(json.dumps({
        "status": outcome.status, "train": measured.train, "val": measured.val,
        "test": measured.test, "weights": outcome.weights, "iterations": outcome.iterations,
        "seconds": outcome.seconds,
    }))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """A worker's life: see the module docstring."""
    parser = argparse.ArgumentParser(prog="python -m minigrad.tune.workers")
    parser.add_argument("--parent", type=int, required=True)
    args = parser.parse_args(argv)
    die_with_parent(args.parent)
    for name in ("SIGINT", "SIGHUP"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), signal.SIG_IGN)
    spec = json.loads(sys.stdin.read())
    _watch_parent(int(spec["watch_fd"]))

    import optuna

    from minigrad.tune.shared_data import map_shared

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    shared = map_shared(spec["data"])
    if spec["mode"] == "retrain":
        return _retrain(spec, shared)
    return _run_trials(spec, shared)


if __name__ == "__main__":
    sys.exit(main())
