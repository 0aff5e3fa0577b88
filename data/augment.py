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
  channels of each pixel, and then puts the channels back (four XOR passes for 3 channels,
  C long strided copies otherwise).
* A translation by ``(dy, dx)`` of an image stored row after row is a shift of its bytes by
  ``dy * W*C + dx * C``: each image is one contiguous window of a padded buffer (a single
  fancy-indexing copy for the batch). The ``|dx|`` pixels per row that this wraps around
  from the neighbouring row are then zeroed with a mask (zero padding) or overwritten with
  their mirror pixels (reflect padding), a pixel's C values copied as one element.

Measured on the 2-core Xeon (shared, so as ratios) in the image batch source, 200 CIFAR-10
images, k = 2: the flip costs about 0.65x and the zero-padded translation 0.55x of the
float32 conversion with per-channel normalisation; reflect padding roughly doubles the
translation (its mirror pixels are copied a few at a time). The batch source does not take
these steps one after the other: :class:`ShiftedGather` gathers the images already flipped
and shifted, for about 0.6x of what flip and shift add to the plain gather (zero padding;
0.8x with reflect padding). The naive
``images[chosen] = images[chosen, :, ::-1]`` was 3x slower than this flip, and windows of a
(N, H + 2k, W + 2k, C) padded batch 2x slower than the flat windows. A flipped copy of the
training set would let :class:`ShiftedGather` gather flipped images as cheaply as the others
(the flip would cost nothing), but it is +150 MB for CIFAR-10: not made.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from minigrad.validation import check_bool, check_choice, check_int

__all__ = ["PADDINGS", "Augmentation", "Translator", "flip_horizontal", "max_translation",
           "translate"]
# ShiftedGather, the image batch source's fused gather + flip + shift, is not exported.

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
    mirrored = _reversed_rows(rows)
    # ... so put the channels back in their order.
    images[chosen] = _unreverse_channels(mirrored, channels).reshape(
        len(chosen), height, width, channels)
    return images


def _first_of_three(size: int) -> np.ndarray:
    """``size`` uint8 values, 255 at every third one from the first and 0 elsewhere."""
    mask = np.zeros(size, dtype=np.uint8)
    mask[::3] = 255
    return mask


def _unreverse_channels(
    reversed_rows: np.ndarray, channels: int, first: np.ndarray | None = None
) -> np.ndarray:
    """Pixels whose channels are in reverse order, put back in order (in place when C = 3).

    With 3 channels only the first and the last trade places, and they are 2 values apart, so
    the swap is four contiguous XOR passes over the bytes (``t = (a[j] ^ a[j+2])`` kept on
    the first channel, then ``a[j] ^= t``, ``a[j+2] ^= t``): measured between training
    steps on 100 CIFAR-10 images, 0.85x the time of the two strided channel copies.
    ``first`` is ``_first_of_three`` of at least the values' count, to reuse one.
    """
    if channels == 1:
        return reversed_rows
    if channels == 3 and reversed_rows.flags.c_contiguous and reversed_rows.dtype.itemsize == 1:
        values = reversed_rows.reshape(-1)
        swap = np.bitwise_xor(values[:-2], values[2:])
        if first is None or first.size < swap.size:
            first = _first_of_three(swap.size)
        np.bitwise_and(swap, first[: swap.size], out=swap)
        np.bitwise_xor(values[:-2], swap, out=values[:-2])
        np.bitwise_xor(values[2:], swap, out=values[2:])
        return reversed_rows
    pixels = reversed_rows.reshape(-1, channels)
    ordered = np.empty_like(pixels)
    for c in range(channels):
        ordered[:, c] = pixels[:, channels - 1 - c]
    return ordered.reshape(reversed_rows.shape)


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
            self._reflect_padding_rows(padded)
        dy, dx = shifts[:, 0], shifts[:, 1]
        corners = self._start - dy * self._row - dx * self.image_shape[2]
        out = self._windows[np.arange(n), corners]  # one copy: image i's shifted values
        if self.padding == "zero":
            np.bitwise_and(out, self._keep[dx + self.k], out=out)
        else:
            _mirror_columns(out.reshape(n, *self.image_shape), dx, self.k)
        return out.reshape(n, *self.image_shape)

    def _reflect_padding_rows(self, padded: np.ndarray) -> None:
        """Fill the k rows above and below each image with its rows 1..k and H-2..H-1-k."""
        row, start, height = self._row, self._start, self.image_shape[0]
        for j in range(1, self.k + 1):
            above = start - j * row  # padding row j above the image mirrors image row j
            padded[:, above : above + row] = padded[:, start + j * row : start + (j + 1) * row]
            below = start + (height - 1 + j) * row  # row j below mirrors image row H-1-j
            source = start + (height - 1 - j) * row
            padded[:, below : below + row] = padded[:, source : source + row]


