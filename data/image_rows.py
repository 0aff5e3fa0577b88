"""uint8 images seen as normalised float rows, converted a chunk at a time (for evaluation).

An :class:`ImageRows` is what a validation or test set of images is given to the trainer
and to accuracy as: it never augments, and never holds more than one chunk as floats.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import numpy.typing as npt

from minigrad.data.normalize import Normalization, RowConverter, check_float_dtype, check_images
from minigrad.validation import check_positive_int

__all__ = ["ImageRows"]


class ImageRows:
    """An :class:`~minigrad.data.batch_source.EvaluationRows` over uint8 images.

    Parameters
    ----------
    images : uint8 ndarray of shape (M, H, W, C) (never copied).
    normalization : the training split's statistics, or None for raw values 0-255.
    dtype : float32 or float64, the rows' dtype (the model's).
    """

    def __init__(
        self,
        images: np.ndarray,
        normalization: Normalization | None = None,
        dtype: npt.DTypeLike = np.float32,
    ) -> None:
        self.images = check_images(images)
        self.normalization = normalization
        self._dtype = check_float_dtype(dtype)
        self._converter: RowConverter | None = None
        if normalization is not None and normalization.image_shape != images.shape[1:]:
            raise ValueError(
                f"the normalisation is for images of shape {normalization.image_shape}, "
                f"these are {images.shape[1:]}"
            )

    @property
    def num_rows(self) -> int:
        return len(self.images)

    @property
    def num_features(self) -> int:
        return int(np.prod(self.images.shape[1:]))

    @property
    def dtype(self) -> np.dtype:
        return self._dtype

    @property
    def shape(self) -> tuple[int, int]:
        """(M, D), the shape the rows would have as one array."""
        return self.num_rows, self.num_features

    def __len__(self) -> int:
        return self.num_rows

    def chunks(self, chunk_size: int = 1000) -> Iterator[tuple[slice, np.ndarray]]:
        """``(rows, X_chunk)`` for consecutive chunks; ``X_chunk`` is overwritten by the next."""
        chunk_size = check_positive_int(chunk_size, "chunk_size")
        rows_per_chunk = min(chunk_size, self.num_rows)
        converter = self._converter
        if converter is None or converter.max_rows != rows_per_chunk:
            converter = RowConverter(self.normalization, self._dtype, rows_per_chunk,
                                     self.images.shape[1:])
            self._converter = converter  # kept: evaluation at every epoch end reuses it
        for start in range(0, self.num_rows, chunk_size):
            rows = slice(start, min(start + chunk_size, self.num_rows))
            yield rows, converter.convert(self.images[rows])

    def to_array(self) -> np.ndarray:
        """All rows as one new (M, D) array (for sets small enough to hold as floats)."""
        out = np.empty(self.shape, dtype=self._dtype)
        for rows, chunk in self.chunks():
            out[rows] = chunk
        return out

    def __repr__(self) -> str:
        kind = None if self.normalization is None else self.normalization.kind
        return f"ImageRows({self.num_rows} images {self.images.shape[1:]}, {kind}, {self._dtype})"
