"""Acceptance 2: many machines on one PostgreSQL study, for real.

The test starts a throw-away PostgreSQL server (``initdb`` into a temporary folder,
``pg_ctl start`` listening only on 127.0.0.1 on a free port; as an unprivileged user when
the test runs as root, since ``initdb`` refuses root), then runs two separate ``minigrad
tune --storage ... --study s`` processes standing for two machines. One is killed with
SIGKILL mid-trial; the other retries that trial once its heartbeat is stale, and the study
ends with exactly the requested number of trials, each run once. The test stops the
server. It is skipped only where the server binaries are missing.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fake_cifar import write_fake_cifar

optuna = pytest.importorskip("optuna", reason="minigrad tune needs the tune extra (Optuna)")
pytest.importorskip("psycopg2", reason="a PostgreSQL study needs the tune extra (psycopg2)")

REPO = Path(__file__).resolve().parent.parent
TRIALS = 6
ENV = {**os.environ, "MPLBACKEND": "Agg", "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
       "PYTHONPATH": os.pathsep.join(sys.path)}


def _server_binaries() -> Path | None:
    """The folder holding initdb and pg_ctl: on PATH, or Debian's versioned folder."""
    on_path = shutil.which("pg_ctl")
    candidates = [Path(on_path).parent] if on_path else []
    candidates += [Path(p) for p in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)]
    for folder in candidates:
        if (folder / "initdb").is_file() and (folder / "pg_ctl").is_file():
            return folder
    return None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _as_server_user() -> tuple[Callable[[], None] | None, int | None, int | None]:
    """How to run the server: as ``nobody`` when we are root (initdb refuses root)."""
    if os.geteuid() != 0:
        return None, None, None
    user = pwd.getpwnam("nobody")

    def demote() -> None:
        os.setgroups([])
        os.setgid(user.pw_gid)
        os.setuid(user.pw_uid)

    return demote, user.pw_uid, user.pw_gid


