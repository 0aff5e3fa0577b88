"""Normalisation: statistics of the training images, and rows equal to (x - mean) / std."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from minigrad.data.image_rows import ImageRows
from minigrad.data.normalize import Normalization, RowConverter
from minigrad.data.preprocess import split_cifar10

DTYPES = st.sampled_from([np.float32, np.float64])


@st.composite
def images(draw: st.DrawFn) -> np.ndarray:
    shape = (draw(st.integers(2, 15)), draw(st.integers(1, 6)), draw(st.integers(1, 6)),
             draw(st.integers(1, 3)))
    batch = draw(hnp.arrays(np.uint8, shape, elements=st.integers(0, 255)))
    batch[0], batch[1] = 0, 255  # no constant channel
    return batch


def _reference(batch: np.ndarray, norm: Normalization) -> np.ndarray:
    rows = batch.reshape(len(batch), -1).astype(np.float64)
    std = 1.0 if norm.std is None else norm.std
    return (rows - norm.mean) / std


@given(train=images(), kind=st.sampled_from(["mean-image", "per-channel"]), dtype=DTYPES,
       seed=st.integers(0, 2**32 - 1))
def test_normalised_rows_equal_the_float64_formula_to_rounding(
    train: np.ndarray, kind: str, dtype: type, seed: int
) -> None:
    norm = Normalization.fit(kind, train)
    other = np.random.default_rng(seed).integers(0, 256, (7, *train.shape[1:]), dtype=np.uint8)
    for batch in (train, other):  # the training images and unseen ones
        got = RowConverter(norm, dtype, len(batch), norm.image_shape).convert(batch)
        assert got.dtype == dtype and got.shape == (len(batch), norm.num_features)
        want = _reference(batch, norm)
        # The statistics are rounded to the dtype, then one subtraction and one product:
        # a few units of rounding of the operands' size.
        std = 1.0 if norm.std is None else norm.std
        scale = (255.0 + np.abs(norm.mean)) / std
        error = np.abs(got - want)
        bound = 4 * np.finfo(dtype).eps * scale
        assert np.all(error <= bound), float(np.max(error / bound))


@given(train=images())
def test_per_channel_statistics_are_the_float64_mean_and_std(train: np.ndarray) -> None:
    norm = Normalization.per_channel(train)
    pixels = train.reshape(-1, train.shape[-1]).astype(np.float64)
    channels = train.shape[-1]
    assert norm.std is not None
    np.testing.assert_allclose(norm.mean[:channels], pixels.mean(axis=0), rtol=1e-13)
    np.testing.assert_allclose(norm.std[:channels], pixels.std(axis=0), rtol=1e-12)
    # Repeated over the pixels in height-width-channel order.
    repeated = np.tile(norm.mean[:channels], (norm.mean.size // channels, 1))
    np.testing.assert_array_equal(norm.mean.reshape(-1, channels), repeated)


def test_the_mean_image_at_float64_is_load_cifar10_splits_bit_for_bit() -> None:
    rng = np.random.default_rng(0)
    X_train = rng.integers(0, 256, (40, 32, 32, 3), dtype=np.uint8)
    X_test = rng.integers(0, 256, (10, 32, 32, 3), dtype=np.uint8)
    y = rng.integers(0, 10, 40)
    split = split_cifar10(X_train, y, X_test, y[:10], 30, 10, 10, dtype=np.float64)
    norm = Normalization.mean_image(X_train[:30])
    assert split.mean_image is not None
    np.testing.assert_array_equal(norm.mean, split.mean_image)
    for images_, rows in ((X_train[:30], split.X_train), (X_train[30:], split.X_val),
                          (X_test, split.X_test)):
        assert norm.transform(images_, np.float64, chunk_size=7).tobytes() == rows.tobytes()
    split32 = split_cifar10(X_train, y, X_test, y[:10], 30, 10, 10, dtype=np.float32)
    np.testing.assert_allclose(norm.transform(X_test, np.float32), split32.X_test, atol=3e-5)


@given(train=images(), kind=st.sampled_from(["mean-image", "per-channel"]), dtype=DTYPES,
       chunk=st.integers(1, 20))
def test_image_rows_convert_in_chunks_to_the_same_rows(
    train: np.ndarray, kind: str, dtype: type, chunk: int
) -> None:
    norm = Normalization.fit(kind, train)
    view = ImageRows(train, norm, dtype)
    whole = norm.transform(train, dtype)
    assert view.shape == whole.shape and view.dtype == dtype
    seen = 0
    for rows, X in view.chunks(chunk):
        assert X.dtype == dtype and len(X) <= chunk
        np.testing.assert_array_equal(X, whole[rows])
        seen += len(X)
    assert seen == len(train)
    np.testing.assert_array_equal(view.to_array(), whole)


def test_a_normalisation_round_trips_through_its_state() -> None:
    train = np.random.default_rng(1).integers(0, 256, (9, 4, 4, 3), dtype=np.uint8)
    for kind in ("mean-image", "per-channel"):
        norm = Normalization.fit(kind, train)
        back = Normalization.from_state_dict(norm.state_dict())
        assert back.same_as(norm) and back.kind == kind
        assert not back.same_as(Normalization.fit(kind, train[:5]))


def test_bad_inputs_are_named() -> None:
    flat = np.zeros((4, 2, 2, 3), np.uint8)
    with pytest.raises(ValueError, match=r"channel\(s\) \[0, 1, 2\] .* constant"):
        Normalization.per_channel(flat)
    with pytest.raises(ValueError, match="unknown normalize 'z-score'"):
        Normalization.fit("z-score", flat)
    with pytest.raises(TypeError, match="must be uint8 images"):
        Normalization.mean_image(flat.astype(np.float32))
    with pytest.raises(ValueError, match=r"shape \(N, H, W, C\)"):
        Normalization.mean_image(flat.reshape(4, 12))
    with pytest.raises(ValueError, match="float32 or float64"):
        ImageRows(flat, None, np.float16)
    with pytest.raises(ValueError, match=r"for images of shape \(2, 2, 3\)"):
        ImageRows(np.zeros((1, 3, 3, 3), np.uint8), Normalization.mean_image(flat))
