"""Training plots and the first-layer weight images, saved as PNG files.

Figures are built with ``matplotlib.figure.Figure`` directly (no pyplot, no global state,
no window, whatever the backend) and written atomically. The image helpers are pure
functions that are easy to test: :func:`visualize_grid` (the CS231n helper) and
:func:`first_layer_weight_images` (the workbook's ``show_net_weights`` reshape).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from minigrad.files.atomic import write_figure_atomic
from minigrad.validation import check_int, count_non_finite

__all__ = [
    "accuracy_figure",
    "first_layer_weight_images",
    "loss_figure",
    "plot_accuracy_history",
    "plot_first_layer_weights",
    "plot_loss_history",
    "visualize_grid",
    "weights_figure",
]

IMAGE_SHAPE = (32, 32, 3)  # CIFAR-10, height-width-channel: the rows' flattening order
WEIGHTS_PADDING = 3  # the workbook's visualize_grid(W1, padding=3)
WEIGHTS_SCALE = 2  # screen pixels per weight-image pixel in weights.png
_DPI = 100


def visualize_grid(Xs: np.ndarray, ubound: float = 255.0, padding: int = 1) -> np.ndarray:
    """Tile images in a square grid, each scaled to ``[0, ubound]`` (CS231n's helper).

    Parameters
    ----------
    Xs : ndarray of shape (N, H, W, C), N >= 1, finite.
    ubound : the value the brightest pixel of each image maps to.
    padding : blank pixels (zeros) between neighbouring tiles.

    Returns
    -------
    grid : float64 ndarray of shape (G * H + (G - 1) * padding, G * W + (G - 1) * padding, C)
        with ``G = ceil(sqrt(N))``; image ``i`` fills row ``i // G``, column ``i % G``;
        the padding and unused tiles are 0. Each image is min-max scaled on its own:
        its minimum becomes 0 and its maximum ``ubound``. A constant image (where
        CS231n's helper would divide by zero) becomes all 0.
    """
    images = np.asarray(Xs)
    if images.ndim != 4:
        raise ValueError(f"Xs must have shape (N, H, W, C), got shape {images.shape}")
    if images.shape[0] == 0:
        raise ValueError("Xs holds no images (N = 0)")
    padding = check_int(padding, "padding", low=0)
    bad = count_non_finite(images) if images.dtype.kind in "fc" else 0
    if bad:
        raise ValueError(f"Xs contains {bad} NaN or inf value(s)")
    n, height, width, channels = images.shape
    side = math.ceil(math.sqrt(n))
    grid = np.zeros(
        (side * height + (side - 1) * padding, side * width + (side - 1) * padding, channels)
    )
    for index, image in enumerate(images.astype(np.float64, copy=False)):
        row, col = divmod(index, side)
        top, left = row * (height + padding), col * (width + padding)
        low, high = image.min(), image.max()
        if high > low:
            grid[top : top + height, left : left + width] = ubound * (image - low) / (high - low)
    return grid


def first_layer_weight_images(W1: np.ndarray) -> np.ndarray:
    """The first layer's weights as images, like the workbook's ``show_net_weights``.

    Parameters
    ----------
    W1 : ndarray of shape (H, 3072), one row per hidden unit, features in the rows'
        height-width-channel order.

    Returns
    -------
    ndarray of shape (H, 32, 32, 3): ``W1.T.reshape(32, 32, 3, -1).transpose(3, 0, 1, 2)``.
    """
    weights = np.asarray(W1)
    size = math.prod(IMAGE_SHAPE)
    if weights.ndim != 2 or weights.shape[1] != size:
        raise ValueError(
            f"W1 must have shape (H, {size}) for 32x32x3 images, got shape {weights.shape}"
        )
    return weights.T.reshape(*IMAGE_SHAPE, -1).transpose(3, 0, 1, 2)


def loss_figure(loss: Sequence[float]) -> Figure:
    """Training loss per iteration (the workbook's ``plt.plot(stats['loss_history'])``)."""
    figure = Figure(figsize=(7, 4), dpi=_DPI, layout="constrained")
    axes = figure.add_subplot()
    axes.plot(np.arange(len(loss)), np.asarray(loss, dtype=np.float64), linewidth=0.7)
    axes.set(xlabel="iteration number", ylabel="training loss", title="Training loss history")
    axes.grid(alpha=0.3)
    return figure


def accuracy_figure(train_acc: Sequence[float], val_acc: Sequence[float]) -> Figure:
    """Minibatch training accuracy and validation accuracy per epoch."""
    figure = Figure(figsize=(7, 4), dpi=_DPI, layout="constrained")
    axes = figure.add_subplot()
    axes.plot(np.arange(len(train_acc)), train_acc, marker=".", label="training accuracy")
    if len(val_acc):
        axes.plot(np.arange(len(val_acc)), val_acc, marker=".", label="validation accuracy")
    axes.set(xlabel="epoch number", ylabel="accuracy", title="Accuracy history")
    axes.grid(alpha=0.3)
    axes.legend()
    return figure


def weights_figure(W1: np.ndarray, scale: int = WEIGHTS_SCALE) -> Figure:
    """The first layer's weights as a grid of 32x32 images, shown pixel for pixel.

    The figure is exactly ``scale`` times the grid's size in pixels, with no margins,
    so each weight image pixel becomes a ``scale x scale`` block (nearest neighbour).
    """
    grid = visualize_grid(first_layer_weight_images(W1), padding=WEIGHTS_PADDING)
    height, width = grid.shape[:2]
    figure = Figure(figsize=(width * scale / _DPI, height * scale / _DPI), dpi=_DPI)
    axes = figure.add_axes((0.0, 0.0, 1.0, 1.0))
    axes.imshow(grid.astype(np.uint8), interpolation="nearest")
    axes.axis("off")
    return figure


def _save(figure: Figure, path: str | os.PathLike[str]) -> Path:
    return write_figure_atomic(path, figure, dpi=_DPI)


def plot_loss_history(loss: Sequence[float], path: str | os.PathLike[str]) -> Path:
    """Save :func:`loss_figure` as a PNG at ``path``; returns the path."""
    return _save(loss_figure(loss), path)


def plot_accuracy_history(
    train_acc: Sequence[float], val_acc: Sequence[float], path: str | os.PathLike[str]
) -> Path:
    """Save :func:`accuracy_figure` as a PNG at ``path``; returns the path."""
    return _save(accuracy_figure(train_acc, val_acc), path)


def plot_first_layer_weights(W1: np.ndarray, path: str | os.PathLike[str]) -> Path:
    """Save :func:`weights_figure` of ``W1`` (H, 3072) as a PNG at ``path``."""
    return _save(weights_figure(W1), path)
