"""``minigrad tune`` on Optuna: the space, the seeded list, the study, exports, the CLI.

Process faults (signals, killed parents and workers, two resumes at once) are in
``test_tune_faults.py``; the multi-machine PostgreSQL study in ``test_tune_postgres.py``.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from fake_cifar import write_fake_cifar
from hypothesis import given
from hypothesis import strategies as st

optuna = pytest.importorskip("optuna", reason="minigrad tune needs the tune extra (Optuna)")

from minigrad.cli.command import build_parser, main  # noqa: E402
from minigrad.cli.tune import settings_from_args  # noqa: E402
from minigrad.tune.results import (  # noqa: E402
    COLUMNS,
    TrialResult,
    best_result,
    leaderboard,
    results_csv,
)
from minigrad.tune.search import RESULTS_FILE, STUDY_FILE, run_search, write_summary  # noqa: E402
from minigrad.tune.settings import SearchSettings  # noqa: E402
from minigrad.tune.space import (  # noqa: E402
    LR_FAMILIES,
    SearchSpace,
    Trial,
    TuneError,
    sample_trial,
    sample_trials,
    seeded_params,
)
from minigrad.tune.study import SearchStudy, StudyLocation  # noqa: E402

REPO = Path(__file__).resolve().parent.parent


def _split(num_train: int = 120, width: int = 12, seed: int = 0) -> SimpleNamespace:
    """Random rows whose label is the arg-max of a few features: learnable, and fast."""
    rng = np.random.default_rng(seed)

    def rows(n: int) -> tuple[np.ndarray, np.ndarray]:
        X = rng.standard_normal((n, width)).astype(np.float32)
        return X, np.argmax(X[:, :10], axis=1)

    (X_train, y_train), (X_val, y_val), (X_test, y_test) = rows(num_train), rows(40), rows(40)
    return SimpleNamespace(X_train=X_train, y_train=y_train, X_val=X_val, y_val=y_val,
                           X_test=X_test, y_test=y_test)


SMALL = SearchSpace(num_iters=(20, 40), batch_sizes=(10, 20), std=0.1)


def study_trials(folder: Path) -> list:
    """The trials of the study in search folder ``folder``, read as Optuna reads them."""
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    storage = JournalStorage(JournalFileBackend(os.fspath(folder / STUDY_FILE)))
    return optuna.load_study(study_name="minigrad-tune", storage=storage).get_trials()


def csv_rows(folder: Path) -> list[dict[str, str]]:
    with open(folder / RESULTS_FILE, newline="") as file:
        return list(csv.DictReader(file))


# ------------------------------------------------------------------ the search space


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"lr_sgd": (-1e-3, 1e-2)}, "lr_sgd LOW must be a finite number > 0, got -0.001"),
        ({"lr_adaptive": (1e-2, 1e-4)}, "lr_adaptive must be LOW <= HIGH"),
        ({"reg": (0.0, 1.0)}, "reg LOW must be a finite number > 0, got 0.0"),
        ({"lr_decay": (0.9, 1.5)}, r"lr_decay HIGH must be a finite number > 0 and <= 1, got 1.5"),
        ({"optimizers": ("adam", "lbfgs")}, "unknown optimizer 'lbfgs'"),
        ({"optimizers": ()}, "at least one optimiser"),
        ({"batch_sizes": (100, 0)}, r"batch_sizes\[1\] must be a positive integer, got 0"),
        ({"num_iters": (0, 10)}, "num_iters LOW must be a positive integer, got 0"),
        ({"num_epochs": (5, 2)}, "num_epochs must be LOW <= HIGH"),
        ({"hidden_dims": ((-3,),)}, r"hidden_dims\[0\] width must be a positive integer"),
        ({"hidden_dims": ()}, "at least one architecture"),
        ({"hidden_dims": ((50,), (50,))}, "lists an architecture twice"),
        ({"sampling": "random"}, "unknown sampling 'random'"),
        ({"num_iters": (1.5, 3)}, "num_iters LOW must be an integer, got float 1.5"),
        ({"reg": 0.5}, "reg must be a pair LOW HIGH, got 0.5"),
        ({"lr_sgd": (1e-3, "1e-2")}, "lr_sgd HIGH must be a real number, got str '1e-2'"),
    ],
)
def test_bad_search_space_is_named(kwargs: dict, message: str) -> None:
    with pytest.raises(TuneError, match=message):
        SearchSpace(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"num_trials": 0}, "num_trials must be a positive integer"),
        ({"seed": -1}, "seed must be >= 0, got -1"),
        ({"patience": 0}, "patience must be a positive integer"),
        ({"target_acc": 1.5}, "target_acc must be a finite number > 0 and <= 1, got 1.5"),
        ({"seed": True}, "seed must be an integer, got bool True"),
        ({"patience": 2.0}, "patience must be an integer, got float 2.0"),
        ({"sampler": "grid"}, "unknown sampler 'grid'; choose one of random, tpe"),
        ({"pruner": "asha"}, "unknown pruner 'asha'; choose one of hyperband, median, none"),
        ({"prune_startup": -1}, "prune_startup must be >= 0"),
        ({"prune_warmup": -2}, "prune_warmup must be >= 0"),
    ],
)
def test_bad_search_settings_are_named(kwargs: dict, message: str) -> None:
    with pytest.raises(TuneError, match=message):
        SearchSettings(**kwargs)


def test_settings_are_normalised_and_round_trip() -> None:
    settings = SearchSettings(num_trials=np.int64(3), seed=np.int32(4), target_acc=1)
    assert (type(settings.num_trials), type(settings.seed)) == (int, int)
    assert isinstance(settings.target_acc, float) and settings.target_acc == 1.0
    deep = SearchSettings(SearchSpace(hidden_dims=((100, 50), (50,))), sampler="tpe")
    assert SearchSettings.from_dict(json.loads(json.dumps(deep.to_dict()))) == deep
    with pytest.raises(TuneError, match="num_trials must be a positive integer, got 0"):
        sample_trials(SearchSpace(), 0, 0, num_train=100)


@given(seed=st.integers(0, 2**32 - 1), epochs=st.booleans())
def test_trials_are_reproducible_in_range_and_prefix_stable(seed: int, epochs: bool) -> None:
    space = SearchSpace(num_epochs=(2, 5) if epochs else None)
    trials = sample_trials(space, seed, 12, num_train=1000)
    assert trials == sample_trials(space, seed, 12, num_train=1000)
    assert trials[:5] == sample_trials(space, seed, 5, num_train=1000)  # more trials: same first
    assert [t.trial_id for t in trials] == list(range(12))
    for trial in trials:
        low, high = space.lr_range(trial.optimizer)
        assert low <= trial.learning_rate <= high * (1 + 1e-12)
        assert space.reg[0] <= trial.reg <= space.reg[1] * (1 + 1e-12)
        assert space.lr_decay[0] <= trial.lr_decay <= space.lr_decay[1]
        assert trial.batch_size in space.batch_sizes
        if epochs:
            assert trial.num_epochs is not None and 2 <= trial.num_epochs <= 5
            assert trial.num_iters == trial.num_epochs * (1000 // trial.batch_size)
        else:
            assert trial.num_epochs is None and 1000 <= trial.num_iters <= 4000


def test_the_seeded_list_is_the_one_minigrad_always_drew() -> None:
    """The seeded list's formula (numbers recorded before the Optuna engine): old searches'
    trial ids mean the same configurations."""
    trial = sample_trial(SearchSpace(), 0, 0, num_train=49000)
    u = np.random.default_rng([0, 0]).random(7)
    assert trial.optimizer == tuple(LR_FAMILIES)[int(u[0] * 6)]
    low, high = SearchSpace().lr_range(trial.optimizer)
    assert trial.learning_rate == pytest.approx(np.exp(np.log(low) + u[1] * np.log(high / low)))
    assert trial.seed == int(u[6] * 2**31) and trial.hidden_dims == (50,)


def test_learning_rates_follow_the_optimizer_family() -> None:
    trials = sample_trials(SearchSpace(), 0, 200, num_train=1000)
    for family, (low, high) in {"sgd": (1e-4, 3e-3), "momentum": (3e-5, 1e-3),
                                "adaptive": (1e-4, 1e-2)}.items():
        rates = [t.learning_rate for t in trials if LR_FAMILIES[t.optimizer] == family]
        assert rates and low <= min(rates) and max(rates) <= high
    assert {t.optimizer for t in trials} == set(LR_FAMILIES)
    # Log-uniform: about half the draws below the geometric midpoint.
    adaptive = [t.learning_rate for t in trials if LR_FAMILIES[t.optimizer] == "adaptive"]
    assert 0.3 < np.mean(np.array(adaptive) < 1e-3) < 0.7


def test_changing_one_range_changes_only_that_setting() -> None:
    before = sample_trials(SearchSpace(), 3, 10, num_train=1000)
    after = sample_trials(SearchSpace(reg=(0.05, 0.5)), 3, 10, num_train=1000)
    for old, new in zip(before, after, strict=True):
        assert (old.optimizer, old.learning_rate, old.batch_size, old.seed) == (
            new.optimizer, new.learning_rate, new.batch_size, new.seed)
        assert 0.05 <= new.reg <= 0.5 + 1e-12


def test_study_parameters_name_each_choice_once() -> None:
    params = seeded_params(SearchSpace(hidden_dims=((50,), (100, 50))), 5, 2, num_train=1000)
    family = LR_FAMILIES[params["optimizer"]]
    assert set(params) == {"optimizer", f"lr_{family}", "reg", "lr_decay", "batch_size",
                           "num_iters", "hidden_dims"}
    assert params["hidden_dims"] in ("50", "100,50")
    # A setting with one value is fixed, not a parameter of the study.
    fixed = seeded_params(SearchSpace(optimizers=("adam",), batch_sizes=(20,)), 5, 2, 1000)
    assert "optimizer" not in fixed and "batch_size" not in fixed


# ------------------------------------------------------------------ exports


def _result(
    trial_id: int, status: str = "ok", val_acc: float | None = 0.1 + 0.01 / 3
) -> TrialResult:
    trial = Trial(trial_id, "adam", 1e-3 / 7, 0.1 / 3, 0.95, 200, 1000, None, 12345)
    return TrialResult(trial, status, val_acc=val_acc, best_val_acc=val_acc, train_acc=0.5,
                       iterations=1000, seconds=1 / 3, iters_to_target=None,
                       message="" if status == "ok" else "boom,\n with \"quotes\"")


def test_results_csv_has_one_exact_row_per_trial() -> None:
    text = results_csv([_result(2, "failed", None), _result(0), _result(1, "pruned")])
    rows = list(csv.DictReader(text.splitlines()))
    assert text.splitlines()[0].split(",") == list(COLUMNS)
    assert [row["trial_id"] for row in rows] == ["0", "1", "2"]
    assert float(rows[0]["learning_rate"]) == 1e-3 / 7  # floats round-trip exactly
    assert rows[2]["message"] == 'boom, with "quotes"'  # one line per trial
    assert [row["status"] for row in rows] == ["ok", "pruned", "failed"]


def test_leaderboard_ranks_by_validation_accuracy() -> None:
    results = [_result(0, val_acc=0.3), _result(1, val_acc=0.5), _result(2, "diverged", None),
               _result(3, val_acc=0.5), _result(4, "pruned", 0.9)]
    assert best_result(results) == results[1]  # ties: the lower trial id; pruned: not ranked
    board = leaderboard(results, top=2).splitlines()
    assert board[1].split()[:2] == ["1", "1"] and board[2].split()[:2] == ["2", "3"]
    assert len(board) == 4
    assert board[-1] == "5 trials: 3 ok, 1 pruned, 1 diverged, 0 failed"
    with pytest.raises(TuneError, match="top must be a positive integer, got -1"):
        leaderboard(results, top=-1)


# ------------------------------------------------------------------ running a search


def test_a_diverging_trial_is_recorded_and_the_search_goes_on(tmp_path: Path) -> None:
    space = SearchSpace(optimizers=("sgd", "adam"), lr_sgd=(1e8, 1e8), num_iters=(20, 40),
                        batch_sizes=(20,), std=0.1)
    results = run_search(_split(), SearchSettings(space, num_trials=6, seed=0), tmp_path,
                         progress=False)
    statuses = {(r.trial.optimizer, r.status) for r in results}
    assert statuses == {("sgd", "diverged"), ("adam", "ok")}
    for r in results:
        if r.status == "diverged":
            assert r.val_acc is None and "diverged" in r.message
        else:
            assert r.val_acc is not None and 0 <= r.val_acc <= 1 and r.iterations > 0
    assert len(csv_rows(tmp_path)) == 6
    trials = study_trials(tmp_path)
    assert {t.state.name for t in trials if t.user_attrs["status"] == "diverged"} == {"FAIL"}
    search = SearchStudy.attach(StudyLocation.embedded(tmp_path), 0)
    board = write_summary(tmp_path, results, search=search)
    assert "diverged" in board.splitlines()[-1]
    for name in ("search.png", "history.png", "importance.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
    assert (tmp_path / "leaderboard.txt").read_text().strip() == board


def test_a_failing_trial_is_recorded_as_failed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import minigrad.tune.trial_job as trial_job

    real_training = trial_job.run_training

    def flaky(config: object, split: object, callbacks: object) -> object:
        if config.optimizer == "rmsprop":  # type: ignore[attr-defined]
            raise MemoryError("out of memory in this trial")
        return real_training(config, split, callbacks)  # type: ignore[arg-type]

    monkeypatch.setattr(trial_job, "run_training", flaky)
    results = run_search(_split(), SearchSettings(SMALL, num_trials=4), tmp_path, progress=False)
    assert {r.status for r in results if r.trial.optimizer == "rmsprop"} == {"failed"}
    assert {r.status for r in results if r.trial.optimizer != "rmsprop"} == {"ok"}
    failed = next(r for r in results if r.status == "failed")
    assert failed.message == "MemoryError: out of memory in this trial"


def test_data_of_another_dtype_is_refused_before_any_trial(tmp_path: Path) -> None:
    split = _split()
    split.X_val = split.X_val.astype(np.float64)
    with pytest.raises(TuneError, match="X_val is float64 but the search uses float32"):
        run_search(split, SearchSettings(SMALL, num_trials=2), tmp_path, progress=False)
    assert not (tmp_path / STUDY_FILE).exists()


def test_target_accuracy_and_patience_are_recorded(tmp_path: Path) -> None:
    space = SearchSpace(optimizers=("adam",), lr_adaptive=(1e-2, 1e-2), num_iters=(300, 300),
                        batch_sizes=(20,), std=0.1)
    settings = SearchSettings(space, num_trials=1, target_acc=0.3, patience=2)
    (result,) = run_search(_split(), settings, tmp_path, progress=False)
    assert result.iters_to_target is not None and result.iters_to_target % 6 == 0
    assert result.seconds_to_target is not None and 0 < result.seconds_to_target <= result.seconds
    assert result.iterations < 300  # patience ended it early


def test_the_seeded_sampler_gives_the_same_trials_in_a_second_search(tmp_path: Path) -> None:
    """Acceptance 5: a trial's parameters depend only on the seed and its number, whoever
    runs it (one process, or two workers in any order)."""
    settings = SearchSettings(SMALL, num_trials=5, seed=7)
    first = run_search(_split(), settings, tmp_path / "a", progress=False)
    second = run_search(_split(), settings, tmp_path / "b", workers=2, progress=False)
    assert [r.trial for r in first] == [r.trial for r in second]
    assert [r.trial for r in first] == sample_trials(SMALL, 7, 5, num_train=120)
    by_number = {t.user_attrs["trial_id"]: t.params for t in study_trials(tmp_path / "b")}
    assert by_number == {i: seeded_params(SMALL, 7, i, 120) for i in range(5)}
    # The same numbers, too: the trial function is a pure function of its settings.
    assert [(r.status, r.val_acc) for r in first] == [(r.status, r.val_acc) for r in second]
    other = run_search(_split(), settings.replace(seed=8), tmp_path / "c", progress=False)
    assert [r.trial for r in other] != [r.trial for r in first]


def test_the_median_pruner_prunes_clearly_worse_trials(tmp_path: Path) -> None:
    """Acceptance 3: trials far below the median at an epoch stop there, and show as pruned
    in the study and in trials.csv."""
    space = SearchSpace(optimizers=("adam",), lr_adaptive=(1e-7, 3e-2), num_iters=(120, 120),
                        batch_sizes=(20,), std=0.1, reg=(1e-3, 1e-3), lr_decay=(1.0, 1.0))
    settings = SearchSettings(space, num_trials=10, seed=3, pruner="median", prune_startup=3)
    results = run_search(_split(), settings, tmp_path, progress=False)
    pruned = [r for r in results if r.status == "pruned"]
    finished = [r for r in results if r.status == "ok"]
    assert pruned and finished, [(r.trial.learning_rate, r.status) for r in results]
    assert max(r.trial.learning_rate for r in pruned) < max(r.trial.learning_rate
                                                            for r in finished)
    for r in pruned:
        assert r.iterations < 120 and r.val_acc is not None
    # Every pruned trial's best so far was below the median, at the epoch it stopped, of the
    # trials that had finished before it (the search runs one trial at a time here).
    trials = {t.user_attrs["trial_id"]: t for t in study_trials(tmp_path)}
    for r in pruned:
        stopped = trials[r.trial.trial_id]
        assert stopped.state == optuna.trial.TrialState.PRUNED
        step = max(stopped.intermediate_values)
        earlier = [t.intermediate_values[step] for t in trials.values()
                   if t.number < stopped.number and t.state == optuna.trial.TrialState.COMPLETE]
        assert max(stopped.intermediate_values.values()) < np.median(earlier)
    rows = {row["trial_id"]: row["status"] for row in csv_rows(tmp_path)}
    assert {rows[str(r.trial.trial_id)] for r in pruned} == {"pruned"}


def test_no_trial_is_pruned_during_the_warmup(tmp_path: Path) -> None:
    """A pruner looks at a trial only after prune_warmup epochs, then every warmup / 2."""
    space = SearchSpace(optimizers=("adam",), lr_adaptive=(1e-7, 3e-2), num_iters=(120, 120),
                        batch_sizes=(20,), std=0.1, reg=(1e-3, 1e-3), lr_decay=(1.0, 1.0))
    settings = SearchSettings(space, num_trials=10, seed=3, pruner="median", prune_startup=3,
                              prune_warmup=12)  # 20 epochs a trial: checks at 12, 15, 18
    run_search(_split(), settings, tmp_path, progress=False)
    stopped = [t for t in study_trials(tmp_path) if t.state == optuna.trial.TrialState.PRUNED]
    assert stopped, "the hopeless learning rates should still be pruned"
    assert {max(t.intermediate_values) for t in stopped} <= {12, 15, 18}


def test_the_pruner_warmup_defaults_to_a_quarter_of_the_shortest_trial() -> None:
    def warmup(space: SearchSpace, **settings: int) -> int:
        return SearchSettings(space, **settings).warmup_epochs(49000)

    assert warmup(SearchSpace(num_epochs=(100, 200))) == 25
    assert warmup(SearchSpace(num_epochs=(100, 200)), prune_warmup=3) == 3
    # 4900 iterations of 200 images are 20 epochs; of 400, 40: the shorter counts.
    assert warmup(SearchSpace(num_iters=(4900, 9800), batch_sizes=(400, 200))) == 5
    assert warmup(SearchSpace(num_iters=(100, 200), batch_sizes=(100,))) == 0
    assert SearchSettings.from_dict(SearchSettings(prune_warmup=7).to_dict()).prune_warmup == 7
    parsed = build_parser().parse_args(["tune", "--pruner", "median", "--prune-warmup", "9"])
    assert settings_from_args(parsed, SearchSettings()).prune_warmup == 9


def test_a_space_fixes_the_initial_weights_of_every_trial() -> None:
    space = SearchSpace(weight_init="he")
    trial = sample_trials(space, 0, 1, num_train=120)[0]
    assert trial.train_config(space, num_training=120).weight_init == "he"
    assert SearchSpace.from_dict(json.loads(json.dumps(space.to_dict()))) == space
    parsed = build_parser().parse_args(["tune", "--weight-init", "he"])
    assert settings_from_args(parsed, SearchSettings()).space.weight_init == "he"
    with pytest.raises(TuneError, match="weight_init"):
        SearchSpace(weight_init="xavier")
    both = build_parser().parse_args(["tune", "--weight-init", "he", "--std", "0.1"])
    with pytest.raises(TuneError, match="--std is the scale of --weight-init normal"):
        settings_from_args(both, SearchSettings())


def test_tpe_searches_and_resumes(tmp_path: Path) -> None:
    settings = SearchSettings(SMALL, num_trials=3, seed=1, sampler="tpe")
    first = run_search(_split(), settings, tmp_path, progress=False)
    more = run_search(_split(), settings.replace(num_trials=5), tmp_path, resume=True,
                      progress=False)
    assert [r.trial.trial_id for r in more] == [0, 1, 2, 3, 4]
    assert more[:3] == first
    assert len(study_trials(tmp_path)) == 5


def test_hidden_dims_fix_an_architecture_or_search_over_a_few(tmp_path: Path) -> None:
    space = SearchSpace(num_iters=(20, 30), batch_sizes=(20,), std=0.1, optimizers=("adam",),
                        hidden_dims=((16,), (16, 8)))
    results = run_search(_split(), SearchSettings(space, num_trials=6, seed=0), tmp_path,
                         progress=False)
    assert {r.trial.hidden_dims for r in results} == {(16,), (16, 8)}
    assert {r.status for r in results} == {"ok"}
    config = results[0].trial.train_config(space, num_training=120)
    assert config.hidden_dims == results[0].trial.hidden_dims
    assert {row["hidden_dims"] for row in csv_rows(tmp_path)} == {"16", "16,8"}
    assert {t.params["hidden_dims"] for t in study_trials(tmp_path)} == {"16", "16,8"}
    fixed = SearchSpace(hidden_dims=((32, 16),))
    assert sample_trial(fixed, 0, 0, 1000).hidden_dims == (32, 16)
    assert "hidden_dims" not in seeded_params(fixed, 0, 0, 1000)  # fixed: no parameter


def test_an_interrupted_search_resumes_without_losing_or_rerunning_trials(tmp_path: Path) -> None:
    split, settings = _split(), SearchSettings(SMALL, num_trials=7, seed=2)
    seen: list[int] = []

    def interrupt_after_three(result: TrialResult) -> None:
        seen.append(result.trial.trial_id)
        if len(seen) == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_search(split, settings, tmp_path, progress=False, on_result=interrupt_after_three)
    first = csv_rows(tmp_path)
    assert [int(row["trial_id"]) for row in first] == seen == [0, 1, 2]

    rerun: list[int] = []
    results = run_search(split, settings, tmp_path, resume=True, progress=False,
                         on_result=lambda r: rerun.append(r.trial.trial_id))
    assert rerun == [3, 4, 5, 6]
    final = csv_rows(tmp_path)
    assert [int(row["trial_id"]) for row in final] == list(range(7))
    assert final[:3] == first  # the finished rows are untouched
    assert [r.trial.trial_id for r in results] == list(range(7))
    # Extending the search runs only the new trials.
    more: list[int] = []
    run_search(split, settings.replace(num_trials=9), tmp_path, resume=True,
               progress=False, on_result=lambda r: more.append(r.trial.trial_id))
    assert more == [7, 8]
    assert len(study_trials(tmp_path)) == 9  # nothing ran twice


def test_a_trial_interrupted_mid_run_runs_again_on_resume(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import minigrad.tune.trial_job as trial_job

    real_training = trial_job.run_training
    calls: list[int] = []

    def interrupt_the_third(config: object, split: object, callbacks: object) -> object:
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real_training(config, split, callbacks)  # type: ignore[arg-type]

    monkeypatch.setattr(trial_job, "run_training", interrupt_the_third)
    settings = SearchSettings(SMALL, num_trials=4, seed=2)
    with pytest.raises(KeyboardInterrupt):
        run_search(_split(), settings, tmp_path, progress=False)
    trials = study_trials(tmp_path)
    statuses = [t.user_attrs.get("status") for t in trials]
    assert statuses == ["ok", "ok", "interrupted", None, None]
    assert trials[2].state.name == "FAIL"
    retry = trials[4]  # trial 2 again, with the same parameters
    assert retry.state.name == "WAITING"
    assert (retry.user_attrs["trial_id"], retry.user_attrs["retry_of"]) == (2, 2)
    results = run_search(_split(), settings, tmp_path, resume=True, progress=False)
    assert [r.trial.trial_id for r in results] == [0, 1, 2, 3]
    assert results[2].study_number == 4
    assert study_trials(tmp_path)[4].params == trials[2].params


def test_resume_refuses_other_settings_or_data(tmp_path: Path) -> None:
    split, settings = _split(), SearchSettings(SMALL, num_trials=2, seed=0)
    run_search(split, settings, tmp_path, progress=False)
    other = SearchSettings(SearchSpace(num_iters=(20, 40), batch_sizes=(10, 20), std=0.1,
                                       reg=(0.1, 0.2)), 2, seed=1)
    with pytest.raises(TuneError, match=r"space.reg, seed differ"):
        run_search(split, other, tmp_path, resume=True, progress=False)
    with pytest.raises(TuneError, match="pruner differ"):
        run_search(split, settings.replace(pruner="median"), tmp_path, resume=True,
                   progress=False)
    with pytest.raises(TuneError, match="the number of trials may only grow"):
        run_search(split, settings.replace(num_trials=1), tmp_path, resume=True,
                   progress=False)
    with pytest.raises(TuneError, match="ran on a split of sizes"):
        run_search(_split(num_train=100), settings, tmp_path, resume=True, progress=False)
    with pytest.raises(TuneError, match="ran on other data"):
        run_search(_split(seed=5), settings, tmp_path, resume=True, progress=False)
    with pytest.raises(TuneError, match="exists; resume that search"):
        run_search(split, settings, tmp_path, progress=False)
    with pytest.raises(TuneError, match="nothing to resume"):
        run_search(split, settings, tmp_path / "elsewhere", resume=True, progress=False)


# ------------------------------------------------------------------ the command line


@pytest.fixture(scope="module")
def fake_cifar(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_fake_cifar(tmp_path_factory.mktemp("cifar"), num_cases_per_batch=30).root


def _tune_args(data: Path, out: Path, trials: int, iters: str = "60 80") -> list[str]:
    return [
        "tune", "--data-dir", str(data), "--out", str(out), "--trials", str(trials),
        "--num-training", "120", "--num-validation", "20", "--num-test", "20",
        "--num-iters", *iters.split(), "--batch-sizes", "20", "--std", "0.01",
        "--optimizers", "adam", "sgd", "--workers", "1", "--quiet",
    ]


@pytest.mark.parametrize("workers", ["1", "2"])
def test_cli_tune_writes_results_plots_and_the_best_run_folder(
    fake_cifar: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], workers: str
) -> None:
    out = tmp_path / "search"
    assert main([*_tune_args(fake_cifar, out, 3, "10 15"), "--workers", workers,
                 "--hidden-dims", "30,20" if workers == "2" else "50"]) == 0
    printed = capsys.readouterr().out
    rows = csv_rows(out)
    assert len(rows) == 3
    best = max((row for row in rows if row["status"] == "ok"),
               key=lambda row: (float(row["val_acc"]), -int(row["trial_id"])))
    run_dir = out / f"best-trial-{int(best['trial_id']):04d}"
    assert "3 trials:" in printed and run_dir.name in printed
    for name in ("config.json", "weights.npz", "metrics.json", "history.csv"):
        assert (run_dir / name).is_file()
    config = json.loads((run_dir / "config.json").read_text())
    assert config["hidden_dims"] == ([30, 20] if workers == "2" else [50])
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["val_acc"] == float(best["val_acc"])  # the retrained net is the trial's net
    for name in ("search.png", "history.png", "leaderboard.txt", STUDY_FILE):
        assert (out / name).is_file(), name
    assert not list(out.glob(".*partial"))


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--lr-sgd", "-0.001", "0.01"], "lr_sgd LOW must be a finite number > 0"),
        (["--reg", "-0.1", "1"], "reg LOW must be a finite number > 0"),
        (["--workers", "0"], "--workers must be a positive integer"),
        (["--trials", "0"], "num_trials must be a positive integer"),
        (["--sampler", "grid"], "invalid choice: 'grid'"),
        (["--prune-warmup", "-1"], "prune_warmup must be >= 0"),
        (["--hidden-dims", "50,x"], "--hidden-dims: hidden dims must be widths separated"),
        (["--hidden-dims", "0"], "a hidden width must be a positive integer, got 0"),
        (["--hidden-size", "5", "--hidden-dims", "6"], "--hidden-size or --hidden-dims"),
        (["--study", "s"], "--study names a study in a --storage database"),
        (["--storage", "sqlite:///x.db"], "--storage needs --study"),
        (["--heartbeat", "2"], "--heartbeat is for studies in a --storage database"),
        (["--storage", "nonsense", "--study", "s"],
         "cannot open the study storage 'nonsense': Could not parse SQLAlchemy URL"),
        (["--storage", "mysql://me:secret@host/db", "--study", "s"],
         "cannot open the study storage mysql://me:***@host/db: its database driver is not "
         "installed"),
        (["--storage", "sqlite:///x.db", "--study", "s", "--heartbeat", "0"],
         "heartbeat must be a whole number of seconds in [1, 3600], got 0"),
    ],
)
def test_cli_bad_options_are_named(
    fake_cifar: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str],
    message: str,
) -> None:
    assert main(_tune_args(fake_cifar, tmp_path / "s", 2) + extra) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "s").exists()


def test_cli_resume_needs_out(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tune", "--resume"]) == 2
    assert "--resume needs --out" in capsys.readouterr().err
    assert main(["tune", "--optimizers", "lbfgs"]) == 2
    assert "invalid choice: 'lbfgs'" in capsys.readouterr().err


def test_cli_resume_uses_the_search_settings_and_split(
    fake_cifar: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "s"
    args = [*_tune_args(fake_cifar, out, 2, "10 12"), "--no-save-best", "--seed", "4",
            "--num-training", "90"]
    assert main(args) == 0
    capsys.readouterr()
    # Only the folder and the data: the rest comes from the study.
    assert main(["tune", "--resume", "--out", str(out), "--data-dir", str(fake_cifar),
                 "--trials", "3", "--quiet", "--workers", "1", "--no-save-best"]) == 0
    assert "3 trials:" in capsys.readouterr().out
    rows = csv_rows(out)
    assert [row["trial_id"] for row in rows] == ["0", "1", "2"]
    space = SearchSpace(num_iters=(10, 12), batch_sizes=(20,), std=0.01,
                        optimizers=("adam", "sgd"))
    assert [int(row["seed"]) for row in rows] == [t.seed for t in sample_trials(space, 4, 3, 90)]
    assert main(["tune", "--resume", "--out", str(out), "--data-dir", str(fake_cifar),
                 "--num-training", "100", "--quiet"]) == 2
    assert "the search ran on 90" in capsys.readouterr().err


def test_an_interrupted_retrain_leaves_no_run_folder_and_resume_redoes_it(
    fake_cifar: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import minigrad.tune.best_trial as best_trial
    from minigrad.training.callbacks import Callback

    class CtrlC(Callback):
        def on_iteration_end(self, trainer: object, iteration: int, loss: float) -> None:
            if iteration == 4:
                raise KeyboardInterrupt

    real = best_trial.train_into_folder

    def interrupted(*args: object, callbacks: list, **kwargs: object) -> object:
        return real(*args, callbacks=[*callbacks, CtrlC()], **kwargs)  # type: ignore[arg-type]

    out = tmp_path / "s"
    monkeypatch.setattr(best_trial, "train_into_folder", interrupted)
    assert main(_tune_args(fake_cifar, out, 2, "10 12")) == 130
    assert "interrupted while retraining the best trial" in capsys.readouterr().err
    assert not list(out.glob("best-trial-*")) and not list(out.glob(".best-trial-*"))
    monkeypatch.setattr(best_trial, "train_into_folder", real)
    (out / ".best-trial-0000.partial").mkdir()  # as a kill mid-retrain leaves it
    (out / ".best-trial-0000.partial" / "config.json").write_text("{}")
    assert main(["tune", "--resume", "--out", str(out), "--data-dir", str(fake_cifar),
                 "--quiet", "--workers", "1"]) == 0
    (run_dir,) = out.glob("best-trial-*")
    assert (run_dir / "metrics.json").is_file() and not list(out.glob(".best-trial-*"))
    assert main(["tune", "--resume", "--out", str(out), "--data-dir", str(fake_cifar),
                 "--quiet", "--workers", "1"]) == 0
    assert "(already written)" in capsys.readouterr().out


def test_without_optuna_tune_says_how_to_install_it(tmp_path: Path) -> None:
    code = ("import sys; sys.modules['optuna'] = None\n"
            "from minigrad.cli.command import main\n"
            f"sys.exit(main(['tune', '--out', {os.fspath(tmp_path / 's')!r}]))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "minigrad tune: error: minigrad tune runs on Optuna, which is not installed: "
        "pip install 'minigrad[tune]' (or: pip install optuna)"
    ]
    assert not (tmp_path / "s").exists()


# ------------------------------------------------------------------ hostile input


def _one_line(err: str, message: str) -> None:
    lines = err.strip().splitlines()
    assert [line for line in lines if "error:" in line] == lines[-1:], err
    assert message in lines[-1], err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--top", "-1"], "--top must be a positive integer, got -1"),
        (["--top", "0"], "--top must be a positive integer, got 0"),
        (["--trials", "1000000000"], "num_trials must be <= 1000000, got 1000000000"),
        (["--hidden-size", "100000000"], "--hidden-size 100000000 needs about"),
        (["--batch-sizes", "20", "1000000000"], "--batch-sizes 1000000000 needs about"),
        (["--num-iters", "0", "10"], "num_iters LOW must be a positive integer, got 0"),
        (["--target-acc", "nan"], "target_acc must be a finite number"),
        (["--num-training", "0"], "--num-training must be a positive integer, got 0"),
    ],
)
def test_cli_options_that_cannot_work_are_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    # No data: every option must be refused before the data is looked for.
    assert main(_tune_args(tmp_path / "no-data", tmp_path / "s", 2) + extra) == 2
    _one_line(capsys.readouterr().err, message)
    assert not (tmp_path / "s").exists()


@pytest.fixture(scope="module")
def small_search(fake_cifar: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("search") / "s"
    assert main([*_tune_args(fake_cifar, out, 2, "10 12"), "--no-save-best"]) == 0
    return out


def _copy(folder: Path, target: Path) -> Path:
    target.mkdir()
    for path in folder.iterdir():
        if path.is_file():
            (target / path.name).write_bytes(path.read_bytes())
    return target


def _journal(edit: object) -> object:
    def damage(folder: Path) -> None:
        path = folder / STUDY_FILE
        path.write_bytes(edit(path.read_bytes()))  # type: ignore[operator]

    return damage


def _settings_attr(value: object) -> object:
    """A journal whose study holds ``value`` as its settings (as a hand edit would)."""
    def damage(folder: Path) -> None:
        from optuna.storages import JournalStorage
        from optuna.storages.journal import JournalFileBackend

        storage = JournalStorage(JournalFileBackend(os.fspath(folder / STUDY_FILE)))
        study = optuna.load_study(study_name="minigrad-tune", storage=storage)
        study.set_user_attr("minigrad.settings", value)

    return damage


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (_journal(lambda data: b"\xff\xfe" + data), "is not a study journal minigrad can read"),
        (_journal(lambda data: data + b'{"op_code": 99}\n{"op_code": 0}\n'),
         "is not a study journal minigrad can read"),
        (_journal(lambda data: data + b"[" * 20_000 + b"\n" + data[:40]),
         "is not a study journal minigrad can read"),
        (_journal(lambda data: data + b"x" * (17 << 20)), "a line is too long"),
        (_journal(lambda data: b""), "holds no minigrad search"),
        (_settings_attr([1, 2]), "search settings must be a mapping, got list"),
        (_settings_attr({"seed": -4}), "seed must be >= 0, got -4"),
        (_settings_attr({"space": {"reg": "x"}}), "reg must be a pair LOW HIGH"),
        (_settings_attr({"frobnicate": 1}), "unknown search setting(s) ['frobnicate']"),
        (_settings_attr({"seed": int("1" * 4000)}), "seed must be <= "),
    ],
)
def test_cli_resume_of_a_damaged_search_is_one_line(
    small_search: Path, fake_cifar: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    damage: object, message: str,
) -> None:
    folder = _copy(small_search, tmp_path / "s")
    damage(folder)  # type: ignore[operator]
    assert main([*_tune_args(fake_cifar, folder, 3, "10 12"), "--resume", "--no-save-best"]) == 2
    _one_line(capsys.readouterr().err, message)


def test_a_torn_last_journal_line_is_dropped_on_resume(
    small_search: Path, fake_cifar: Path, tmp_path: Path
) -> None:
    folder = _copy(small_search, tmp_path / "s")
    with open(folder / STUDY_FILE, "ab") as file:  # a write the kernel cut short
        file.write(b'{"op_code": 5, "worker_id": "x", "trial_id": 1, "sta')
    args = ["tune", "--resume", "--out", str(folder), "--data-dir", str(fake_cifar),
            "--trials", "3", "--quiet", "--workers", "1", "--no-save-best"]
    assert main(args) == 0
    assert (folder / STUDY_FILE).read_bytes().endswith(b"\n")
    assert [row["trial_id"] for row in csv_rows(folder)] == ["0", "1", "2"]


def test_cli_tune_into_a_folder_another_process_writes_is_refused(
    small_search: Path, fake_cifar: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = _copy(small_search, tmp_path / "s")
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\nfrom minigrad.files.folder_lock import "
         "lock_folder\nlock = lock_folder(sys.argv[1])\nprint('held', flush=True)\n"
         "time.sleep(60)", str(folder)],
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        before = (folder / STUDY_FILE).read_bytes()
        argv = [*_tune_args(fake_cifar, folder, 3, "10 12"), "--resume", "--no-save-best"]
        assert main(argv) == 2
        _one_line(capsys.readouterr().err, f"is in use by PID {holder.pid}")
        assert (folder / STUDY_FILE).read_bytes() == before  # nothing was run or written
    finally:
        holder.kill()
        holder.wait(timeout=30)


def test_a_search_without_out_gets_its_own_folder(
    fake_cifar: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    args = _tune_args(fake_cifar, tmp_path, 1, "10 12")
    args = args[: args.index("--out")] + args[args.index("--out") + 2 :]
    assert main([*args, "--no-save-best"]) == 0
    assert main([*args, "--no-save-best"]) == 0  # same second, same seed: a -2 folder
    folders = sorted(p.name for p in (tmp_path / "runs").iterdir())
    assert len(folders) == 2 and all("-tune-seed0" in name for name in folders)
    assert all(not (tmp_path / "runs" / n / ".minigrad.lock").exists() for n in folders)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"optimizers": "sgd"}, "optimizers must be a list of optimiser names, got 'sgd'"),
        ({"batch_sizes": 5}, "batch_sizes must be a list of batch sizes, got 5"),
        ({"lr_sgd": [[1, 2], [3]]}, "lr_sgd LOW must be a real number, got list"),
        ({"hidden_dims": [50]}, "hidden_dims[0] must be a list of hidden widths, got 50"),
    ],
)
def test_search_space_values_of_the_wrong_kind_are_named(kwargs: dict, message: str) -> None:
    with pytest.raises(TuneError, match=message.replace("[", r"\[").replace("]", r"\]")):
        SearchSpace.from_dict(kwargs)


def test_a_failed_search_leaves_no_empty_default_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    args = _tune_args(tmp_path / "no-data", tmp_path, 1)
    args = args[: args.index("--out")] + args[args.index("--out") + 2 :]
    assert main(args) == 2
    assert "does not exist" in capsys.readouterr().err
    assert list((tmp_path / "runs").iterdir()) == []