@pytest.fixture(scope="module")
def postgres() -> Iterator[str]:
    """A throw-away PostgreSQL server on 127.0.0.1; yields its URL; stopped afterwards."""
    binaries = _server_binaries()
    if binaries is None:
        pytest.skip("no PostgreSQL server binaries (initdb, pg_ctl) on this machine: "
                    "apt-get install postgresql")
    demote, uid, gid = _as_server_user()
    home = Path(tempfile.mkdtemp(prefix="minigrad-pg-"))
    if uid is not None and gid is not None:
        os.chown(home, uid, gid)
    data, port = home / "data", _free_port()
    env = {"PATH": os.environ.get("PATH", ""), "LC_ALL": "C", "LANG": "C", "HOME": str(home)}

    def server(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*args], env=env, cwd=home, preexec_fn=demote,
                              capture_output=True, text=True, timeout=timeout)

    try:
        made = server(str(binaries / "initdb"), "-D", str(data), "-U", "postgres",
                      "-A", "trust", "-E", "UTF8", "--no-sync")
        assert made.returncode == 0, made.stdout + made.stderr
        options = (f"-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories={home} "
                   "-c fsync=off -c synchronous_commit=off -c full_page_writes=off")
        started = server(str(binaries / "pg_ctl"), "-D", str(data), "-l", str(home / "log"),
                         "-o", options, "-w", "-t", "60", "start")
        assert started.returncode == 0, started.stdout + started.stderr + (
            (home / "log").read_text() if (home / "log").exists() else "")
        yield f"postgresql+psycopg2://postgres@127.0.0.1:{port}/postgres"
    finally:
        if data.exists():
            server(str(binaries / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop",
                   timeout=60)
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="module")
def fake_cifar(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_fake_cifar(tmp_path_factory.mktemp("cifar"), num_cases_per_batch=30).root


def _machine(url: str, data: Path, out: Path) -> subprocess.Popen[str]:
    """One machine's ``minigrad tune`` on the shared study (one trial at a time)."""
    return subprocess.Popen(
        [sys.executable, "-m", "minigrad", "tune", "--storage", url, "--study", "s",
         "--heartbeat", "1", "--data-dir", str(data), "--out", str(out),
         "--trials", str(TRIALS), "--num-training", "120", "--num-validation", "20",
         "--num-test", "20", "--num-iters", "250", "350", "--batch-sizes", "20",
         "--std", "0.01", "--optimizers", "adam", "sgd", "--workers", "1", "--quiet",
         "--no-save-best"],
        cwd=REPO, env=ENV, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )


_STORAGES: dict[str, Any] = {}


def _trials(url: str) -> list:
    """The study's trials as the test sees them (none before the machines made it)."""
    import sqlalchemy.exc

    try:
        storage = _STORAGES.get(url) or _STORAGES.setdefault(
            url, optuna.storages.RDBStorage(url))
        return optuna.load_study(study_name="s", storage=storage).get_trials()
    except (KeyError, sqlalchemy.exc.SQLAlchemyError):  # not made yet (or being made)
        return []


def _running_after_a_complete(trials: list, worker: str) -> Any:
    """The worker's running trial, once it has completed one and reported two epochs."""
    if not any(t.state.name == "COMPLETE" and t.user_attrs.get("worker") == worker
               for t in trials):
        return None
    return next((t for t in trials if t.state.name == "RUNNING"
                 and t.user_attrs.get("worker") == worker
                 and len(t.intermediate_values) >= 2), None)


def test_two_machines_share_one_study_and_a_killed_ones_trial_is_retried(
    postgres: str, fake_cifar: Path, tmp_path: Path
) -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    first = _machine(postgres, fake_cifar, tmp_path / "machine-a")
    # A bare postgresql:// works too (SQLAlchemy 2.1 would want psycopg 3 for it).
    second = _machine(postgres.replace("+psycopg2", ""), fake_cifar, tmp_path / "machine-b")
    host = socket.gethostname()
    try:
        # Wait until the first machine has finished a trial and is in the middle of the
        # next one, then kill it. A trial here lasts well under a second, so the test
        # freezes the machine (SIGSTOP) before it reads which trial is running: read
        # without the freeze, the trial could finish before the SIGKILL lands and the
        # kill hit the next one (CI saw that once).
        deadline = time.monotonic() + 120
        victim, ours = None, f"{host}:{first.pid}"
        while victim is None and time.monotonic() < deadline:
            assert first.poll() is None, first.communicate()
            if _running_after_a_complete(_trials(postgres), ours):
                first.send_signal(signal.SIGSTOP)
                victim = _running_after_a_complete(_trials(postgres), ours)
                if victim is None:  # frozen between two trials: let it go on
                    first.send_signal(signal.SIGCONT)
            time.sleep(0.1)
        assert victim is not None, "the first machine never ran a trial"
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
        stdout, stderr = second.communicate(timeout=300)
    finally:
        for process in (first, second):
            if process.poll() is None:
                process.kill()
                process.wait()
    assert second.returncode == 0, stderr
    assert f"{TRIALS} trials:" in stdout, stdout

    trials = _trials(postgres)
    finished = [t for t in trials if t.state.name in ("COMPLETE", "PRUNED")
                or t.user_attrs.get("status") in ("diverged", "failed")]
    # Exactly the requested number, one per trial number, each run once.
    assert sorted(t.user_attrs["trial_id"] for t in finished) == list(range(TRIALS))
    (lost,) = [t for t in trials if t not in finished]
    assert lost.number == victim.number and lost.state.name == "FAIL"  # by its heartbeat
    (retry,) = [t for t in finished if t.user_attrs.get("retry_of") == victim.number]
    assert retry.user_attrs["trial_id"] == victim.user_attrs["trial_id"]
    assert retry.params == victim.params  # the same trial, run again
    assert retry.user_attrs["worker"] == f"{host}:{second.pid}"
    # Both machines ran trials: the study was shared.
    workers = {t.user_attrs["worker"] for t in finished}
    assert workers == {f"{host}:{first.pid}", f"{host}:{second.pid}"}, workers
    rows = (tmp_path / "machine-b" / "trials.csv").read_text().splitlines()
    assert len(rows) == 1 + TRIALS
