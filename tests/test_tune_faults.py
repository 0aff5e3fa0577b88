"""``minigrad tune`` under faults, as a user meets them: a search of 8 small trials in 2
worker processes, stopped by Ctrl-C, SIGTERM, SIGHUP or SIGKILL mid-run, then resumed
(acceptance 1); two resumes of one folder at once (acceptance 4); a worker process killed
while the search goes on.

Afterwards the study has exactly 8 finished trials, one per trial number, none run twice;
no process of the search is left and nothing is left in /dev/shm.
"""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fake_cifar import write_fake_cifar

optuna = pytest.importorskip("optuna", reason="minigrad tune needs the tune extra (Optuna)")

REPO = Path(__file__).resolve().parent.parent
TRIALS = 8
ENV = {**os.environ, "MPLBACKEND": "Agg", "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
       "PYTHONPATH": os.pathsep.join(sys.path)}


@pytest.fixture(scope="module")
def fake_cifar(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_fake_cifar(tmp_path_factory.mktemp("cifar"), num_cases_per_batch=30).root


def _command(data: Path, out: Path, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "minigrad", "tune", "--data-dir", str(data), "--out", str(out),
        "--trials", str(TRIALS), "--num-training", "120", "--num-validation", "20",
        "--num-test", "20", "--num-iters", "150", "250", "--batch-sizes", "20",
        "--std", "0.01", "--optimizers", "adam", "sgd", "--workers", "2", "--quiet",
        "--no-save-best", *extra,
    ]


def _resume(data: Path, out: Path) -> list[str]:
    """Only the folder (and where the data is): the rest comes from the study."""
    return [sys.executable, "-m", "minigrad", "tune", "--resume", "--out", str(out),
            "--data-dir", str(data), "--workers", "2", "--quiet", "--no-save-best"]


def _rows(out: Path) -> list[dict[str, str]]:
    try:
        with open(out / "trials.csv", newline="") as file:
            return list(csv.DictReader(file))
    except FileNotFoundError:
        return []


def _study(out: Path) -> list:
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    path = out / "study.journal"
    if not path.exists():  # (JournalFileBackend would create it)
        raise FileNotFoundError(path)
    storage = JournalStorage(JournalFileBackend(os.fspath(path)))
    return optuna.load_study(study_name="minigrad-tune", storage=storage).get_trials()


def _processes_of(parent: int) -> list[int]:
    """PIDs of worker processes started by ``parent`` (their command line names it)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            args = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"minigrad.tune.workers" in args and str(parent).encode() in args:
            found.append(int(entry.name))
    return found


def _shm_entries() -> set[str]:
    shm = Path("/dev/shm")
    return {p.name for p in shm.iterdir()} if shm.is_dir() else set()


def _wait_until(condition: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


def _start(command: list[str]) -> subprocess.Popen:
    # Its own session, like a shell job: a signal to its group reaches it and its workers.
    return subprocess.Popen(command, cwd=REPO, env=ENV, start_new_session=True, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _finished(out: Path) -> list:
    try:
        trials = _study(out)
    except (FileNotFoundError, KeyError):
        return []
    return [t for t in trials if t.state.name in ("COMPLETE", "PRUNED")
            or t.user_attrs.get("status") in ("diverged", "failed")]


def _mid_trial(out: Path) -> bool:
    """Whether a trial is running and has reported an epoch (the search is mid-trial)."""
    try:
        trials = _study(out)
    except (FileNotFoundError, KeyError):
        return False
    return any(t.state.name == "RUNNING" and t.intermediate_values for t in trials)


def _stop(process: subprocess.Popen, out: Path, signum: int, *, group: bool,
          after: int | None) -> tuple[str, list]:
    """Once more than ``after`` trials have finished (None: once a trial is mid-run, which
    uses up no trial of the 8), send ``signum`` (to the process group: what a terminal does
    for Ctrl-C and a hangup); wait for the search to end. Returns its stderr and the
    finished trials just before the signal."""
    def ready() -> bool:
        if after is None:
            return _mid_trial(out)
        return len(_finished(out)) > after

    try:
        _wait_until(lambda: ready() or process.poll() is not None, 120,
                    "a trial mid-run" if after is None else f"more than {after} finished trials")
        assert process.poll() is None, process.communicate()
        assert _processes_of(process.pid), "the search runs its trials in worker processes"
        before = _finished(out)
        if group:
            os.killpg(process.pid, signum)
        else:
            process.send_signal(signum)
        _, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    _wait_until(lambda: not _processes_of(process.pid), 10,
                "the workers to end with their parent")
    return err, before


def _check_stopped(out: Path, process: subprocess.Popen, err: str, code: int,
                   before: list) -> None:
    assert process.returncode == code, err
    assert "interrupted; every finished trial is in the study" in err, err
    assert "Traceback" not in err, err
    stopped = _study(out)
    assert not [t for t in stopped if t.state.name == "RUNNING"]  # cut short, enqueued again
    finished = _finished(out)
    assert len(before) <= len(finished) < TRIALS
    assert len(_rows(out)) == len(finished)  # the export shows every finished trial


def test_a_search_stopped_every_way_finishes_with_each_trial_once(
    fake_cifar: Path, tmp_path: Path
) -> None:
    """Acceptance 1 and 4 as one search, stopped once each way and resumed each time."""
    out, shm_before = tmp_path / "search", _shm_entries()

    # Ctrl-C: the terminal signals the whole process group.
    process = _start(_command(fake_cifar, out))
    err, before = _stop(process, out, signal.SIGINT, group=True, after=1)
    _check_stopped(out, process, err, 130, before)
    kept = {t.number: t.datetime_complete for t in _finished(out)}

    # A worker process dies (the OOM killer): its trial is recorded as failed and the
    # search goes on with a new worker; then SIGTERM, as a batch scheduler sends it.
    process = _start(_resume(fake_cifar, out))
    victims: list = []

    def running() -> bool:
        try:
            trials = _study(out)
        except (FileNotFoundError, KeyError):
            return False
        victims[:] = [t for t in trials if t.state.name == "RUNNING" and t.intermediate_values
                      and t.number not in kept]
        return bool(victims) or process.poll() is not None

    _wait_until(running, 120, "a running trial")
    assert process.poll() is None, process.communicate()
    victim = victims[0]
    os.kill(int(victim.user_attrs["worker"].rsplit(":", 1)[1]), signal.SIGKILL)
    err, before = _stop(process, out, signal.SIGTERM, group=False, after=len(kept) + 1)
    _check_stopped(out, process, err, 143, before)
    failed = [t for t in _finished(out) if t.user_attrs.get("status") == "failed"]
    assert [t.number for t in failed] == [victim.number]
    assert failed[0].user_attrs["message"] == "its worker process died (signal 9 (SIGKILL))"
    kept.update({t.number: t.datetime_complete for t in _finished(out)})

    # The terminal went away: SIGHUP to the group.
    process = _start(_resume(fake_cifar, out))
    err, before = _stop(process, out, signal.SIGHUP, group=True, after=None)
    _check_stopped(out, process, err, 129, before)
    kept.update({t.number: t.datetime_complete for t in _finished(out)})

    # SIGKILL (an ssh drop): no clean-up at all; the workers end by themselves.
    process = _start(_resume(fake_cifar, out))
    _, _ = _stop(process, out, signal.SIGKILL, group=False, after=None)
    assert process.returncode == -signal.SIGKILL
    assert _shm_entries() <= shm_before  # no copy of the data outlives the search
    kept.update({t.number: t.datetime_complete for t in _finished(out)})
    assert len(kept) < TRIALS

    # Two resumes of the folder at once: one finishes the search, the other refuses.
    first, second = _start(_resume(fake_cifar, out)), _start(_resume(fake_cifar, out))
    outputs = [p.communicate(timeout=300) for p in (first, second)]
    assert sorted(p.returncode for p in (first, second)) == [0, 2], outputs
    refused = next(err for p, (_, err) in zip((first, second), outputs, strict=True)
                   if p.returncode == 2)
    assert "is in use by PID" in refused and "Traceback" not in refused, refused
    done = next(stdout for p, (stdout, _) in zip((first, second), outputs, strict=True)
                if p.returncode == 0)
    assert f"{TRIALS} trials:" in done and "1 failed" in done, done

    # Exactly one finished trial per trial number; the others are attempts cut short,
    # each run again as a retry with its parameters; nothing finished ran twice.
    trials = _study(out)
    finished = _finished(out)
    assert sorted(t.user_attrs["trial_id"] for t in finished) == list(range(TRIALS))
    for attempt in (t for t in trials if t not in finished):
        assert attempt.state.name == "FAIL", attempt
        assert attempt.user_attrs.get("status") in (None, "interrupted"), attempt
        (retry,) = [t for t in trials if t.user_attrs.get("retry_of") == attempt.number]
        assert retry.user_attrs["trial_id"] == attempt.user_attrs["trial_id"]
        chosen = {**attempt.system_attrs.get("fixed_params", {}), **attempt.params}
        assert retry.system_attrs["fixed_params"] == chosen
    after = {t.number: t.datetime_complete for t in trials}
    assert all(after[number] == complete for number, complete in kept.items())
    assert [int(row["trial_id"]) for row in _rows(out)] == list(range(TRIALS))
    assert not list(out.glob("study.journal.lock*"))
    assert _shm_entries() <= shm_before
