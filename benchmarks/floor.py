"""The floor: what one iteration cannot go below on this machine.

An iteration of the 3072 -> 50 -> 10 net on a batch of 200 must do five matrix products
and gather 200 rows of the training matrix:

================  ==================================  =========================
product           shapes                              MFLOP
================  ==================================  =========================
``X @ W1.T``      (200, 3072) x (3072, 50)            61.44
``dh.T @ X``      (50, 200) x (200, 3072)             61.44  (the W1 gradient)
``h @ W2.T``      (200, 50) x (50, 10)                0.2
``ds.T @ h``      (10, 200) x (200, 50)               0.2    (the W2 gradient)
``ds @ W2``       (200, 10) x (10, 50)                0.2    (dh)
================  ==================================  =========================

The floor is the time of these products, each timed on its own at its shape and dtype
(operands hot in cache, outputs preallocated: the machine's best rate for them), plus
the gather at the memory bandwidth of a large ``np.copyto``: gathering B rows moves as
many bytes as copying them, so it takes at least ``B * D * itemsize`` bytes at the copy's
rate. Everything else an iteration does (biases, ReLU, softmax, L2, the update, Python) is
overhead above the floor.

The two big products are timed with ``W1`` stored both ways: (H, D) row-major, as the
workbook stores it, and (D, H) row-major (what a column-major ``W1`` of shape (H, D) is in
memory, minigrad's float32 layout). The floor takes the faster of the two in each block, so
it does not flatter whichever layout minigrad happens to use.
"""

from __future__ import annotations

import numpy as np

from benchmarks.harness import Runner, stamped

__all__ = ["FloorRunners", "flop_per_iteration"]


def flop_per_iteration(batch: int, inputs: int, hidden: int, classes: int) -> int:
    """Floating-point operations of the five products (2 per multiply-add)."""
    big = 2 * 2 * batch * inputs * hidden
    small = 3 * 2 * batch * hidden * classes
    return big + small


class FloorRunners:
    """Runners for the floor's parts, and the arithmetic that turns them into the floor.

    Parameters
    ----------
    dtype : float32 or float64.
    batch, inputs, hidden, classes : B, D, H, C.
    copy_mb : size of the array copied to measure the memory bandwidth (source and
        destination together should exceed the last-level cache).

    Attributes
    ----------
    forward, weight_gradient : the two big products, ``W1`` (H, D) row-major.
    forward_transposed, weight_gradient_transposed : the same with ``W1`` stored (D, H).
    small : the three small products.
    copy : one copy of ``copy_mb`` megabytes.
    """

    def __init__(
        self,
        dtype: np.dtype,
        batch: int = 200,
        inputs: int = 3072,
        hidden: int = 50,
        classes: int = 10,
        copy_mb: float = 48.0,
    ) -> None:
        self.dtype = np.dtype(dtype)
        rng = np.random.default_rng(0)

        def normal(*shape: int) -> np.ndarray:
            return rng.standard_normal(shape).astype(self.dtype)

        def empty(*shape: int) -> np.ndarray:
            return np.empty(shape, self.dtype)

        X, W1, W2 = normal(batch, inputs), normal(hidden, inputs), normal(classes, hidden)
        W1_t = np.ascontiguousarray(W1.T)
        h, dh, ds = normal(batch, hidden), normal(batch, hidden), normal(batch, classes)
        out_h, out_dW1 = empty(batch, hidden), empty(hidden, inputs)
        out_dW1_t = empty(inputs, hidden)
        out_s, out_dW2, out_dh = empty(batch, classes), empty(classes, hidden), empty(batch, hidden)
        source = rng.standard_normal(int(copy_mb * 2**20) // self.dtype.itemsize).astype(self.dtype)
        target = np.empty_like(source)
        self.gather_bytes = batch * inputs * self.dtype.itemsize
        self.copy_bytes = source.nbytes

        def small_products() -> None:
            np.matmul(h, W2.T, out=out_s)
            np.matmul(ds.T, h, out=out_dW2)
            np.matmul(ds, W2, out=out_dh)

        self.forward: Runner = stamped(lambda: np.matmul(X, W1.T, out=out_h))
        self.weight_gradient: Runner = stamped(lambda: np.matmul(dh.T, X, out=out_dW1))
        self.forward_transposed: Runner = stamped(lambda: np.matmul(X, W1_t, out=out_h))
        self.weight_gradient_transposed: Runner = stamped(
            lambda: np.matmul(X.T, dh, out=out_dW1_t)
        )
        self.small: Runner = stamped(small_products)
        self.copy: Runner = stamped(lambda: np.copyto(target, source))

    def gather_ms(self, copy_ms: float) -> float:
        """The gather's floor from the time of one large copy: the same bytes per byte."""
        return copy_ms * self.gather_bytes / self.copy_bytes

    def bandwidth_gb_s(self, copy_ms: float) -> float:
        """Bytes read plus bytes written per second by the large copy, in GB/s."""
        return 2 * self.copy_bytes / (copy_ms * 1e-3) / 1e9
