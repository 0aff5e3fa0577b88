"""The workbook's float64 CIFAR-10 flow, for comparing peak memory with ``minigrad train``.

It reproduces the workbook's own data code: CS231n's ``load_CIFAR10`` (each batch converted
with ``.astype("float")`` and the five concatenated), the workbook's ``get_CIFAR10_data``
(list-mask subsampling, which copies; mean-image subtraction; reshape to rows), then trains
our ``TwoLayerNet`` with the best configuration at float64, as the workbook cell does. The
batch files are read with ``data.cifar10.read_batch`` (a validating unpickler) instead of a
bare ``pickle.load``; the arrays it returns are the raw uint8 rows that ``pickle.load``
would return, so the memory profile is the workbook's.

Measure it and the float32 CLI with GNU time (``Maximum resident set size``)::

    /usr/bin/time -v python -m benchmarks.workbook_flow --num-iters 200
    /usr/bin/time -v minigrad train --dtype float32 --num-iters 200 --quiet --out /tmp/run32

Both find the data in ``$MINIGRAD_CIFAR10`` (or ``--data-dir``). The script prints its own
peak (``resource.getrusage``) at the end as well.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time

import numpy as np

from minigrad.data.cifar10 import read_batch
from minigrad.data.locate import find_cifar10
from minigrad.models import TwoLayerNet


def load_CIFAR_batch(filename: str) -> tuple[np.ndarray, np.ndarray]:  # noqa: N802 (CS231n)
    """CS231n's ``load_CIFAR_batch``: one batch as float64 images (10000, 32, 32, 3)."""
    X, Y = read_batch(filename)  # the dict's 'data' and 'labels', as pickle.load gives them
    X = X.reshape(10000, 3, 32, 32).transpose(0, 2, 3, 1).astype("float")
    Y = np.array(Y)
    return X, Y


def load_CIFAR10(ROOT: str) -> tuple[np.ndarray, ...]:  # noqa: N802, N803 (CS231n)
    """CS231n's ``load_CIFAR10``."""
    xs = []
    ys = []
    for b in range(1, 6):
        f = os.path.join(ROOT, "data_batch_%d" % (b,))  # noqa: UP031 (CS231n)
        X, Y = load_CIFAR_batch(f)
        xs.append(X)
        ys.append(Y)
    Xtr = np.concatenate(xs)
    Ytr = np.concatenate(ys)
    del X, Y
    Xte, Yte = load_CIFAR_batch(os.path.join(ROOT, "test_batch"))
    return Xtr, Ytr, Xte, Yte


def get_CIFAR10_data(  # noqa: N802 (the workbook's name)
    cifar10_dir: str, num_training: int = 49000, num_validation: int = 1000, num_test: int = 1000
) -> tuple[np.ndarray, ...]:
    """The workbook's ``get_CIFAR10_data``, verbatim apart from the folder argument.

    Its body after loading is :func:`subsample_and_center`, which the tests use as the
    oracle for ``minigrad.data``'s split (``tests/test_cifar_preprocess.py``).
    """
    # Load the raw CIFAR-10 data
    X_train, y_train, X_test, y_test = load_CIFAR10(cifar10_dir)
    return subsample_and_center(
        X_train, y_train, X_test, y_test, num_training, num_validation, num_test
    )


def subsample_and_center(
    X_train: np.ndarray,
    y_train: np.ndarray,
    X_test: np.ndarray,
    y_test: np.ndarray,
    num_training: int,
    num_validation: int,
    num_test: int,
) -> tuple[np.ndarray, ...]:
    """The rest of the workbook's ``get_CIFAR10_data``, verbatim (float64 images in).

    Kept as the workbook wrote it on purpose: it is the test oracle for
    ``minigrad.data.load_cifar10_split``, not code to imitate.
    """
    # Subsample the data
    mask = list(range(num_training, num_training + num_validation))
    X_val = X_train[mask]
    y_val = y_train[mask]
    mask = list(range(num_training))
    X_train = X_train[mask]
    y_train = y_train[mask]
    mask = list(range(num_test))
    X_test = X_test[mask]
    y_test = y_test[mask]

    # Normalize the data: subtract the mean image
    mean_image = np.mean(X_train, axis=0)
    X_train -= mean_image
    X_val -= mean_image
    X_test -= mean_image

    # Reshape data to rows
    X_train = X_train.reshape(num_training, -1)
    X_val = X_val.reshape(num_validation, -1)
    X_test = X_test.reshape(num_test, -1)

    return X_train, y_train, X_val, y_val, X_test, y_test


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", help="CIFAR-10 batches (default: $MINIGRAD_CIFAR10)")
    parser.add_argument("--num-iters", type=int, default=200,
                        help="training iterations (memory, not time, is measured)")
    args = parser.parse_args(argv)
    cifar10_dir = os.fspath(find_cifar10(args.data_dir, download=False))

    start = time.perf_counter()
    X_train, y_train, X_val, y_val, X_test, y_test = get_CIFAR10_data(cifar10_dir)
    print("Train data shape: ", X_train.shape, X_train.dtype)

    np.random.seed(0)  # noqa: NPY002 (the workbook seeds the global generator)
    input_size = 32 * 32 * 3
    hidden_size = 50
    num_classes = 10
    best_net = TwoLayerNet(input_size, hidden_size, num_classes)
    stats = best_net.train(X_train, y_train, X_val, y_val,
                           num_iters=args.num_iters, batch_size=200,
                           learning_rate=4e-4, learning_rate_decay=0.95,
                           reg=0.3, verbose=False)
    val_acc = (best_net.predict(X_val) == y_val).mean()
    print("Final training loss: ", stats["loss_history"][-1])
    print("Validation accuracy: ", val_acc)
    print("Test accuracy: ", (best_net.predict(X_test) == y_test).mean())
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak resident memory (getrusage maxrss): {peak_mb:.0f} MB; "
          f"{time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
