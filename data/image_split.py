"""The workbook's CIFAR-10 split kept as uint8 images, for the image pipeline.

The same images as :func:`minigrad.data.preprocess.load_cifar10_split` (train = the first
``num_training`` training images, validation = the next ``num_validation``, test = the
first ``num_test`` test images), but neither centred nor flattened nor converted: each split
is a view of the uint8 arrays as loaded (184 MB for all 60,000 images), so no float copy
of any split exists. :class:`~minigrad.data.image_batches.ImageBatches` and
:class:`~minigrad.data.image_rows.ImageRows` convert them a batch or a chunk at a time.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from minigrad.data.cifar10 import load_cifar10
from minigrad.data.preprocess import check_split_sizes

__all__ = ["Cifar10Images", "load_cifar10_images", "split_cifar10_images"]


@dataclass(frozen=True)
class Cifar10Images:
    """The three splits as uint8 images (N, 32, 32, 3) and int64 labels (N,).

    Attributes
    ----------
    train_images, y_train : the first ``num_training`` training images.
    val_images, y_val : the next ``num_validation`` training images.
    test_images, y_test : the first ``num_test`` test images.
    """

    train_images: np.ndarray
    y_train: np.ndarray
    val_images: np.ndarray
    y_val: np.ndarray
    test_images: np.ndarray
    y_test: np.ndarray


def split_cifar10_images(
    X_train: np.ndarray,
    y_train: np.ndarray,
    X_test: np.ndarray,
    y_test: np.ndarray,
    num_training: int = 49000,
    num_validation: int = 1000,
    num_test: int = 1000,
) -> Cifar10Images:
    """The workbook's split of loaded uint8 arrays, as views (nothing is copied).

    Parameters
    ----------
    X_train : uint8 ndarray of shape (N_train, 32, 32, 3), e.g. from ``load_cifar10``.
    y_train : ndarray of shape (N_train,)
    X_test : uint8 ndarray of shape (N_test, 32, 32, 3)
    y_test : ndarray of shape (N_test,)
    num_training, num_validation, num_test : sizes of the three splits.
    """
    if X_train.dtype != np.uint8 or X_test.dtype != np.uint8:
        raise TypeError(
            f"the images must be uint8 (load_cifar10(root, np.uint8)), got "
            f"{X_train.dtype} and {X_test.dtype}"
        )
    check_split_sizes(num_training, num_validation, num_test, len(X_train), len(X_test))
    train = slice(0, num_training)
    val = slice(num_training, num_training + num_validation)
    return Cifar10Images(
        train_images=X_train[train], y_train=y_train[train],
        val_images=X_train[val], y_val=y_train[val],
        test_images=X_test[:num_test], y_test=y_test[:num_test],
    )


def load_cifar10_images(
    num_training: int = 49000,
    num_validation: int = 1000,
    num_test: int = 1000,
    *,
    root: str | os.PathLike[str] | None = None,
    download: bool = True,
) -> Cifar10Images:
    """Load CIFAR-10 as uint8 and split it with :func:`split_cifar10_images`.

    ``root`` and ``download`` are as in :func:`minigrad.data.cifar10.load_cifar10`. Peak
    memory is the uint8 data itself (184 MB).
    """
    check_split_sizes(num_training, num_validation, num_test)  # before reading 180 MB
    X_train, y_train, X_test, y_test = load_cifar10(root, np.uint8, download=download)
    return split_cifar10_images(X_train, y_train, X_test, y_test,
                                num_training, num_validation, num_test)
