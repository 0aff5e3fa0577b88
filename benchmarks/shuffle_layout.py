"""Shuffled epochs: gather each minibatch, or permute the data once per epoch and slice?

Run from the repository root: ``python -m benchmarks.shuffle_layout``.

Both walk one epoch of a (49000, 3072) float32 training matrix in minibatches of 200 rows
in a random order, and do what an iteration does with the rows that touches them: the two
big products ``X @ W1.T`` and ``dh.T @ X``.

* gather: ``np.take(X, order[i:i + 200], axis=0, out=buffer, mode="clip")`` each iteration
  (what ``Trainer.fit`` does, via ``minigrad.data.batching.MinibatchBuffer``);
* permute: ``np.take(X, order, axis=0, out=permuted)`` once per epoch, then each minibatch
  is the view ``permuted[i:i + 200]`` (no copy per iteration).

Both move the same bytes per epoch (every row once); the permuted copy needs a second
array as large as the training set (600 MB at float32) and its slices come from memory,
not from a cache-sized buffer the products have just been fed from.
"""

from __future__ import annotations

import statistics
import time

import numpy as np

ROWS, INPUTS, HIDDEN, BATCH = 49000, 3072, 50, 200


def main(epochs: int = 5) -> None:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((ROWS, INPUTS), dtype=np.float32)
    W1 = rng.standard_normal((HIDDEN, INPUTS), dtype=np.float32)
    dh = rng.standard_normal((BATCH, HIDDEN), dtype=np.float32)
    h = np.empty((BATCH, HIDDEN), np.float32)
    dW1 = np.empty_like(W1)
    buffer = np.empty((BATCH, INPUTS), np.float32)
    permuted = np.empty_like(X)
    order = np.arange(ROWS)
    steps = ROWS // BATCH

    def products(batch: np.ndarray) -> None:
        np.matmul(batch, W1.T, out=h)
        np.matmul(dh.T, batch, out=dW1)

    def gather_epoch() -> None:
        rng.shuffle(order)
        for i in range(steps):
            np.take(X, order[i * BATCH : (i + 1) * BATCH], axis=0, out=buffer, mode="clip")
            products(buffer)

    def permute_epoch() -> None:
        rng.shuffle(order)
        np.take(X, order, axis=0, out=permuted, mode="clip")
        for i in range(steps):
            products(permuted[i * BATCH : (i + 1) * BATCH])

    def products_only() -> None:
        for _ in range(steps):
            products(buffer)

    contenders = {"gather per iteration": gather_epoch, "permute once per epoch": permute_epoch,
                  "products only (no data movement)": products_only}
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for run in contenders.values():
        run()  # warm-up
    for epoch in range(epochs):
        names = list(contenders)
        for name in names[epoch % 3:] + names[: epoch % 3]:
            start = time.perf_counter()
            contenders[name]()
            times[name].append((time.perf_counter() - start) / steps * 1e3)
    print(f"one epoch of {steps} minibatches of {BATCH} rows from {ROWS} x {INPUTS} float32; "
          f"{epochs} epochs each, interleaved")
    print(f"  {'ms per iteration':<34} {'median':>8} {'min':>8}")
    for name, values in times.items():
        print(f"  {name:<34} {statistics.median(values):8.3f} {min(values):8.3f}")


if __name__ == "__main__":
    main()
