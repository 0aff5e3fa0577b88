"""Data sets: CIFAR-10 (locate, download, verify, load, split) and small toy sets."""

from minigrad.data.cifar10 import (
    CifarFormatError,
    CifarMeta,
    UnsafePickleError,
    load_cifar10,
    load_cifar10_batch,
    load_cifar10_meta,
    load_label_names,
)
from minigrad.data.download import (
    ChecksumError,
    DataFetchError,
    DownloadError,
    UnsafeArchiveError,
    download_and_extract,
)
from minigrad.data.locate import CifarFilesMissingError, CifarNotFoundError, find_cifar10
from minigrad.data.preprocess import Cifar10Split, get_cifar10_data, load_cifar10_split
from minigrad.data.toy import init_toy_data, make_spiral

__all__ = [
    "ChecksumError",
    "Cifar10Split",
    "CifarFilesMissingError",
    "CifarFormatError",
    "CifarMeta",
    "CifarNotFoundError",
    "DataFetchError",
    "DownloadError",
    "UnsafeArchiveError",
    "UnsafePickleError",
    "download_and_extract",
    "find_cifar10",
    "get_cifar10_data",
    "init_toy_data",
    "load_cifar10",
    "load_cifar10_batch",
    "load_cifar10_meta",
    "load_cifar10_split",
    "load_label_names",
    "make_spiral",
]
