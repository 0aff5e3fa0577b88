"""The benchmark runs end to end and prints its table; no test asserts a time."""

from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import pytest
from benchmark_output import CHECK, ROOT, ROW, quick_run

from benchmarks.minimal_numpy import MinimalImageFeed, MinimalNet
from minigrad import Trainer
from minigrad.data.normalize import Normalization, RowConverter
from minigrad.models import two_layer_net
from minigrad.optim import SGD


def test_quick_run_prints_the_table_and_the_checks() -> None:
    report, text = quick_run()
    checks = report.step
    assert "CPU:" in text and "NumPy" in text
    for name in ("minigrad float32", "minigrad float64", "plain NumPy float64 (workbook)",
                 "floor float32", "floor float64", "X @ W1.T", "dh.T @ X", "gather"):
        assert re.search(re.escape(name) + r".*?" + ROW, text), name
    assert re.search(r"PyTorch CPU float32\s+skipped", text)
    for label in ("1. minigrad float32 / floor float32",
                  "2. minigrad float32 / plain NumPy float64",
                  "4. minigrad float64 / plain NumPy float64",
                  "5. minigrad float32 / minimal NumPy float32",
                  "6. minigrad float64 / minimal NumPy float64"):
        assert re.search(re.escape(label) + CHECK, text), label
    assert re.search(r"3\. minigrad float32 / PyTorch float32\s+skipped", text)
    assert [c.label[:2] for c in checks] == ["1.", "2.", "4.", "5.", "6."]
    assert [c.limit for c in checks[-2:]] == [1.15, 1.10]
    assert all(c.ratio > 0 and c.ratio_of_mins > 0 for c in checks)
    for name in ("minimal NumPy float32, uint8 images", "minimal on uint8 images / floor",
                 "pipeline / minimal on uint8 images"):
        assert re.search(re.escape(name) + r".*?" + r"\s+\d+\.\d{3}" * 3, text), name


def test_quick_command_line_run_exits_zero() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.iteration", "--quick", "--no-torch",
         "--blocks", "2", "--iters", "2"],
        cwd=ROOT, capture_output=True, text=True, timeout=600, check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "acceptance" in result.stdout
    assert re.search(r"minigrad float32" + ROW, result.stdout)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_minimal_numpy_iteration_is_minigrads_step(dtype: type) -> None:
    # The reference line is only meaningful if it does the same work: same loss, same update.
    rng = np.random.default_rng(3)
    X: np.ndarray = (50 * rng.standard_normal((40, 12))).astype(dtype)
    y = rng.integers(0, 4, 40)
    lr, reg, idx = 1e-3, 0.3, rng.integers(0, 40, 8)
    minimal = MinimalNet(X, y, 6, 4, learning_rate=lr, reg=reg, batch_size=8)
    model = two_layer_net(12, 6, 4, dtype=dtype)
    for name, ours in zip(("W1", "b1", "W2", "b2"), model.params.values(), strict=True):
        np.copyto(ours, getattr(minimal, name))
    trainer = Trainer(model, SGD(learning_rate=lr), reg=reg, sampling="replacement")
    expected = trainer.step(X[idx], y[idx])
    loss = minimal.step(idx)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    assert loss == pytest.approx(expected, rel=tol)
    for name, ours in zip(("W1", "b1", "W2", "b2"), model.params.values(), strict=True):
        np.testing.assert_allclose(getattr(minimal, name), ours, rtol=tol, atol=tol * 1e-3)


def test_minimal_step_on_a_given_batch_is_its_step() -> None:
    rng = np.random.default_rng(4)
    X, y = rng.standard_normal((30, 12)), rng.integers(0, 4, 30)
    idx = rng.integers(0, 30, 8)
    drawn, given = (MinimalNet(X, y, 6, 4, learning_rate=1e-3, reg=0.3, batch_size=8)
                    for _ in range(2))
    assert drawn.step(idx) == given.step_on(X[idx], y[idx])
    for name in ("W1", "b1", "W2", "b2"):
        assert np.array_equal(getattr(drawn, name), getattr(given, name)), name


def test_minimal_image_feed_converts_each_image_once_per_epoch() -> None:
    rng = np.random.default_rng(5)
    images = rng.integers(0, 256, (20, 4, 4, 3), dtype=np.uint8)
    labels = np.arange(20)  # a label names its image
    converter = RowConverter(Normalization.per_channel(images), np.float32, 5, (4, 4, 3))
    feed = MinimalImageFeed(images, labels, converter, batch_size=5, seed=1)
    expected = RowConverter(Normalization.per_channel(images), np.float32, 5, (4, 4, 3))
    for _ in range(3):  # three epochs of four batches
        seen = []
        for _ in range(4):
            rows, y = feed.batch()
            assert rows.dtype == np.float32
            np.testing.assert_array_equal(rows, expected.convert(images[y]))
            seen += y.tolist()
        assert sorted(seen) == list(range(20))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_inline_update_is_minigrads_textbook_update(dtype: type) -> None:
    # benchmarks.update_cost only says what minigrad's update costs over the same passes
    # written inline if the two compute the same numbers.
    from benchmarks.update_cost import LEARNING_RATE, REG, Updates

    updates = Updates(np.dtype(dtype))
    for _ in range(3):
        updates.reset_gradients("textbook")
        updates.textbook()
        updates.reset_gradients("inline")
        updates.inline()
    for key, param in updates.params["textbook"].items():
        assert np.array_equal(param, updates.params["inline"][key]), key
        assert np.array_equal(updates.grads["textbook"][key], updates.grads["inline"][key]), key
    fresh = Updates(np.dtype(dtype))
    start = {k: v.copy() for k, v in fresh.params["decay"].items()}
    fresh.reset_gradients("decay")
    fresh.decay()
    for key, param in fresh.params["decay"].items():
        factor = (1.0 - LEARNING_RATE * REG) if key in fresh.names else 1.0
        expected = start[key] * param.dtype.type(factor) + fresh.dW[key]
        assert np.allclose(param, expected, rtol=1e-6, atol=0), key


def test_quick_update_cost_run_prints_three_rows_per_dtype() -> None:
    result = subprocess.run([sys.executable, "-m", "benchmarks.update_cost", "--quick"],
                            cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stderr
    rows = re.findall(r"^\s{4}(.+?)\s+(\d+) us\s+([+-]\d+) us =\s+(-?\d+\.\d)%", result.stdout,
                      re.MULTILINE)
    assert [label for label, *_ in rows] == [
        "minigrad's add_l2_gradients + SGD.step", "the same 12 passes inline, no framework",
        "the minimal iteration's decay update"] * 2
    assert all(int(us) > 0 for _, us, _, _ in rows)
    assert [float(share) for *_, share in rows][2::3] == [0.0, 0.0]