def _mirror_columns(out: np.ndarray, dx: np.ndarray, k: int) -> None:
    """Overwrite, in place, the pixels a shift by ``dx`` wrapped around with their mirrors.

    ``out`` (N, H, W, C) holds images shifted right by ``dx`` (N,) whose ``|dx|`` leftmost
    (``dx > 0``) or rightmost (``dx < 0``) columns are not the image's. For ``dx > 0`` the
    output column ``x < dx`` shows image column ``x - dx < 0``, which reflect padding fills
    with image column ``dx - x``: output column ``2*dx - x``, in the same output row.
    Likewise on the right for ``dx < 0``. ``|dx| <= k``.
    """
    _reflect_edges(out, dx, k, axis=2)


def _mirror_rows(out: np.ndarray, dy: np.ndarray, k: int) -> None:
    """As :func:`_mirror_columns`, for the ``|dy|`` top or bottom rows of a shift down by ``dy``.

    Reflecting the rows first and then the columns, each from the output itself, fills the
    corners as ``np.pad(..., mode="reflect")`` does.
    """
    _reflect_edges(out, dy, k, axis=1)


def _reflect_edges(out: np.ndarray, shift: np.ndarray, k: int, axis: int) -> None:
    """Mirror the border rows (``axis=1``) or columns (``axis=2``) of C-contiguous ``out``."""
    if not out.flags.c_contiguous:  # the views below must write into ``out`` itself
        raise ValueError("the images to mirror must be one C-contiguous array")
    n, height, width = out.shape[:3]
    size = out.shape[axis]
    if axis == 1:  # whole rows, each one contiguous run of W*C values
        lines = out.reshape(n, height, -1)
    else:  # a pixel's C values as one element, so each copy is of whole pixels
        pixel = np.dtype((np.void, out.shape[3] * out.itemsize))
        lines = out.view(pixel).reshape(n, height, width).transpose(0, 2, 1)
    for j in range(1, k + 1):  # the j-th line from the edge, for shifts of at least j
        for chosen, edge in ((np.flatnonzero(shift >= j), 0), (np.flatnonzero(shift <= -j), 1)):
            if not chosen.size:
                continue
            d = np.abs(shift[chosen])
            if edge == 0:
                target, source = d - j, d + j
            else:
                target, source = size - 1 - (d - j), size - 1 - (d + j)
            lines[chosen, target] = lines[chosen, source]


