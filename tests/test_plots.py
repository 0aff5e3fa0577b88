"""Plots: visualize_grid as a pure function, the weight-image reshape, valid PNG files."""

from __future__ import annotations

import math
import struct
from pathlib import Path

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from minigrad.experiment.plots import (
    WEIGHTS_PADDING,
    WEIGHTS_SCALE,
    first_layer_weight_images,
    plot_accuracy_history,
    plot_first_layer_weights,
    plot_loss_history,
    visualize_grid,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def png_size(path: Path) -> tuple[int, int]:
    """(width, height) from a PNG's IHDR chunk, after checking the signature."""
    head = path.read_bytes()[:24]
    assert head[:8] == PNG_MAGIC, f"{path} is not a PNG file"
    assert head[12:16] == b"IHDR"
    width, height = struct.unpack(">II", head[16:24])
    return width, height


def cs231n_visualize_grid(Xs: np.ndarray, ubound: float = 255.0, padding: int = 1) -> np.ndarray:
    """The CS231n helper as published (loops and all), the reference we re-implement."""
    (N, H, W, C) = Xs.shape
    grid_size = int(math.ceil(math.sqrt(N)))
    grid_height = H * grid_size + padding * (grid_size - 1)
    grid_width = W * grid_size + padding * (grid_size - 1)
    grid = np.zeros((grid_height, grid_width, C))
    next_idx = 0
    y0, y1 = 0, H
    for _ in range(grid_size):
        x0, x1 = 0, W
        for _ in range(grid_size):
            if next_idx < N:
                img = Xs[next_idx]
                low, high = np.min(img), np.max(img)
                grid[y0:y1, x0:x1] = ubound * (img - low) / (high - low)
                next_idx += 1
            x0 += W + padding
            x1 += W + padding
        y0 += H + padding
        y1 += H + padding
    return grid


image_stacks = st.tuples(
    st.integers(1, 10), st.integers(1, 5), st.integers(1, 5), st.integers(1, 3)
).flatmap(
    lambda shape: hnp.arrays(
        np.float64, shape, elements=st.floats(-1e3, 1e3, allow_nan=False, allow_subnormal=False)
    )
)


@given(Xs=image_stacks, padding=st.integers(0, 4), ubound=st.sampled_from([1.0, 255.0]))
def test_grid_shape_range_and_padding(Xs: np.ndarray, padding: int, ubound: float) -> None:
    n, h, w, c = Xs.shape
    side = math.ceil(math.sqrt(n))
    grid = visualize_grid(Xs, ubound=ubound, padding=padding)
    assert grid.shape == (side * h + (side - 1) * padding, side * w + (side - 1) * padding, c)
    assert grid.min() >= 0.0 and grid.max() <= ubound * (1 + 1e-12)
    # The padding stripes are blank.
    for k in range(1, side):
        assert not grid[k * (h + padding) - padding : k * (h + padding)].any()
        assert not grid[:, k * (w + padding) - padding : k * (w + padding)].any()
    # Each tile is its image min-max scaled (constant images stay blank); unused tiles blank.
    for index in range(side * side):
        row, col = divmod(index, side)
        tile = grid[row * (h + padding) : row * (h + padding) + h,
                    col * (w + padding) : col * (w + padding) + w]
        if index >= n or Xs[index].max() == Xs[index].min():
            assert not tile.any()
        else:
            assert tile.min() == 0.0
            assert tile.max() == pytest.approx(ubound)


@given(Xs=image_stacks, padding=st.integers(0, 3))
def test_grid_equals_the_cs231n_helper_for_nonconstant_images(
    Xs: np.ndarray, padding: int
) -> None:
    # The helper divides by zero on constant images; ours blanks them (tested above).
    assume(all(image.max() > image.min() for image in Xs))
    np.testing.assert_allclose(
        visualize_grid(Xs, padding=padding), cs231n_visualize_grid(Xs, padding=padding),
        rtol=1e-12, atol=1e-9,
    )


@pytest.mark.parametrize(
    ("Xs", "message"),
    [
        (np.zeros((3, 4, 4)), "shape"),
        (np.zeros((0, 4, 4, 3)), "no images"),
        (np.full((2, 4, 4, 3), np.nan), "NaN"),
    ],
)
def test_grid_rejects_bad_input(Xs: np.ndarray, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        visualize_grid(Xs)


def test_grid_rejects_negative_padding() -> None:
    with pytest.raises(ValueError, match="padding"):
        visualize_grid(np.ones((1, 2, 2, 1)), padding=-1)


def test_weight_images_are_the_workbook_reshape_and_each_units_row() -> None:
    W1 = np.random.default_rng(0).standard_normal((7, 3072))
    images = first_layer_weight_images(W1)
    np.testing.assert_array_equal(images, W1.T.reshape(32, 32, 3, -1).transpose(3, 0, 1, 2))
    # Hidden unit j's image is its weight row in the rows' height-width-channel order.
    for j in range(7):
        np.testing.assert_array_equal(images[j], W1[j].reshape(32, 32, 3))


def test_weight_images_reject_other_widths() -> None:
    with pytest.raises(ValueError, match="3072"):
        first_layer_weight_images(np.zeros((5, 100)))


@pytest.mark.parametrize("hidden", [1, 10, 50])
def test_weights_png_shows_the_grid_pixel_for_pixel(tmp_path: Path, hidden: int) -> None:
    W1 = np.random.default_rng(hidden).standard_normal((hidden, 3072)).astype(np.float32)
    path = plot_first_layer_weights(W1, tmp_path / "weights.png")
    side = math.ceil(math.sqrt(hidden))
    expected = WEIGHTS_SCALE * (32 * side + WEIGHTS_PADDING * (side - 1))
    width, height = png_size(path)
    assert abs(width - expected) <= 2 and abs(height - expected) <= 2


def test_history_plots_are_png_files(tmp_path: Path) -> None:
    loss = list(np.linspace(2.3, 1.2, 300))
    loss_png = plot_loss_history(loss, tmp_path / "loss.png")
    accuracy_png = plot_accuracy_history([0.1, 0.3, 0.4], [0.1, 0.25, 0.35],
                                         tmp_path / "accuracy.png")
    for path in (loss_png, accuracy_png):
        width, height = png_size(path)
        assert width > 100 and height > 100
    # Atomic writes leave no temporary files behind.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["accuracy.png", "loss.png"]


def test_accuracy_plot_without_validation_data(tmp_path: Path) -> None:
    path = plot_accuracy_history([0.1, 0.2], [], tmp_path / "accuracy.png")
    assert png_size(path)[0] > 100
