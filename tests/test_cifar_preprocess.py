"""The workbook's split and mean subtraction, checked against the workbook's own code."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from fake_cifar import FakeCifar, write_fake_cifar
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks.workbook_flow import subsample_and_center
from minigrad.data.cifar10 import load_cifar10
from minigrad.data.preprocess import (
    check_split_sizes,
    get_cifar10_data,
    load_cifar10_split,
    mean_image,
    split_cifar10,
    to_rows,
)

PER_BATCH = 20  # fake batches: 100 training and 20 test images


def workbook_get_cifar10_data(
    X_train: np.ndarray,
    y_train: np.ndarray,
    X_test: np.ndarray,
    y_test: np.ndarray,
    num_training: int,
    num_validation: int,
    num_test: int,
) -> tuple[np.ndarray, ...]:
    """The workbook's split of uint8 images, through its verbatim code (the oracle).

    ``load_CIFAR10`` returns float64 images; the mean image is returned too, for the test.
    """
    X_train, X_test = X_train.astype(np.float64), X_test.astype(np.float64)
    mean_image = np.mean(X_train[:num_training], axis=0)
    split = subsample_and_center(
        X_train, y_train, X_test, y_test, num_training, num_validation, num_test
    )
    return (*split, mean_image)


@pytest.fixture(scope="module")
def fake(tmp_path_factory: pytest.TempPathFactory) -> FakeCifar:
    return write_fake_cifar(tmp_path_factory.mktemp("cifar"), num_cases_per_batch=PER_BATCH)


@pytest.fixture(scope="module")
def raw(fake: FakeCifar) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    return load_cifar10(fake.root, dtype=np.uint8)


def test_float64_matches_the_workbook_bit_for_bit(fake: FakeCifar, raw: tuple) -> None:
    ours = load_cifar10_split(70, 20, 15, root=fake.root)
    expected = workbook_get_cifar10_data(*raw, 70, 20, 15)

    for got, want in zip(ours.as_tuple(), expected[:6], strict=True):
        assert got.shape == want.shape and got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)
    assert ours.mean_image is not None
    np.testing.assert_array_equal(ours.mean_image.reshape(32, 32, 3), expected[6])


@settings(max_examples=40, deadline=None)
@given(
    num_training=st.integers(1, 99),
    num_validation=st.integers(1, 99),
    num_test=st.integers(1, PER_BATCH),
    dtype=st.sampled_from([np.float32, np.float64]),
)
def test_any_valid_split_matches_the_workbook(
    raw: tuple, num_training: int, num_validation: int, num_test: int, dtype: type
) -> None:
    num_validation = min(num_validation, 5 * PER_BATCH - num_training)
    if num_validation < 1:
        return
    ours = split_cifar10(*raw, num_training, num_validation, num_test, dtype=dtype)
    expected = workbook_get_cifar10_data(*raw, num_training, num_validation, num_test)

    for got, want in zip(ours.as_tuple(), expected[:6], strict=True):
        assert got.dtype == (dtype if want.dtype == np.float64 else np.int64)
        # float32 results are the float64 ones rounded once, not a float32 recomputation.
        np.testing.assert_array_equal(got, want.astype(got.dtype))


def test_results_are_fresh_arrays(raw: tuple) -> None:
    split = split_cifar10(*raw, 50, 10, 10, dtype=np.float32)

    for array in (*split.as_tuple(), split.mean_image):
        assert array is not None and array.flags.c_contiguous and array.flags.owndata
        assert not any(np.shares_memory(array, source) for source in raw)


def test_validation_rows_follow_the_training_rows(raw: tuple) -> None:
    X_train_raw, y_train_raw = raw[0], raw[1]
    split = split_cifar10(*raw, 60, 30, 5, subtract_mean=False, dtype=np.uint8)

    np.testing.assert_array_equal(split.X_val, X_train_raw[60:90].reshape(30, -1))
    np.testing.assert_array_equal(split.y_val, y_train_raw[60:90])
    np.testing.assert_array_equal(split.X_train[:, :3], X_train_raw[:60, 0, 0, :])  # HWC
    assert split.mean_image is None and split.X_train.dtype == np.uint8


def test_mean_is_taken_over_the_training_split_only(raw: tuple) -> None:
    split = split_cifar10(*raw, 40, 50, 20)

    assert split.mean_image is not None
    np.testing.assert_allclose(split.X_train.mean(axis=0), 0.0, atol=1e-10)
    np.testing.assert_array_equal(split.mean_image, raw[0][:40].reshape(40, -1).mean(axis=0))


def test_get_cifar10_data_keeps_the_workbook_call(fake: FakeCifar) -> None:
    result = get_cifar10_data(num_training=80, num_validation=20, num_test=20, root=fake.root)

    assert isinstance(result, tuple) and len(result) == 6
    assert [a.shape for a in result] == [(80, 3072), (80,), (20, 3072), (20,), (20, 3072), (20,)]


def test_mean_image_accumulates_uint8_exactly() -> None:
    rows = np.full((3, 4), 255, dtype=np.uint8)
    rows[0, 0] = 0

    np.testing.assert_array_equal(mean_image(rows), [170.0, 255.0, 255.0, 255.0])
    assert mean_image(rows).dtype == np.float64


def test_to_rows_subtracts_in_float64_then_rounds_once() -> None:
    images = np.array([[[[1]]], [[[2]]]], dtype=np.uint8)  # (2, 1, 1, 1)
    mean = np.array([1 / 3])

    rows = to_rows(images, np.float32, mean)

    assert rows.shape == (2, 1) and rows.dtype == np.float32
    np.testing.assert_array_equal(rows[:, 0], np.float32(np.array([1.0, 2.0]) - 1 / 3))
    with pytest.raises(ValueError, match="needs a float dtype"):
        to_rows(images, np.uint8, mean)


@pytest.mark.parametrize(
    ("sizes", "error", "problem"),
    [
        ((0, 1000, 1000), ValueError, "num_training must be a positive integer, got 0"),
        ((49000, -1, 1000), ValueError, "num_validation must be a positive integer, got -1"),
        ((49000, 1000, 0), ValueError, "num_test must be a positive integer"),
        ((49000.0, 1000, 1000), TypeError, "num_training must be an integer, got float"),
        ((True, 1000, 1000), TypeError, "num_training must be an integer, got bool"),
        ((49001, 1000, 1000), ValueError,
         "49001 \\+ 1000 = 50001 exceeds the 50000 training images"),
        ((49000, 1000, 10001), ValueError, "num_test = 10001 exceeds the 10000 test images"),
    ],
)
def test_bad_sizes_fail_before_any_file_is_read(
    tmp_path: Path, sizes: tuple, error: type[Exception], problem: str
) -> None:
    with pytest.raises(error, match=problem):
        get_cifar10_data(*sizes, root=tmp_path / "does-not-exist")


def test_sizes_are_checked_against_the_data_actually_loaded(raw: tuple) -> None:
    with pytest.raises(ValueError, match="exceeds the 100 training images"):
        split_cifar10(*raw, 90, 11, 5)
    with pytest.raises(ValueError, match="exceeds the 20 test images"):
        split_cifar10(*raw, 90, 10, 21)
    check_split_sizes(90, 10, 20, available_train=100, available_test=20)  # fits exactly


@pytest.mark.parametrize(
    ("dtype", "subtract_mean"), [(np.uint8, True), (np.int32, False), (np.float16, True)]
)
def test_unsupported_dtype_is_refused(raw: tuple, dtype: type, subtract_mean: bool) -> None:
    with pytest.raises(ValueError, match="dtype must be one of"):
        split_cifar10(*raw, 10, 10, 10, dtype=dtype, subtract_mean=subtract_mean)


@pytest.mark.cifar
def test_real_cifar10_default_split_shapes() -> None:
    root = os.environ.get("MINIGRAD_CIFAR10")
    if not root:
        pytest.skip("MINIGRAD_CIFAR10 not set: point it at the cifar-10-batches-py folder")

    split = load_cifar10_split(root=root, dtype=np.float32)

    shapes = [a.shape for a in split.as_tuple()]
    assert shapes == [(49000, 3072), (49000,), (1000, 3072), (1000,), (1000, 3072), (1000,)]
    assert split.X_train.dtype == np.float32 and split.mean_image is not None
    assert abs(float(split.mean_image.mean()) - 120.7) < 0.5  # README: train mean 120.69
    assert abs(float(split.X_train.mean(dtype=np.float64))) < 1e-3
