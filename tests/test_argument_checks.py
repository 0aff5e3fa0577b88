"""Argument checks outside the config classes go through ``minigrad.validation``.

Wrong kinds raise ``TypeError``, values out of range ``ValueError`` (or the module's domain
error wrapping them), and every message names the argument and shows the value.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from minigrad.data import CifarFormatError, make_spiral
from minigrad.data.cifar10 import validate_meta
from minigrad.evaluation import predict_labels
from minigrad.experiment.plots import visualize_grid
from minigrad.experiment.progress import ProgressBar
from minigrad.initializers import normal
from minigrad.training.checkpoint import PeriodicCheckpoint


@pytest.mark.parametrize(
    ("std", "error", "message"),
    [
        (-1.0, ValueError, "std must be a finite number >= 0, got -1.0"),
        (float("nan"), ValueError, "std must be a finite number >= 0, got nan"),
        ("0.1", TypeError, "std must be a real number, got str '0.1'"),
        (True, TypeError, "std must be a real number, got bool True"),
    ],
)
def test_normal_checks_its_std(std: object, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        normal(std)  # type: ignore[arg-type]


def test_normal_accepts_a_numpy_std_and_draws_the_same_numbers() -> None:
    a = normal(np.float64(0.5), np.random.default_rng(0))((3, 2), np.dtype(np.float64))
    b = normal(0.5, np.random.default_rng(0))((3, 2), np.dtype(np.float64))
    np.testing.assert_array_equal(a, b)


def test_predict_labels_checks_its_chunk_size() -> None:
    with pytest.raises(TypeError, match="chunk_size must be an integer, got float 2.5"):
        predict_labels(lambda x: x, np.zeros((3, 2)), 2.5)  # type: ignore[arg-type]
    labels = predict_labels(lambda x: x, np.eye(3), np.int64(2))
    np.testing.assert_array_equal(labels, [0, 1, 2])


def test_visualize_grid_checks_its_padding() -> None:
    with pytest.raises(ValueError, match="padding must be >= 0, got -1"):
        visualize_grid(np.ones((1, 2, 2, 1)), padding=-1)
    with pytest.raises(TypeError, match="padding must be an integer, got float 1.5"):
        visualize_grid(np.ones((1, 2, 2, 1)), padding=1.5)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("every", "error", "message"),
    [
        (0, ValueError, "every must be a positive integer, got 0"),
        (True, TypeError, "every must be an integer, got bool True"),
        (2.0, TypeError, "every must be an integer, got float 2.0"),
    ],
)
def test_periodic_checkpoint_checks_every(
    tmp_path: Path, every: object, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        PeriodicCheckpoint(tmp_path / "ckpt", every)  # type: ignore[arg-type]
    assert PeriodicCheckpoint(tmp_path / "ckpt", np.int64(5)).every == 5


def test_make_spiral_checks_its_counts() -> None:
    with pytest.raises(ValueError, match="num_per_class must be a positive integer, got 0"):
        make_spiral(0, 3)
    with pytest.raises(TypeError, match="num_classes must be an integer, got float 3.0"):
        make_spiral(10, 3.0)  # type: ignore[arg-type]


def test_a_meta_file_with_a_float_count_is_a_format_error() -> None:
    meta = {b"label_names": [b"x"] * 10, b"num_cases_per_batch": 10.0, b"num_vis": 3072}
    with pytest.raises(
        CifarFormatError, match="batches.meta: num_cases_per_batch must be an integer, got float"
    ):
        validate_meta(meta, "batches.meta")


def test_progress_bar_checks_its_step() -> None:
    with pytest.raises(ValueError, match="every must be a positive integer, got 0"):
        ProgressBar(100, every=0)
    with pytest.raises(ValueError, match="total must be >= 0, got -1"):
        ProgressBar(-1)