class ShiftedGather:
    """Gathers images straight from a training set already flipped and shifted.

    ``gather(idx, flags, shifts)[i]`` equals ``translate(flip_horizontal(images[idx]), ...)``
    for image ``i`` (flip first, then the shift ``(dy, dx)``, the border filled as
    ``padding`` says), bit for bit, with one copy of each image where the separate steps
    take four.

    Parameters
    ----------
    images : C-contiguous integer ndarray (N, H, W, C), the training set (never copied).
    k : the largest shift, ``0 <= k <=`` :func:`max_translation` of the image shape.
    padding : ``"zero"`` or ``"reflect"``, the border a shift uncovers.

    Notes
    -----
    How, and why so (measured between training steps, which evict the caches, 200 CIFAR-10
    images, k = 2, float32, as ratios of the image batch source's conversion with per-channel
    normalisation): the images lie one after the other in the flat training set, so image
    ``idx`` shifted by ``(dy, dx)`` is the H*W*C values starting ``dy`` rows and ``dx``
    pixels before it, and one fancy-indexing copy out of a sliding-window view of the set
    gathers the batch shifted (0.58x; the plain gather 0.43x). The flip commutes with the
    shift if ``dx`` changes sign, so flipped images are gathered at ``-dx`` and mirrored
    afterwards: rows reversed as 8-byte words, each word's bytes swapped, the channels put
    back in order by XOR passes (0.51x). The values that came from the neighbouring image row
    (or image) are then zeroed with per-shift masks that touch only the border (0.27x), or,
    with reflect padding, overwritten by their mirror rows and then pixels from the output
    itself (:func:`_mirror_rows`, :func:`_mirror_columns`). The few images whose window would
    leave the set (the first and the last, shifted outwards) are rebuilt the plain way.
    Gather, :func:`flip_horizontal` and :class:`Translator` one after the other took 0.43x +
    0.83x + 0.76x. Flip + shift by up to 2 in the batch source, on a Zen 3 host (2026-12-02,
    medians per batch of 200 over 1200 batches between products that evict the caches, as
    time added to the plain batch): reflect padding 1.20 ms by the separate steps, 0.98 ms
    gathered here; zero padding 0.63 ms gathered here.
    """

    def __init__(self, images: np.ndarray, k: int, padding: str = "zero") -> None:
        if images.ndim != 4 or images.dtype.kind not in "iu" or not images.flags.c_contiguous:
            raise ValueError("a ShiftedGather reads C-contiguous integer images (N, H, W, C)")
        self.images = images
        self.image_shape: tuple[int, int, int] = images.shape[1:]
        self.k = check_int(k, "translate", low=0, high=max_translation(self.image_shape))
        self.padding = check_choice(padding, "padding", PADDINGS)
        height, width, channels = self.image_shape
        self._row = width * channels
        self._size = height * self._row
        flat = images.reshape(-1)  # a view: the images are contiguous
        self._windows = sliding_window_view(flat, self._size)
        self._last_start = len(flat) - self._size
        self._translator = Translator(self.image_shape, self.k, self.padding, images.dtype)
        # The border a shift uncovers, as masks indexed by the shift + k: all bits set except
        # on the |dy| top (dy > 0) or bottom rows, and the |dx| left or right pixels per row.
        k, full = self.k, np.array(-1).astype(images.dtype)
        self._top = np.full((2 * k + 1, k * self._row), full)
        self._bottom = self._top.copy()
        # Rows are masked at the left and right edges through the widest unsigned view a row
        # divides into, so a mask covers one word per row (a long loop over the rows).
        self._word = next(w for w in (8, 4, 2, 1) if (self._row * images.itemsize) % w == 0)
        edge_bytes = k * channels * images.itemsize
        self._edge_words = -(-edge_bytes // self._word)
        words_per_row = self._row * images.itemsize // self._word
        self._edge_words = min(self._edge_words, words_per_row)
        left = np.full((2 * k + 1, height, self._edge_words * self._word), 255, np.uint8)
        right = left.copy()
        for d in range(1, k + 1):
            self._top[k + d, : d * self._row] = 0
            self._bottom[k - d, (k - d) * self._row :] = 0
            left[k + d, :, : d * channels * images.itemsize] = 0
            right[k - d, :, right.shape[2] - d * channels * images.itemsize :] = 0
        view = np.dtype(f"u{self._word}")
        self._left = left[:, :1].view(view).reshape(2 * k + 1, 1, self._edge_words)
        self._right = right[:, :1].view(view).reshape(2 * k + 1, 1, self._edge_words)
        self._first: np.ndarray | None = None  # the channel-swap mask, made on the first flip

    def gather(self, idx: np.ndarray, flags: np.ndarray | None,
               shifts: np.ndarray | None) -> np.ndarray:
        """The images ``idx`` flipped where ``flags`` and shifted by ``shifts``: (B, H, W, C).

        Parameters
        ----------
        idx : int ndarray (B,), indices in ``[0, N)`` (checked by the caller).
        flags : bool ndarray (B,), or None for no flips.
        shifts : int ndarray (B, 2) of ``(dy, dx)`` in ``[-k, k]``, or None for no shift.
        """
        n = len(idx)
        height, width, channels = self.image_shape
        dy = np.zeros(n, np.int64) if shifts is None else shifts[:, 0]
        dx = np.zeros(n, np.int64) if shifts is None else shifts[:, 1]
        gather_dx = dx if flags is None else np.where(flags, -dx, dx)
        starts = idx * self._size - dy * self._row - gather_dx * channels
        inside = np.clip(starts, 0, self._last_start)
        out = self._windows[inside]  # one copy: image i's shifted values, (n, H*W*C)
        if flags is not None:
            self._flip(out, flags)
        images = out.reshape(n, height, width, channels)
        if self.k and self.padding == "zero":
            self._zero_border(out, dy + self.k, dx + self.k)
        elif self.k:
            _mirror_rows(images, dy, self.k)
            _mirror_columns(images, dx, self.k)
        edge = np.flatnonzero(inside != starts)  # the first or last image, shifted outwards
        if edge.size:
            rebuilt = self.images[idx[edge]]
            if flags is not None:
                flip_horizontal(rebuilt, flags[edge])
            shift = np.stack([dy[edge], dx[edge]], axis=1)
            images[edge] = self._translator.apply(rebuilt, shift)
        return images

    def _flip(self, out: np.ndarray, flags: np.ndarray) -> None:
        chosen = np.flatnonzero(flags)
        if not chosen.size:
            return
        height, _, channels = self.image_shape
        if self._row * out.itemsize % 8 or out.itemsize != 1 or channels != 3:
            flip_horizontal(out.reshape(len(out), *self.image_shape), flags)
            return
        words = out.view(np.uint64).reshape(len(out), height, -1)
        mirrored = words[chosen, :, ::-1]  # a copy, each row's words reversed ...
        mirrored.byteswap(inplace=True)  # ... and each word's bytes: the row's bytes reversed
        if self._first is None or self._first.size < mirrored.nbytes:
            self._first = _first_of_three(len(out) * self._size)
        _unreverse_channels(mirrored.view(np.uint8), channels, self._first)
        words[chosen] = mirrored

    def _zero_border(self, out: np.ndarray, row_code: np.ndarray, col_code: np.ndarray) -> None:
        n, band = len(out), self._top.shape[1]
        np.bitwise_and(out[:, :band], self._top[row_code], out=out[:, :band])
        np.bitwise_and(out[:, -band:], self._bottom[row_code], out=out[:, -band:])
        height = self.image_shape[0]
        rows = out.view(self._left.dtype).reshape(n, height, -1)
        left, right = rows[:, :, : self._edge_words], rows[:, :, -self._edge_words :]
        np.bitwise_and(left, self._left[col_code], out=left)
        np.bitwise_and(right, self._right[col_code], out=right)


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
        flags, shifts = self._draw(len(images), rng)
        if flags is not None:
            flip_horizontal(images, flags)
        if shifts is None:
            return images
        translator = self._translator
        if translator is None or translator.image_shape != images.shape[1:]:
            self.check_image_shape(images.shape[1:])
            translator = Translator(images.shape[1:], self.translate, self.padding, images.dtype)
            self._translator = translator
        return translator.apply(images, shifts)

    def _draw(
        self, n: int, rng: np.random.Generator
    ) -> tuple[np.ndarray | None, np.ndarray | None]:
        """The flips (N,) and shifts (N, 2) of a batch, in the documented order (None: off)."""
        flags = rng.integers(0, 2, size=n).astype(bool) if self.flip else None
        shifts = None
        if self.translate:
            shifts = rng.integers(-self.translate, self.translate + 1, size=(n, 2))
        return flags, shifts

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
