"""Normalisation of uint8 images into float rows: the workbook's mean image, or per channel.

Both statistics are computed on the training images only, in float64, without a float copy
of the set. Rows are flattened in height-width-channel order, the order of
:func:`minigrad.data.preprocess.load_cifar10_split` (``images.reshape(n, -1)``), so a row's
feature ``j`` is pixel ``(j // (W*C), (j // C) % W)``, channel ``j % C``.

The conversion is ``(x - mean) * (1 / std)`` (no scaling for the mean image), written into
a buffer allocated once: ``np.copyto`` (uint8 to float is exact) and then in-place
``np.subtract`` / ``np.multiply`` with the statistics in the target dtype, tiled to a block
of rows. Measured for a (200, 3072) batch at float32 on the 2-core Xeon: 0.20 ms
for the mean image, 0.32 ms with the standard deviation; one mixed-precision
``np.subtract(uint8, float64 mean, out=float32, casting="unsafe")`` took 0.56-0.75 ms, and
subtracting a (3072,) mean broadcast over the rows 0.16 ms instead of 0.10 ms for the tiled
one. The three passes run ``CONVERT_ROWS`` rows at a time, so a block is still in the core's
cache for the second and third pass: measured between training steps (which evict the
caches), 16 rows at a time took 0.74x the time of whole-batch passes (10 rows 0.76x, 25
rows 0.83x, 40 rows 0.81x).

At float64 the rows equal ``load_cifar10_split``'s bit for bit; at float32 the mean (and
``1 / std``) are rounded to float32 first, so a row differs from the float64 result rounded
once by at most a few float32 ulps of ``max(|x|, |mean|) / std``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from minigrad.data.preprocess import mean_image
from minigrad.validation import check_choice, check_positive_int

__all__ = [
    "FLOAT_DTYPES",
    "NORMALIZATIONS",
    "Normalization",
    "RowConverter",
    "check_float_dtype",
    "check_images",
]

NORMALIZATIONS = ("mean-image", "per-channel")
"""The kinds :meth:`Normalization.fit` accepts (the CLI's ``--normalize`` choices)."""

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))

_STATS_CHUNK = 1000  # images per block when counting pixel values
CONVERT_ROWS = 16  # rows per block of the conversion (see the module's notes)


def check_float_dtype(dtype: npt.DTypeLike, name: str = "dtype") -> np.dtype:
    """``np.dtype(dtype)`` if it is float32 or float64, else ``ValueError``."""
    try:
        resolved = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"{name} must be float32 or float64, got {dtype!r}") from None
    if resolved not in FLOAT_DTYPES:
        raise ValueError(f"{name} must be float32 or float64, got {resolved}")
    return resolved


def check_images(images: object, name: str = "images") -> np.ndarray:
    """``images`` itself if it is a uint8 ndarray of shape (N, H, W, C) with N >= 1."""
    if not isinstance(images, np.ndarray):
        raise TypeError(f"{name} must be a numpy array, got {type(images).__name__}")
    if images.dtype != np.uint8:
        raise TypeError(f"{name} must be uint8 images (N, H, W, C), got dtype {images.dtype}")
    if images.ndim != 4 or 0 in images.shape:
        raise ValueError(f"{name} must have shape (N, H, W, C) with N >= 1, got {images.shape}")
    return images


