"""How a run's CIFAR-10 data becomes the net's input: float rows, or the uint8 image pipeline.

A config with neither augmentation nor per-channel normalisation trains on the workbook's
float rows (``load_cifar10_split``: the mean image subtracted once, in float64), so its
numbers are the workbook's. Any other (``TrainConfig.uses_image_pipeline``) keeps the
splits as uint8 images (``load_cifar10_images``, a quarter of the memory) and converts
each minibatch, augmented, and each evaluation chunk, never augmented, with the training
split's statistics (``minigrad.data.image_batches.ImageBatches``, ``ImageRows``).

>>> from minigrad.experiment.config import AUGMENTED
>>> data = load_run_data(AUGMENTED)                      # doctest: +SKIP
>>> normalization = input_normalization(AUGMENTED, data)  # doctest: +SKIP
"""

from __future__ import annotations

import os
from typing import TypeAlias

import numpy as np

from minigrad.data import Cifar10Split, CifarFormatError, load_cifar10_split
from minigrad.data.cifar10 import IMAGE_SHAPE
from minigrad.data.image_batches import ImageBatches
from minigrad.data.image_rows import ImageRows
from minigrad.data.image_split import Cifar10Images, load_cifar10_images
from minigrad.data.normalize import Normalization
from minigrad.experiment.config import ConfigError, TrainConfig
from minigrad.training.trainer import EvaluationData

__all__ = [
    "RunData",
    "evaluation_sets",
    "check_run_data",
    "input_normalization",
    "input_width",
    "load_run_data",
    "make_image_batches",
]

RunData: TypeAlias = Cifar10Split | Cifar10Images
"""A run's data: float rows with the mean image subtracted, or uint8 images."""


def load_run_data(
    config: TrainConfig, root: str | os.PathLike[str] | None = None
) -> RunData:
    """The CIFAR-10 splits of ``config`` (its ``num_*`` sizes), as its pipeline needs them.

    Raises
    ------
    ConfigError : the sizes do not fit the data.
    CifarFormatError, CifarNotFoundError, DataFetchError : the data is corrupt or missing.
    """
    sizes = (config.num_training, config.num_validation, config.num_test)
    try:
        if config.uses_image_pipeline:
            return load_cifar10_images(*sizes, root=root)
        return load_cifar10_split(*sizes, root=root, dtype=config.dtype)
    except CifarFormatError:  # a ValueError too, but about the files: keep it
        raise
    except ValueError as err:  # the sizes: a setting of the run
        raise ConfigError(str(err)) from err


def check_run_data(config: TrainConfig, data: object) -> RunData:
    """``data`` itself, if it is what ``config``'s pipeline trains on; ``ConfigError`` if not."""
    if config.uses_image_pipeline:
        if not isinstance(data, Cifar10Images):
            raise ConfigError(
                f"the config augments or normalises per channel (flip={config.flip}, "
                f"translate={config.translate}, normalize={config.normalize!r}), so it trains "
                f"on uint8 images (minigrad.data.image_split.load_cifar10_images), not on "
                f"{type(data).__name__}"
            )
        return data
    if isinstance(data, Cifar10Images):
        raise ConfigError(
            "the config trains on the workbook's float rows (no augmentation, mean-image "
            "normalisation): give it a Cifar10Split (load_cifar10_split), not images"
        )
    for name in ("X_train", "X_val", "X_test"):
        array = getattr(data, name)
        if array.dtype != np.dtype(config.dtype):
            raise ConfigError(
                f"split.{name} is {array.dtype} but the config says dtype={config.dtype!r}; "
                f"load the data with dtype={config.dtype!r}"
            )
    return data  # type: ignore[return-value]  # duck-typed splits (tests) are allowed


def input_width(data: RunData) -> int:
    """D, the features per row the net sees (3072 for CIFAR-10 images)."""
    if isinstance(data, Cifar10Images):
        return int(np.prod(data.train_images.shape[1:]))
    return int(data.X_train.shape[1])


def input_normalization(config: TrainConfig, data: RunData) -> Normalization:
    """The statistics the net's input rows are normalised with (training split only).

    For float rows, the mean image ``data`` was centred with; for images,
    ``Normalization.fit(config.normalize, train_images)``.
    """
    if isinstance(data, Cifar10Images):
        return Normalization.fit(config.normalize, data.train_images)
    if data.mean_image is None:
        raise ValueError("the split must carry its mean image (load it with subtract_mean=True)")
    return Normalization("mean-image", IMAGE_SHAPE, data.mean_image, None)


def make_image_batches(
    config: TrainConfig,
    images: Cifar10Images,
    normalization: Normalization,
    rng: np.random.Generator,
) -> ImageBatches:
    """The training minibatches of ``config``: its batch size, sampling and augmentation."""
    return ImageBatches(
        images.train_images, images.y_train,
        batch_size=config.batch_size, sampling=config.sampling, rng=rng,
        dtype=config.dtype, normalization=normalization,
        flip=config.flip, translate=config.translate, padding=config.padding,
    )


def evaluation_sets(
    data: RunData, config: TrainConfig | None = None,
    normalization: Normalization | None = None,
) -> dict[str, tuple[EvaluationData, np.ndarray]]:
    """``{"train": (X, y), "val": ..., "test": ...}`` to measure accuracy on.

    ``X`` is the split's rows, or for images an :class:`ImageRows` that converts a chunk
    at a time in ``config.dtype`` with ``normalization`` (default:
    :func:`input_normalization`); images need the ``config``.
    """
    if isinstance(data, Cifar10Images):
        if config is None:
            raise TypeError("evaluating on images needs the run's config (its dtype)")
        stats = input_normalization(config, data) if normalization is None else normalization
        return {
            name: (ImageRows(images, stats, config.dtype), labels)
            for name, images, labels in (
                ("train", data.train_images, data.y_train),
                ("val", data.val_images, data.y_val),
                ("test", data.test_images, data.y_test),
            )
        }
    return {
        "train": (data.X_train, data.y_train),
        "val": (data.X_val, data.y_val),
        "test": (data.X_test, data.y_test),
    }
