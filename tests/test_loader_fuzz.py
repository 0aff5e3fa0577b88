"""The loader's mutation fuzzer (tests/fuzz_loader.py): a bounded run, and its harness.

CI runs a fixed-seed campaign; ``python -m tests.fuzz_loader --variants 100000 --seed N``
runs a long one. ``MINIGRAD_FUZZ_VARIANTS`` changes the CI run's size.
"""

from __future__ import annotations

import os
from pathlib import Path

from fuzz_loader import (
    FORMAT_ERROR,
    LOADED,
    UNSAFE_PICKLE,
    LoaderWorker,
    build_bases,
    make_variant,
    run_campaign,
)

CI_VARIANTS = int(os.environ.get("MINIGRAD_FUZZ_VARIANTS", "3000"))
CI_SEED = 10


def test_fuzzed_files_load_correctly_or_raise_the_documented_error(tmp_path: Path) -> None:
    result = run_campaign(CI_VARIANTS, CI_SEED, scratch=tmp_path)

    assert not result.failures, result.report()
    # The mutations reach every outcome and every entry point, and the worker never died.
    assert result.counts[LOADED] and result.counts[FORMAT_ERROR] and result.counts[UNSAFE_PICKLE]
    assert set(result.by_kind) == {"batch", "meta", "folder", "pickle"}
    assert result.worker_starts == 1


def test_each_variant_depends_only_on_the_seed_and_its_index(tmp_path: Path) -> None:
    bases = build_bases(tmp_path / "a")
    again = build_bases(tmp_path / "b")

    for index in (0, 1, 977):
        assert make_variant(index, 3, bases) == make_variant(index, 3, again)
    assert make_variant(5, 3, bases) != make_variant(5, 4, bases)


def test_valid_files_load_in_the_worker(tmp_path: Path) -> None:
    bases = build_bases(tmp_path / "cifar")
    (tmp_path / "batch").write_bytes(bases.batches[1])  # the Python 3 re-save

    with LoaderWorker() as worker:
        assert worker.load("folder", tmp_path / "cifar").status == LOADED
        assert worker.load("batch", tmp_path / "batch").status == LOADED


def test_a_crash_is_reported_and_the_next_load_gets_a_fresh_worker(tmp_path: Path) -> None:
    build_bases(tmp_path / "cifar")

    with LoaderWorker() as worker:
        crash = worker.load("selftest-crash", tmp_path)
        after = worker.load("folder", tmp_path / "cifar")

    assert crash.status == "signal" and "SIGSEGV" in crash.detail, crash
    assert after.status == LOADED and worker.starts == 2


def test_the_memory_cap_turns_a_huge_allocation_into_a_failure(tmp_path: Path) -> None:
    with LoaderWorker(memory_bytes=1 << 30) as worker:
        outcome = worker.load("selftest-memory", tmp_path, bytes=str(2 << 30))

    assert outcome.status == "wrong_exception" and outcome.detail.startswith("MemoryError")


def test_the_time_limit_kills_a_slow_load(tmp_path: Path) -> None:
    with LoaderWorker(timeout=0.5) as worker:
        outcome = worker.load("selftest-sleep", tmp_path, seconds="5")
        after = worker.load("selftest-memory", tmp_path, bytes="1000")

    assert outcome.status == "timeout" and after.status == LOADED