def _channel_statistics(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and (population) standard deviation of each channel, float64, shapes (C,).

    The pixel values of each channel are counted (``np.bincount`` over blocks of images), so
    the sums are exact integers and the moments are taken about the mean from the 256
    counts: no float copy of the images, and no cancellation.
    """
    channels = images.shape[-1]
    counts = np.zeros((channels, 256), dtype=np.int64)
    for start in range(0, len(images), _STATS_CHUNK):
        pixels = images[start : start + _STATS_CHUNK].reshape(-1, channels)
        for c in range(channels):
            counts[c] += np.bincount(pixels[:, c], minlength=256)
    values = np.arange(256, dtype=np.float64)
    total = counts.sum(axis=1).astype(np.float64)
    mean = counts @ values / total
    variance = (counts * (values - mean[:, None]) ** 2).sum(axis=1) / total
    return mean, np.sqrt(variance)


@dataclass(frozen=True, eq=False)
class Normalization:
    """The statistics of a training split, as per-feature rows in HWC order.

    Attributes
    ----------
    kind : ``"mean-image"`` or ``"per-channel"``.
    image_shape : (H, W, C) of the images it applies to.
    mean : ndarray of shape (D,), float64 (D = H*W*C); for per-channel, the channel means
        repeated over the pixels.
    std : ndarray of shape (D,), float64, or None (the mean image does not scale).
    """

    kind: str
    image_shape: tuple[int, int, int]
    mean: np.ndarray
    std: np.ndarray | None

    def __post_init__(self) -> None:
        check_choice(self.kind, "kind", NORMALIZATIONS)
        width = int(np.prod(self.image_shape))
        for name, value in (("mean", self.mean), ("std", self.std)):
            if value is None:
                continue
            if value.shape != (width,) or value.dtype != np.float64:
                raise ValueError(
                    f"normalisation {name} must be float64 of shape ({width},), got "
                    f"{value.dtype} {value.shape}"
                )
            if not np.all(np.isfinite(value)):
                raise ValueError(f"normalisation {name} holds NaN or inf")
        if self.std is not None and not np.all(self.std > 0):
            raise ValueError("normalisation std must be > 0 everywhere")
        if self.kind == "mean-image" and self.std is not None:
            raise ValueError("a 'mean-image' normalisation has no std")
        if self.kind == "per-channel" and self.std is None:
            raise ValueError("a 'per-channel' normalisation needs a std")

    @classmethod
    def fit(cls, kind: str, images: np.ndarray) -> Normalization:
        """The ``kind`` statistics of ``images``, uint8 (N, H, W, C): the training split only."""
        check_choice(kind, "normalize", NORMALIZATIONS)
        return cls.mean_image(images) if kind == "mean-image" else cls.per_channel(images)

    @classmethod
    def mean_image(cls, images: np.ndarray) -> Normalization:
        """The workbook's mean image (float64): the numbers ``load_cifar10_split`` subtracts."""
        check_images(images)
        n, height, width, channels = images.shape
        return cls("mean-image", (height, width, channels), mean_image(images.reshape(n, -1)),
                   None)

    @classmethod
    def per_channel(cls, images: np.ndarray) -> Normalization:
        """Each channel's mean and standard deviation over all pixels of all images (float64).

        Raises
        ------
        ValueError : a channel is constant (its standard deviation is 0).
        """
        check_images(images)
        _, height, width, channels = images.shape
        mean, std = _channel_statistics(images)
        if not np.all(std > 0):
            flat = [int(c) for c in np.flatnonzero(std == 0)]
            raise ValueError(f"channel(s) {flat} of the images are constant (std 0); "
                             "per-channel normalisation would divide by zero")
        pixels = height * width
        return cls("per-channel", (height, width, channels), np.tile(mean, pixels),
                   np.tile(std, pixels))

    @property
    def num_features(self) -> int:
        """D = H*W*C, the width of a row."""
        return int(self.mean.shape[0])

    @property
    def channel_mean(self) -> np.ndarray:
        """(C,) for per-channel statistics; the mean image's channel averages otherwise."""
        return np.asarray(self.mean.reshape(-1, self.image_shape[-1]).mean(axis=0))

    def transform(
        self, images: np.ndarray, dtype: npt.DTypeLike = np.float32, chunk_size: int = 1000
    ) -> np.ndarray:
        """Normalised rows (n, D) in a new ``dtype`` array (converted ``chunk_size`` at a time).

        For evaluation sets that fit in memory as floats; :class:`ImageRows` converts a chunk
        at a time instead.
        """
        check_images(images)
        chunk_size = check_positive_int(chunk_size, "chunk_size")
        converter = RowConverter(self, dtype, min(chunk_size, len(images)), self.image_shape)
        out = np.empty((len(images), self.num_features), dtype=converter.dtype)
        for start in range(0, len(images), chunk_size):
            rows = slice(start, start + chunk_size)
            converter.convert(images[rows], out=out[rows])
        return out

    def state_dict(self) -> dict[str, Any]:
        """``kind``, ``image_shape``, ``mean`` and ``std`` (copies; ``std`` None for the mean
        image): JSON-able scalars and arrays, e.g. for a run folder."""
        return {
            "kind": self.kind,
            "image_shape": list(self.image_shape),
            "mean": self.mean.copy(),
            "std": None if self.std is None else self.std.copy(),
        }

    @classmethod
    def from_state_dict(cls, state: Mapping[str, Any]) -> Normalization:
        """Rebuild a :meth:`state_dict`; ``ValueError`` naming what is wrong."""
        if not isinstance(state, Mapping):
            raise ValueError(f"a normalisation state must be a mapping, got {state!r}")
        for key in ("kind", "image_shape", "mean", "std"):
            if key not in state:
                raise ValueError(f"the normalisation state has no {key!r} entry")
        shape = state["image_shape"]
        if not isinstance(shape, (list, tuple)) or len(shape) != 3:
            raise ValueError(f"normalisation image_shape must be [H, W, C], got {shape!r}")
        std = None if state["std"] is None else np.asarray(state["std"])
        height, width, channels = (check_positive_int(v, "image_shape") for v in shape)
        return cls(state["kind"], (height, width, channels), np.asarray(state["mean"]), std)

    def same_as(self, other: Normalization) -> bool:
        """Same kind, shape and statistics, bit for bit."""
        same_std = (self.std is None and other.std is None) or (
            self.std is not None and other.std is not None and np.array_equal(self.std, other.std)
        )
        return (
            self.kind == other.kind
            and self.image_shape == other.image_shape
            and np.array_equal(self.mean, other.mean)
            and same_std
        )


class RowConverter:
    """Converts uint8 images into normalised float rows, in a buffer it reuses.

    Parameters
    ----------
    normalization : the statistics, or None for the raw pixel values (0-255) as floats.
    dtype : float32 or float64, the rows' dtype.
    max_rows : the most images one call converts (the buffers' height).
    image_shape : (H, W, C); taken from ``normalization`` when that is given.

    Notes
    -----
    The rows :meth:`convert` returns without ``out`` are overwritten by the next call.
    """

    def __init__(
        self,
        normalization: Normalization | None,
        dtype: npt.DTypeLike,
        max_rows: int,
        image_shape: tuple[int, int, int],
    ) -> None:
        self.dtype = check_float_dtype(dtype)
        self.max_rows = check_positive_int(max_rows, "max_rows")
        if normalization is not None and tuple(normalization.image_shape) != tuple(image_shape):
            raise ValueError(
                f"the normalisation is for images of shape {normalization.image_shape}, "
                f"these are {tuple(image_shape)}"
            )
        self.image_shape = tuple(image_shape)
        self.num_features = int(np.prod(image_shape))
        self.normalization = normalization
        self._out = np.empty((self.max_rows, self.num_features), dtype=self.dtype)
        # The statistics in the target dtype, tiled to a block of rows: a tiled operand makes
        # the in-place ufuncs one contiguous loop (1.6x faster than broadcasting a (D,) row).
        self._mean = self._scale = None
        block = min(self.max_rows, CONVERT_ROWS)
        if normalization is not None:
            self._mean = np.tile(normalization.mean.astype(self.dtype), (block, 1))
            if normalization.std is not None:
                scale = (1.0 / normalization.std).astype(self.dtype)
                self._scale = np.tile(scale, (block, 1))

    def convert(self, images: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """``(images - mean) / std`` as rows (n, D) in :attr:`dtype`.

        Parameters
        ----------
        images : uint8 ndarray of shape (n, H, W, C) (or (n, D)), n <= ``max_rows``.
        out : optional ndarray of shape (n, D) in :attr:`dtype` to write into; by default
            the converter's own buffer.

        Returns
        -------
        ``out`` or a view of the buffer, shape (n, D).
        """
        n = len(images)
        if n > self.max_rows:
            raise ValueError(f"{n} images, but this converter holds at most {self.max_rows}")
        flat = images.reshape(n, self.num_features)
        rows = self._out[:n] if out is None else out
        for start in range(0, n, CONVERT_ROWS):
            block = rows[start : start + CONVERT_ROWS]
            np.copyto(block, flat[start : start + CONVERT_ROWS])  # uint8 -> float is exact
            if self._mean is not None:
                np.subtract(block, self._mean[: len(block)], out=block)
            if self._scale is not None:
                np.multiply(block, self._scale[: len(block)], out=block)
        return rows
