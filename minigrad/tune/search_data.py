"""A search's data: the workbook's float rows, the uint8 images, or both, with one set of labels.

A trial trains on rows or on images as its config says
(``TrainConfig.uses_image_pipeline``); a search holds what its space can ask for (rows
when some trial may use the workbook's data, images when some trial may augment or
normalise per channel), so a search that never augments holds no images and one that
always does holds no float copy of the training set.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from minigrad.data import Cifar10Split, load_cifar10
from minigrad.data.image_split import Cifar10Images, split_cifar10_images
from minigrad.data.preprocess import check_split_sizes, split_cifar10
from minigrad.experiment.config import ConfigError, TrainConfig
from minigrad.experiment.input_pipeline import RunData

__all__ = ["SearchData", "load_search_data"]

_ROWS = ("X_train", "X_val", "X_test", "mean_image")
_IMAGES = ("train_images", "val_images", "test_images")
_LABELS = ("y_train", "y_val", "y_test")


@dataclass(frozen=True)
class SearchData:
    """The splits of a search, as rows (``rows``), images (``images``) or both.

    Attributes
    ----------
    rows : the workbook's float rows with their mean image, or None.
    images : the uint8 images, or None. At least one of the two is given; both describe
        the same split (same sizes and labels).
    """

    rows: Cifar10Split | None = None
    images: Cifar10Images | None = None

    def __post_init__(self) -> None:
        if self.rows is None and self.images is None:
            raise ValueError("a search needs rows, images or both")
        if self.rows is not None and self.images is not None:
            for name in _LABELS:
                if not np.array_equal(getattr(self.rows, name), getattr(self.images, name)):
                    raise ValueError(f"the rows and the images have different {name}")

    @classmethod
    def of(cls, data: object) -> SearchData:
        """``data`` as a SearchData: itself, or a split of rows, or of images."""
        if isinstance(data, SearchData):
            return data
        if isinstance(data, Cifar10Images):
            return cls(images=data)
        return cls(rows=data)  # type: ignore[arg-type]  # any split with rows

    @property
    def labels(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(y_train, y_val, y_test)``."""
        source: Any = self.rows if self.rows is not None else self.images
        return source.y_train, source.y_val, source.y_test

    @property
    def sizes(self) -> dict[str, int]:
        """``num_training``, ``num_validation``, ``num_test``."""
        y_train, y_val, y_test = self.labels
        return {"num_training": len(y_train), "num_validation": len(y_val),
                "num_test": len(y_test)}

    def for_config(self, config: TrainConfig) -> RunData:
        """The data ``config`` trains on; ``ConfigError`` if this search does not hold it."""
        if config.uses_image_pipeline:
            if self.images is None:
                raise ConfigError("this search holds no images, but the trial augments or "
                                  "normalises per channel")
            return self.images
        if self.rows is None:
            raise ConfigError("this search holds no float rows, but the trial trains on the "
                              "workbook's data (no augmentation, mean-image normalisation)")
        return self.rows

    def arrays(self) -> dict[str, np.ndarray]:
        """Every array by name, to share with worker processes (:meth:`from_arrays`)."""
        arrays: dict[str, np.ndarray] = dict(zip(_LABELS, self.labels, strict=True))
        if self.rows is not None:
            for name in _ROWS:
                value = getattr(self.rows, name, None)  # a test's split may lack a mean
                if value is not None:
                    arrays[name] = value
        if self.images is not None:
            arrays.update({name: getattr(self.images, name) for name in _IMAGES})
        return arrays

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray] | Any) -> SearchData:
        """Inverse of :meth:`arrays` (a mapping, or a namespace of the same names)."""
        def get(name: str) -> Any:
            if isinstance(arrays, Mapping):
                return arrays.get(name)
            return getattr(arrays, name, None)

        labels = {name: get(name) for name in _LABELS}
        rows = images = None
        if get("X_train") is not None:
            rows = Cifar10Split(X_train=get("X_train"), X_val=get("X_val"),
                                X_test=get("X_test"), mean_image=get("mean_image"), **labels)
        if get("train_images") is not None:
            images = Cifar10Images(train_images=get("train_images"),
                                   val_images=get("val_images"),
                                   test_images=get("test_images"), **labels)
        return cls(rows, images)


def load_search_data(
    sizes: Mapping[str, int],
    *,
    rows: bool,
    images: bool,
    dtype: str,
    root: str | os.PathLike[str] | None = None,
) -> SearchData:
    """Load CIFAR-10 once (uint8) and make the rows and/or the image views of the split.

    Raises
    ------
    ConfigError : the sizes do not fit the data.
    CifarFormatError, CifarNotFoundError, DataFetchError : the data is corrupt or missing.
    """
    counts = (sizes["num_training"], sizes["num_validation"], sizes["num_test"])
    try:
        check_split_sizes(*counts)
    except ValueError as err:
        raise ConfigError(str(err)) from err
    X_train, y_train, X_test, y_test = load_cifar10(root, np.uint8)
    split_rows = split_cifar10(X_train, y_train, X_test, y_test, *counts, dtype=dtype) \
        if rows else None
    split_images = split_cifar10_images(X_train, y_train, X_test, y_test, *counts) \
        if images else None
    return SearchData(split_rows, split_images)
