"""Batch augmentation equals the same operation done image by image with plain NumPy."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from minigrad.data.augment import (
    Augmentation,
    ShiftedGather,
    Translator,
    flip_horizontal,
    max_translation,
    translate,
)

NUMPY_MODE = {"zero": "constant", "reflect": "reflect"}


@st.composite
def image_batches(draw: st.DrawFn, min_side: int = 1) -> np.ndarray:
    shape = (
        draw(st.integers(1, 12)),
        draw(st.integers(min_side, 9)),
        draw(st.integers(min_side, 9)),
        draw(st.integers(1, 4)),
    )
    return draw(hnp.arrays(np.uint8, shape, elements=st.integers(0, 255)))


def _translated(image: np.ndarray, dy: int, dx: int, k: int, padding: str) -> np.ndarray:
    """The reference: pad with np.pad, then slice the shifted window."""
    height, width = image.shape[:2]
    padded = np.pad(image, ((k, k), (k, k), (0, 0)), mode=NUMPY_MODE[padding])
    return padded[k - dy : k - dy + height, k - dx : k - dx + width]


@given(images=image_batches(), data=st.data())
def test_a_flipped_batch_equals_np_flip_image_by_image(
    images: np.ndarray, data: st.DataObject
) -> None:
    flags = data.draw(hnp.arrays(np.bool_, len(images)))
    flipped = flip_horizontal(images.copy(), flags)
    for image, flag, got in zip(images, flags, flipped, strict=True):
        np.testing.assert_array_equal(got, np.flip(image, axis=1) if flag else image)


@given(images=image_batches(min_side=3), padding=st.sampled_from(["zero", "reflect"]),
       data=st.data())
def test_a_translated_batch_equals_np_pad_and_slicing_image_by_image(
    images: np.ndarray, padding: str, data: st.DataObject
) -> None:
    k = data.draw(st.integers(0, max_translation(images.shape[1:])))
    shifts = data.draw(hnp.arrays(np.int64, (len(images), 2), elements=st.integers(-k, k)))
    before = images.copy()
    shifted = translate(images, shifts, k, padding)
    np.testing.assert_array_equal(images, before)  # the input is not touched
    for image, (dy, dx), got in zip(images, shifts, shifted, strict=True):
        np.testing.assert_array_equal(got, _translated(image, dy, dx, k, padding))


@given(padding=st.sampled_from(["zero", "reflect"]), seed=st.integers(0, 2**32 - 1))
def test_a_translator_reused_across_batches_of_different_sizes_stays_exact(
    padding: str, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    translator = Translator((8, 8, 3), 3, padding)
    for n in (5, 2, 7, 7):  # its buffers grow once and keep their border right
        images = rng.integers(0, 256, (n, 8, 8, 3), dtype=np.uint8)
        shifts = rng.integers(-3, 4, (n, 2))
        shifted = translator.apply(images, shifts)
        for image, (dy, dx), got in zip(images, shifts, shifted, strict=True):
            np.testing.assert_array_equal(got, _translated(image, dy, dx, 3, padding))


@given(flip=st.booleans(), k=st.integers(0, 3), padding=st.sampled_from(["zero", "reflect"]),
       seed=st.integers(0, 2**32 - 1))
def test_augmentation_applies_its_documented_draws(
    flip: bool, k: int, padding: str, seed: int
) -> None:
    images = np.random.default_rng(seed).integers(0, 256, (6, 7, 7, 3), dtype=np.uint8)
    got = Augmentation(flip, k, padding).apply(images.copy(), np.random.default_rng(seed))
    draws = np.random.default_rng(seed)  # the same draws, in the documented order
    flags = draws.integers(0, 2, size=6).astype(bool) if flip else np.zeros(6, bool)
    shifts = draws.integers(-k, k + 1, size=(6, 2)) if k else np.zeros((6, 2), np.int64)
    for image, flag, (dy, dx), out in zip(images, flags, shifts, got, strict=True):
        expected = np.flip(image, axis=1) if flag else image
        np.testing.assert_array_equal(out, _translated(expected, dy, dx, k, padding))


@given(data=st.data(), flip=st.booleans(), shift=st.booleans(),
       dtype=st.sampled_from([np.uint8, np.uint8, np.int16]),
       padding=st.sampled_from(["zero", "reflect"]))
def test_a_shifted_gather_equals_flip_then_np_pad_and_slicing_image_by_image(
    data: st.DataObject, flip: bool, shift: bool, dtype: type, padding: str
) -> None:
    # Shapes where a row is a whole number of 8-byte words (the fast flip) and where it is
    # not, 3 channels (the XOR channel swap) and others; the first and last image included.
    shape = data.draw(st.sampled_from([(1, 8, 8, 3), (5, 8, 8, 3), (7, 32, 32, 3), (4, 6, 6, 3),
                                       (6, 5, 7, 1), (3, 9, 4, 4), (5, 16, 8, 3)]))
    n = shape[0]
    images = np.random.default_rng(data.draw(st.integers(0, 99))).integers(
        0, 256, shape).astype(dtype)
    k = data.draw(st.integers(0, max_translation(shape[1:]))) if shift else 0
    b = data.draw(st.integers(1, 12))
    idx = data.draw(hnp.arrays(np.int64, b, elements=st.integers(0, n - 1)))
    flags = data.draw(hnp.arrays(np.bool_, b)) if flip else None
    shifts = (data.draw(hnp.arrays(np.int64, (b, 2), elements=st.integers(-k, k)))
              if shift else None)
    before = images.copy()
    got = ShiftedGather(images, k, padding).gather(idx, flags, shifts)
    np.testing.assert_array_equal(images, before)  # the training set is not touched
    assert got.shape == (b, *shape[1:]) and got.dtype == images.dtype
    for i, image_index in enumerate(idx):
        expected = images[image_index]
        if flags is not None and flags[i]:
            expected = np.flip(expected, axis=1)
        if shifts is not None:
            expected = _translated(expected, shifts[i, 0], shifts[i, 1], k, padding)
        np.testing.assert_array_equal(got[i], expected)


@pytest.mark.parametrize("padding", ["zero", "reflect"])
def test_a_shifted_gather_rebuilds_the_first_and_last_images_shifted_outwards(
    padding: str,
) -> None:
    images = np.random.default_rng(1).integers(0, 256, (3, 8, 8, 3), dtype=np.uint8)
    idx = np.array([0, 0, 2, 2, 1])
    shifts = np.array([[3, 3], [1, -2], [-3, -3], [0, -1], [3, 3]])
    flags = np.array([False, True, False, True, True])
    got = ShiftedGather(images, 3, padding).gather(idx, flags, shifts)
    for i, image_index in enumerate(idx):
        expected = np.flip(images[image_index], axis=1) if flags[i] else images[image_index]
        np.testing.assert_array_equal(got[i], _translated(expected, *shifts[i], 3, padding))


def test_every_shift_of_a_cifar_shaped_image_matches_np_pad_in_both_paddings() -> None:
    # All (2k+1)^2 shifts, flipped and not, of images away from the set's ends: the border
    # code paths for every sign of dy and dx, corners included.
    images = np.random.default_rng(4).integers(0, 256, (5, 32, 32, 3), dtype=np.uint8)
    k = 3
    shifts = np.array([(dy, dx) for dy in range(-k, k + 1) for dx in range(-k, k + 1)] * 2)
    flags = np.repeat([False, True], len(shifts) // 2)
    idx = np.full(len(shifts), 2)
    for padding in ("zero", "reflect"):
        got = ShiftedGather(images, k, padding).gather(idx, flags, shifts)
        for i, (dy, dx) in enumerate(shifts):
            source = np.flip(images[2], axis=1) if flags[i] else images[2]
            np.testing.assert_array_equal(got[i], _translated(source, dy, dx, k, padding))


def test_augmentation_off_returns_the_batch_untouched() -> None:
    images = np.arange(2 * 4 * 4 * 3, dtype=np.uint8).reshape(2, 4, 4, 3)
    rng = np.random.default_rng(0)
    state = rng.bit_generator.state
    assert Augmentation().apply(images, rng) is images
    assert rng.bit_generator.state == state  # and drew nothing
    assert not Augmentation().enabled and Augmentation(flip=True).enabled


def test_bad_arguments_are_named() -> None:
    with pytest.raises(ValueError, match="unknown padding 'wrap'"):
        Augmentation(translate=2, padding="wrap")
    with pytest.raises(TypeError, match="flip must be True or False"):
        Augmentation(flip=1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="translate must be <= 15"):
        Augmentation(translate=16).check_image_shape((32, 32, 3))
    with pytest.raises(ValueError, match="translate must be <= 3, got 4"):
        Translator((8, 8, 3), 4)
    images = np.zeros((2, 8, 8, 3), np.uint8)
    with pytest.raises(ValueError, match=r"shifts must lie in \[-1, 1\]"):
        translate(images, np.array([[0, 2], [0, 0]]), 1)
    with pytest.raises(ValueError, match=r"flags must have shape \(2,\)"):
        flip_horizontal(images, np.zeros(3, bool))
