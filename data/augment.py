"""Random augmentation of uint8 image batches: horizontal flips and small translations.

Each image of a batch draws its own flip and shift. The batch operations equal, image by
image, the plain NumPy ones (``tests/test_augment.py`` checks it):

* :func:`flip_horizontal`: image ``i`` becomes ``np.flip(image, axis=1)`` where ``flags[i]``;
* :func:`translate`: image ``i`` moves ``dy`` rows down and ``dx`` columns right, and the
  border it uncovers is filled as ``np.pad(image, k, mode)`` fills it (``"zero"``:
  ``mode="constant"``; ``"reflect"``: ``mode="reflect"``, the edge pixel not repeated),
  i.e. ``np.pad(...)[k - dy : k - dy + H, k - dx : k - dx + W]``.

How, and why so (a pixel is 3 bytes, and NumPy copies with a 3-byte inner loop, as
``images[:, :, ::-1]`` or a column of pixels needs, run at 5-20 ns per pixel: 1-5 ms for a
batch of 200 CIFAR images, as long as the training step):

* A flip reverses each image row as bytes (one long loop per row), which also reverses the
  channels of each pixel, and then puts the channels back with C long strided copies.
* A translation by ``(dy, dx)`` of an image stored row after row is a shift of its bytes by
  ``dy * W*C + dx * C``: each image is one contiguous window of a padded buffer (a single
  fancy-indexing copy for the batch). The ``|dx|`` pixels per row that this wraps around
  from the neighbouring row are then zeroed with a mask (zero padding) or overwritten with
  their mirror pixels (reflect padding).

Measured on the 2-core Xeon (shared, so as ratios) in the image batch source, 200 CIFAR-10
images, k = 2: the flip costs about 0.65x and the zero-padded translation 0.55x of the
float32 conversion with per-channel normalisation; reflect padding roughly doubles the
translation (its mirror pixels are copied a few at a time). The naive
``images[chosen] = images[chosen, :, ::-1]`` was 3x slower than this flip, and windows of a
(N, H + 2k, W + 2k, C) padded batch 2x slower than the flat windows. A flipped copy of the
training set (+150 MB) would only halve the flip: gathering from it is as random as the
batch.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from minigrad.validation import check_bool, check_choice, check_int

__all__ = ["PADDINGS", "Augmentation", "Translator", "flip_horizontal", "max_translation",
           "translate"]

PADDINGS = ("zero", "reflect")
"""How a translation fills the border it uncovers."""


def max_translation(image_shape: tuple[int, ...]) -> int:
    """The largest shift allowed for images (H, W, C): ``(min(H, W) - 1) // 2``.

    Up to half the image, so a reflected border pixel is always still inside the shifted
    image (15 pixels for CIFAR-10).
    """
    return (min(image_shape[0], image_shape[1]) - 1) // 2


def flip_horizontal(images: np.ndarray, flags: np.ndarray) -> np.ndarray:
    """Mirror left-right, in place, the images (N, H, W, C) whose ``flags`` (N,) are true.

    Returns
    -------
    ``images``.
    """
    if flags.shape != (len(images),):
        raise ValueError(f"flags must have shape ({len(images)},), got {flags.shape}")
    chosen = np.flatnonzero(flags)
    if not chosen.size:
        return images
    _, height, width, channels = images.shape
    rows = images[chosen].reshape(-1, width * channels)  # a copy: one row per image row
    # Reversing a row's values reverses its pixels and each pixel's channels ...
    mirrored = _reversed_rows(rows).reshape(-1, channels)
    # ... so copy the channels back in their order, into the copy's own memory.
    pixels = rows.reshape(-1, channels)
    for c in range(channels):
        pixels[:, c] = mirrored[:, channels - 1 - c]
    images[chosen] = pixels.reshape(len(chosen), height, width, channels)
    return images


def _reversed_rows(rows: np.ndarray) -> np.ndarray:
    """``rows[:, ::-1]`` as a new contiguous array (never a view of ``rows``).

    NumPy copies a reversed uint8 row a byte at a time; when a row is a whole number of
    8-byte words (96 bytes for CIFAR-10) it is reversed as words and then each word's bytes
    are swapped, which is the same and twice as fast.
    """
    if rows.dtype.itemsize != 1 or (rows.shape[1] % 8) or not rows.flags.c_contiguous:
        return rows[:, ::-1].copy()
    words = rows.view(np.uint64)[:, ::-1].copy()  # a copy even when a row is one word
    words.byteswap(inplace=True)
    return words.view(rows.dtype)


class Translator:
    """Shifts batches of images (N, H, W, C) by per-image ``(dy, dx)``, reusing its buffers.

    Parameters
    ----------
    image_shape : (H, W, C).
    k : the largest shift, ``0 <= k <=`` :func:`max_translation` ``(image_shape)``.
    padding : ``"zero"`` or ``"reflect"``.
    dtype : the images' integer dtype (uint8 for the batch sources).
    """

    def __init__(
        self, image_shape: tuple[int, int, int], k: int, padding: str = "zero",
        dtype: Any = np.uint8,
    ) -> None:
        self.image_shape = tuple(int(v) for v in image_shape)
        largest = max_translation(self.image_shape)
        self.k = check_int(k, "translate", low=0, high=largest)
        self.padding = check_choice(padding, "padding", PADDINGS)
        self.dtype = np.dtype(dtype)
        if self.dtype.kind not in "iu":
            raise TypeError(f"a Translator shifts integer images (uint8), got {self.dtype}")
        height, width, channels = self.image_shape
        self._row = width * channels  # values in one image row
        self._size = height * self._row
        # Per image: k*C spare, k padding rows, the image, k padding rows, k*C spare. A shift
        # moves the image's window at most k rows + k pixels either way, so it stays inside.
        self._start = self.k * channels + self.k * self._row  # where the image begins
        self._stride = self._size + 2 * self._start
        self._buffer = np.zeros((0, self._stride), dtype=self.dtype)
        self._windows = sliding_window_view(self._buffer, self._size, axis=1)
        # keep[k + dx] has all bits set except on the dx pixels per row that a shift by dx
        # wraps around from the neighbouring row.
        keep = np.full((2 * self.k + 1, height, width, channels), -1).astype(self.dtype)
        for dx in range(1, self.k + 1):
            keep[self.k + dx, :, :dx] = 0
            keep[self.k - dx, :, width - dx :] = 0
        self._keep = keep.reshape(2 * self.k + 1, self._size)

    def apply(self, images: np.ndarray, shifts: np.ndarray) -> np.ndarray:
        """The shifted images, a new (N, H, W, C) array.

        Parameters
        ----------
        images : ndarray of shape (N, H, W, C) of this translator's shape and dtype.
        shifts : int ndarray of shape (N, 2): ``(dy, dx)`` per image, each in ``[-k, k]``.
        """
        n = len(images)
        if images.shape[1:] != self.image_shape or images.dtype != self.dtype:
            raise ValueError(
                f"images must be {self.dtype} of shape (N, {', '.join(map(str, self.image_shape))})"
                f", got {images.dtype} {images.shape}"
            )
        if shifts.shape != (n, 2) or shifts.dtype.kind not in "iu":
            raise ValueError(f"shifts must be integers of shape ({n}, 2), got {shifts.shape}")
        if n and np.abs(shifts).max() > self.k:
            raise ValueError(f"shifts must lie in [-{self.k}, {self.k}], got {shifts.tolist()}")
        if len(self._buffer) < n:
            self._buffer = np.zeros((n, self._stride), dtype=self.dtype)
            # windows[i, c] is the image-sized run of image i's padded values starting at
            # offset c: a read-only view, made once per buffer (nothing is copied).
            self._windows = sliding_window_view(self._buffer, self._size, axis=1)
        padded = self._buffer[:n]
        padded[:, self._start : self._start + self._size] = images.reshape(n, self._size)
        if self.padding == "reflect":
            self._reflect_rows(padded)
        dy, dx = shifts[:, 0], shifts[:, 1]
        corners = self._start - dy * self._row - dx * self.image_shape[2]
        out = self._windows[np.arange(n), corners]  # one copy: image i's shifted values
        if self.padding == "zero":
            np.bitwise_and(out, self._keep[dx + self.k], out=out)
        else:
            self._reflect_columns(out.reshape(n, *self.image_shape), dx)
        return out.reshape(n, *self.image_shape)

    def _reflect_rows(self, padded: np.ndarray) -> None:
        """Fill the k rows above and below each image with its rows 1..k and H-2..H-1-k."""
        row, start, height = self._row, self._start, self.image_shape[0]
        for j in range(1, self.k + 1):
            above = start - j * row  # padding row j above the image mirrors image row j
            padded[:, above : above + row] = padded[:, start + j * row : start + (j + 1) * row]
            below = start + (height - 1 + j) * row  # row j below mirrors image row H-1-j
            source = start + (height - 1 - j) * row
            padded[:, below : below + row] = padded[:, source : source + row]

    def _reflect_columns(self, out: np.ndarray, dx: np.ndarray) -> None:
        """Overwrite the wrapped pixels with their mirrors, taken from the same output row.

        For ``dx > 0`` the output column ``x < dx`` shows image column ``x - dx < 0``, which
        reflect padding fills with image column ``dx - x``: output column ``2*dx - x``.
        Likewise on the right for ``dx < 0``.
        """
        n, height, width, _ = out.shape
        rows = np.arange(height)[None, :]
        for j in range(1, self.k + 1):  # the j-th pixel from the edge, for shifts >= j
            for chosen, edge in ((np.flatnonzero(dx >= j), 0), (np.flatnonzero(dx <= -j), 1)):
                if not chosen.size:
                    continue
                d = np.abs(dx[chosen])[:, None]
                if edge == 0:
                    target, source = d - j, d + j
                else:
                    target, source = width - 1 - (d - j), width - 1 - (d + j)
                images = chosen[:, None]
                out[images, rows, target] = out[images, rows, source]


def translate(
    images: np.ndarray, shifts: np.ndarray, k: int, padding: str = "zero"
) -> np.ndarray:
    """Shift image ``i`` by ``shifts[i] = (dy, dx)`` pixels (down, right), ``|dy|, |dx| <= k``.

    Returns
    -------
    A new array: image ``i`` equals
    ``np.pad(images[i], k, mode)[k - dy : k - dy + H, k - dx : k - dx + W]`` (channels not
    padded). See :class:`Translator` to reuse the buffers across batches.
    """
    return Translator(images.shape[1:], k, padding, images.dtype).apply(images, shifts)


class Augmentation:
    """Random flips and translations, drawn per image from the caller's generator.

    Parameters
    ----------
    flip : mirror each image left-right with probability 1/2.
    translate : shift each image by ``dy, dx`` drawn uniformly from ``[-k, k]`` (0: off).
    padding : ``"zero"`` or ``"reflect"``, the border a translation uncovers.

    Notes
    -----
    Per batch of N images the draws are, in this order: ``rng.integers(0, 2, N)`` for the
    flips (if ``flip``), then ``rng.integers(-k, k + 1, (N, 2))`` for ``(dy, dx)`` (if
    ``translate``). The flip is applied first.
    """

    def __init__(self, flip: bool = False, translate: int = 0, padding: str = "zero") -> None:
        self.flip = check_bool(flip, "flip")
        self.translate = check_int(translate, "translate", low=0)
        self.padding = check_choice(padding, "padding", PADDINGS)
        self._translator: Translator | None = None

    @property
    def enabled(self) -> bool:
        """Whether :meth:`apply` changes anything."""
        return self.flip or self.translate > 0

    def check_image_shape(self, image_shape: tuple[int, ...]) -> None:
        """Raise ``ValueError`` if the translation is too large for images (H, W, C)."""
        largest = max_translation(image_shape)
        if self.translate > largest:
            raise ValueError(
                f"translate must be <= {largest} (half the image) for {image_shape[0]}x"
                f"{image_shape[1]} images, got {self.translate}"
            )

    def apply(self, images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Augment a batch (N, H, W, C); ``images`` itself may be changed (flipped) in place.

        Returns
        -------
        The augmented batch: ``images`` itself (flips only, or nothing enabled) or a new array.
        """
        n = len(images)
        if self.flip:
            flip_horizontal(images, rng.integers(0, 2, size=n).astype(bool))
        if not self.translate:
            return images
        shifts = rng.integers(-self.translate, self.translate + 1, size=(n, 2))
        translator = self._translator
        if translator is None or translator.image_shape != images.shape[1:]:
            self.check_image_shape(images.shape[1:])
            translator = Translator(images.shape[1:], self.translate, self.padding, images.dtype)
            self._translator = translator
        return translator.apply(images, shifts)

    def config(self) -> dict[str, Any]:
        """``flip``, ``translate``, ``padding``: JSON-able."""
        return {"flip": self.flip, "translate": self.translate, "padding": self.padding}

    def check_config(self, config: Any) -> None:
        """Raise ``ValueError`` if ``config`` (from :meth:`config`) differs from this one."""
        if not isinstance(config, Mapping):
            raise ValueError(f"the augmentation state must be a mapping, got {config!r}")
        for key, value in self.config().items():
            if key not in config:
                raise ValueError(f"the augmentation state has no {key!r} entry")
            if config[key] != value:
                raise ValueError(
                    f"the state was saved with augmentation {key}={config[key]!r} but this "
                    f"source has {key}={value!r}"
                )

    def __repr__(self) -> str:
        return (f"Augmentation(flip={self.flip}, translate={self.translate}, "
                f"padding={self.padding!r})")
