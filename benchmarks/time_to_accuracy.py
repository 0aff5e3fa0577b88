"""Iterations and seconds to reach a validation accuracy: the workbook's SGD vs tuned runs.

The workbook's SGD configuration (lr 4e-4, decay 0.95, reg 0.3, batch 200, sampling with
replacement) is compared with the best momentum, Nesterov and Adam configurations that
``minigrad tune`` found with the hidden size fixed at 50. Accuracy is measured at every
epoch end, so the iteration counts are epoch-granular.

    MINIGRAD_CIFAR10=/path/to/cifar-10-batches-py python -m benchmarks.time_to_accuracy
"""

from __future__ import annotations

import argparse
import json

from minigrad.data import load_cifar10_split
from minigrad.experiment.config import TrainConfig
from minigrad.experiment.job import run_training
from minigrad.training.callbacks import TimeToAccuracy

# Found by `minigrad tune --seed 2 --trials 10 --optimizers momentum nesterov adam --sampling
# shuffle --epochs 20 40 --batch-sizes 100 200 ...` (commands in docs/tuning.md).
CONFIGS = {
    "workbook SGD": TrainConfig(
        num_iters=24500, learning_rate=4e-4, lr_decay=0.95, reg=0.3, batch_size=200
    ),
    "momentum": TrainConfig(
        num_iters=8330, optimizer="momentum", learning_rate=1.617e-4, lr_decay=0.886,
        reg=0.3708, batch_size=200, sampling="shuffle",
    ),
    "nesterov": TrainConfig(
        num_iters=15680, optimizer="nesterov", learning_rate=2.262e-4, lr_decay=0.892,
        reg=0.2379, batch_size=100, sampling="shuffle",
    ),
    "adam": TrainConfig(
        num_iters=7840, optimizer="adam", learning_rate=7.764e-4, lr_decay=0.924,
        reg=0.1845, batch_size=200, sampling="shuffle",
    ),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", type=float, default=0.50, help="validation accuracy")
    parser.add_argument("--only", nargs="*", choices=sorted(CONFIGS), help="configurations")
    args = parser.parse_args(argv)
    split = load_cifar10_split(dtype="float32")
    for name in args.only or CONFIGS:
        timer = TimeToAccuracy(args.target)
        result = run_training(CONFIGS[name], split, [timer])
        row = {
            "name": name,
            "iterations_to_target": timer.iterations,
            "seconds_to_target": None if timer.seconds is None else round(timer.seconds, 1),
            "best_epoch_val_acc": max(result.history.val_acc),
            "final_val_acc": result.val_acc,
            "final_test_acc": result.test_acc,
            "iterations": result.iterations,
            "seconds": round(result.seconds, 1),
        }
        print(json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
