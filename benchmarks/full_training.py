"""A full CIFAR-10 training of the workbook's best net: wall time and peak memory.

Run from the repository root (``python -m benchmarks.iteration --full`` runs it too)::

    MINIGRAD_CIFAR10=/path/to/cifar-10-batches-py python -m benchmarks.full_training

It loads the data at float32 (``minigrad.data.load_cifar10_split``), trains
``minigrad.experiment.config.BEST`` (H=50, 12000 iterations, batch 200, lr 4e-4 decayed 0.95
per epoch, reg 0.3, SGD) with ``minigrad.experiment.job.run_training`` and prints the training
time, milliseconds per iteration, the accuracies and this process's peak resident memory:
``VmHWM`` from ``/proc/self/status`` (Linux) and ``resource.getrusage``'s ``ru_maxrss``. They
agree when the script runs on its own; when a large process spawns it (``benchmarks.iteration
--full``), Linux carries the parent's peak into the child's ``ru_maxrss`` at ``exec``, while
``VmHWM`` is the child's own.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", help="CIFAR-10 batches (default: $MINIGRAD_CIFAR10)")
    parser.add_argument("--num-iters", type=int, default=12000)
    parser.add_argument("--dtype", default="float32", choices=("float32", "float64"))
    args = parser.parse_args(argv)

    from minigrad.data import load_cifar10_split

    start = time.perf_counter()
    try:
        split = load_cifar10_split(root=args.data_dir, dtype=args.dtype, download=False)
    except FileNotFoundError as err:  # not found, or files missing
        print(f"  skipped: {err}")
        return 0
    load_seconds = time.perf_counter() - start

    from minigrad.experiment.config import BEST
    from minigrad.experiment.job import run_training

    config = BEST.replace(num_iters=args.num_iters, dtype=args.dtype)
    result = run_training(config, split)
    seconds, iterations = result.seconds, result.iterations
    val_acc, test_acc = result.val_acc, result.test_acc
    print(f"  data: {split.X_train.shape[0]} training rows, {args.dtype}, loaded in "
          f"{load_seconds:.1f} s")
    print(f"  training: {iterations} iterations in {seconds:.1f} s = "
          f"{seconds / iterations * 1e3:.3f} ms per iteration (whole loop: sampling, epochs, "
          "validation accuracy)")
    print(f"  validation accuracy {val_acc:.3f}, test accuracy {test_acc:.3f}")
    maxrss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    hwm_mb = _vm_hwm_mb()
    hwm = f"{hwm_mb:.0f} MB (VmHWM), " if hwm_mb is not None else ""
    print(f"  peak resident memory: {hwm}{maxrss_mb:.0f} MB (getrusage maxrss)")
    return 0


def _vm_hwm_mb() -> float | None:
    """This process's peak resident set (``VmHWM``), or None off Linux."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


if __name__ == "__main__":
    sys.exit(main())
