"""One training iteration of the workbook's net, timed against its baselines and its floor.

Run from the repository root::

    python -m benchmarks.iteration            # the acceptance run (about a minute)
    python -m benchmarks.iteration --quick    # smoke run on small data (seconds)
    python -m benchmarks.iteration --full     # also a full CIFAR-10 training (needs the data)

The net is 3072 -> 50 -> 10, batch 200, SGD with the workbook's per-epoch decay and L2
``reg=0.3`` (the workbook's best configuration), on random data shaped like CIFAR-10's
training split (49000 x 3072, generated once). In one run, interleaved block by block in a
random order so every contender sees the same machine, it times:

* minigrad at float32 and float64: the real ``Trainer.fit`` path (sampler, minibatch
  gather, forward, loss, backward, L2 into the gradients, finite check,
  ``optimizer.step(params, grads)`` with plain SGD, loss history, epochs);
* minigrad at float32 fed from the uint8 image pipeline
  (:class:`~minigrad.data.image_batches.ImageBatches` over random uint8 images shaped like
  the training split, (49000, 32, 32, 3): shuffled epochs, uint8 gather, per-channel
  normalisation into a reused float32 buffer), without augmentation and with flip +
  translation by up to 2 pixels (zero padding): ``Trainer(model, opt, reg=0.3,
  batches=source).fit(num_iters=...)``;
* the workbook's iteration in plain NumPy (``benchmarks/plain_numpy.py``), float64 like
  the workbook, and the same code on float32 data for reference;
* PyTorch on the CPU at float32 and float64 when it is installed, with as many threads as
  NumPy's BLAS (``benchmarks/torch_baseline.py``);
* the fastest iteration we could write in NumPy, with no framework and no checks
  (``benchmarks/minimal_numpy.py``): how far any NumPy implementation is from the floor,
  and the yardstick for what minigrad's readable code costs; and the same iteration fed by
  the pipeline's bare data path (shuffled uint8 batches, the same conversion), the lower
  bound for check 8;
* the floor (``benchmarks/floor.py``): the five matrix products at their shapes plus the
  200-row gather at the measured memory bandwidth.

It prints median, min and max milliseconds per iteration over the blocks, then the
acceptance ratios with their thresholds and PASS/FAIL (on the ratio of medians): checks 1-4
against the floor, the workbook and PyTorch, and checks 5-6, what minigrad's readable code
may cost against the hand-fused minimal iteration (issue 9: at most 1.15 x at float32 and
1.10 x at float64), and checks 7-9, what the image pipeline may cost (issue 12: without
augmentation at most 0.85 x PyTorch and 1.30 x the floor; flip and translation at most
1.10 x the pipeline without them). The exit status is 1 when a check fails (0 with
``--quick``, whose small data proves nothing).
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TextIO

import numpy as np

if __package__ in (None, ""):  # run as a script: python benchmarks/iteration.py
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.floor import FloorRunners, flop_per_iteration  # noqa: E402
from benchmarks.harness import (  # noqa: E402
    Runner,
    Stats,
    Timed,
    Timing,
    machine_header,
    stamped,
    time_interleaved,
)
from benchmarks.minimal_numpy import MinimalImageFeed, MinimalNet  # noqa: E402
from benchmarks.plain_numpy import WorkbookNet  # noqa: E402
from benchmarks.torch_baseline import make_torch_step, torch_version  # noqa: E402
from minigrad import Callback, Trainer  # noqa: E402
from minigrad.data.image_batches import ImageBatches  # noqa: E402
from minigrad.data.normalize import Normalization, RowConverter  # noqa: E402
from minigrad.models import two_layer_net  # noqa: E402
from minigrad.optim import SGD, ExponentialDecay  # noqa: E402
from minigrad.training.callbacks import TrainingRun  # noqa: E402

HIDDEN, CLASSES, BATCH = 50, 10, 200
LEARNING_RATE, DECAY, REG = 4e-4, 0.95, 0.3  # the workbook's best configuration

MINIGRAD32, MINIGRAD64 = "minigrad float32", "minigrad float64"
PLAIN64, PLAIN32 = "plain NumPy float64 (workbook)", "plain NumPy float32 (same code)"
TORCH32, TORCH64 = "PyTorch CPU float32", "PyTorch CPU float64"
MINIMAL32, MINIMAL64 = "minimal NumPy float32 (no checks)", "minimal NumPy float64 (no checks)"
PIPELINE32 = "minigrad float32, uint8 image pipeline"
AUGMENTED32 = "  + flip + translate 2 (zero padding)"
MINIMAL_IMAGES32 = "minimal NumPy float32, uint8 images"
IMAGE_SHAPE = (32, 32, 3)  # CIFAR-10's; the pipeline's rows are 3072 wide
TRANSLATE = 2

CLEAN_LIMIT = 0.05  # a block is clean when other processes took at most 5% of the CPUs' time


@dataclass(frozen=True)
class Settings:
    rows: int
    blocks: int
    iters: int
    warmup: int
    copy_mb: float
    pause: float  # seconds idle before each block (see benchmarks.harness)
    inputs: int = 3072


FULL_SIZE = Settings(rows=49000, blocks=21, iters=20, warmup=30, copy_mb=48.0, pause=0.12)
QUICK = Settings(rows=2000, blocks=3, iters=5, warmup=3, copy_mb=8.0, pause=0.0)


# --------------------------------------------------------------------------- contenders


class _Stamps(Callback):
    """Records the time at the end of every iteration."""

    def __init__(self) -> None:
        self.stamps: list[float] = []

    def on_iteration_end(self, trainer: TrainingRun, iteration: int, loss: float) -> None:
        self.stamps.append(time.perf_counter())


def minigrad_runner(X: np.ndarray, y: np.ndarray, seed: int = 0) -> Runner:
    """``Trainer.fit`` for ``n`` iterations, stamped by a callback after each one.

    Each block is one ``fit`` call; its set-up (checking the data for NaN, one pass over
    X) comes before the first timed iteration and so is not counted as iteration time.
    """
    model = two_layer_net(X.shape[1], HIDDEN, CLASSES, dtype=X.dtype)
    stamps = _Stamps()
    trainer = Trainer(
        model,
        SGD(learning_rate=ExponentialDecay(LEARNING_RATE, DECAY)),
        reg=REG,
        batch_size=BATCH,
        sampling="replacement",
        rng=np.random.default_rng(seed),
        callbacks=[stamps],
    )

    def run(n: int) -> list[float]:
        stamps.stamps = []
        trainer.fit(X, y, num_iters=n)
        return stamps.stamps

    return run


def pipeline_runner(images: np.ndarray, labels: np.ndarray, normalization: Normalization, *,
                    augment: bool, seed: int = 0) -> Runner:
    """``Trainer.fit`` on an :class:`ImageBatches` source (uint8 images -> float32 rows).

    Shuffled epochs, per-channel normalisation, and with ``augment`` a random flip and a
    shift by up to ``TRANSLATE`` pixels (zero padding) per image, all drawn from the
    source's generator.
    """
    source = ImageBatches(images, labels, batch_size=BATCH, sampling="shuffle",
                          rng=np.random.default_rng(seed), dtype=np.float32,
                          normalization=normalization, flip=augment,
                          translate=TRANSLATE if augment else 0, padding="zero")
    model = two_layer_net(source.num_features, HIDDEN, CLASSES, dtype=np.float32)
    stamps = _Stamps()
    trainer = Trainer(model, SGD(learning_rate=ExponentialDecay(LEARNING_RATE, DECAY)),
                      reg=REG, batches=source, callbacks=[stamps])

    def run(n: int) -> list[float]:
        stamps.stamps = []
        trainer.fit(num_iters=n)
        return stamps.stamps

    return run


def plain_numpy_runner(X: np.ndarray, y: np.ndarray) -> Runner:
    np.random.seed(0)  # noqa: NPY002 (the workbook seeds the global generator)
    net = WorkbookNet(X.shape[1], HIDDEN, CLASSES)
    net.params = {name: value.astype(X.dtype) for name, value in net.params.items()}
    return stamped(lambda: net.train_step(X, y, LEARNING_RATE, REG, BATCH))


def minimal_numpy_runner(X: np.ndarray, y: np.ndarray) -> Runner:
    net = MinimalNet(X, y, HIDDEN, CLASSES, learning_rate=LEARNING_RATE, reg=REG,
                     batch_size=BATCH)
    return stamped(net.step)


def minimal_images_runner(X: np.ndarray, images: np.ndarray, labels: np.ndarray,
                          normalization: Normalization) -> Runner:
    """The minimal iteration fed by the pipeline's bare data path (shuffled uint8 batches,
    per-channel normalisation into float32): the lower bound for check 8. ``X`` (float32
    rows) only sets the net's shape and dtype."""
    converter = RowConverter(normalization, np.float32, BATCH, IMAGE_SHAPE)
    feed = MinimalImageFeed(images, labels, converter, BATCH)
    net = MinimalNet(X, labels, HIDDEN, CLASSES, learning_rate=LEARNING_RATE, reg=REG,
                     batch_size=BATCH)
    return stamped(lambda: net.step_on(*feed.batch()))


def blas_threads() -> int:
    """Threads of NumPy's BLAS (threadpoolctl), else the CPU count."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return os.cpu_count() or 1
    for pool in threadpool_info():
        if pool.get("user_api") == "blas" and "numpy" in pool.get("filepath", ""):
            return int(pool["num_threads"])
    return os.cpu_count() or 1


# --------------------------------------------------------------------------- checks


@dataclass(frozen=True)
class Check:
    """``ours / theirs``; PASS when the ratio of medians meets the limit."""

    label: str
    ours: Stats
    theirs: Stats
    limit: float
    strict: bool = False

    @property
    def ratio(self) -> float:
        return self.ours.median / self.theirs.median

    @property
    def ratio_of_mins(self) -> float:
        return self.ours.min / self.theirs.min

    @property
    def median_block_ratio(self) -> float:
        """Median over blocks of the ratio within one block (timed seconds apart)."""
        pairs = zip(self.ours.blocks, self.theirs.blocks, strict=True)
        return statistics.median(a / b for a, b in pairs)

    @property
    def passed(self) -> bool:
        return self.ratio < self.limit if self.strict else self.ratio <= self.limit

    def line(self) -> str:
        ratios = f"{self.ratio:6.3f} {self.ratio_of_mins:6.3f} {self.median_block_ratio:6.3f}"
        if math.isinf(self.limit):
            return f"  {self.label:<44} {ratios}   (for reference)"
        verdict = "PASS" if self.passed else "FAIL"
        sign = "<" if self.strict else "<="
        return f"  {self.label:<44} {ratios}   {sign} {self.limit:<5} {verdict}"


def _sum_blocks(*parts: Sequence[float]) -> Stats:
    return Stats(tuple(sum(values) for values in zip(*parts, strict=True)))


# --------------------------------------------------------------------------- the run


@dataclass(frozen=True)
class Report:
    """The acceptance checks of one run.

    Attributes
    ----------
    step : checks 1-6, the iteration on float arrays (issue 9).
    pipeline : checks 7-9, the iteration fed from uint8 images (issue 12; 7 needs PyTorch).
    """

    step: list[Check]
    pipeline: list[Check]

    @property
    def passed(self) -> bool:
        return all(check.passed for check in (*self.step, *self.pipeline))


def run(settings: Settings, *, with_torch: bool = True, out: TextIO = sys.stdout) -> list[Check]:
    """Time everything, print the table and the checks; return checks 1-6 (see :func:`measure`)."""
    return measure(settings, with_torch=with_torch, out=out).step


def measure(settings: Settings, *, with_torch: bool = True, out: TextIO = sys.stdout) -> Report:
    """Time everything, print the table and the checks; return all the checks."""

    def say(text: str = "") -> None:
        print(text, file=out, flush=True)

    threads = blas_threads()
    torch_info = torch_version() if with_torch else None
    torch_note = torch_info or ("PyTorch: not importable" if with_torch else "PyTorch: --no-torch")
    say("minigrad iteration benchmark: 3072 -> 50 -> 10 net, batch 200, SGD + L2 (reg 0.3)")
    say(machine_header([torch_note]))
    say(f"data: random {settings.rows} x {settings.inputs} (the CIFAR-10 training split's "
        f"shape); {settings.blocks} blocks x {settings.iters} iterations after "
        f"{settings.warmup} warm-up, interleaved in random order")

    rng = np.random.default_rng(0)
    X32 = rng.standard_normal((settings.rows, settings.inputs), dtype=np.float32)
    X32 *= 50.0  # about the spread of mean-subtracted CIFAR-10 pixels
    X64 = X32.astype(np.float64)
    y = rng.integers(0, CLASSES, settings.rows)
    if settings.inputs != math.prod(IMAGE_SHAPE):
        raise ValueError(f"the image pipeline needs {math.prod(IMAGE_SHAPE)} inputs")
    images = rng.integers(0, 256, (settings.rows, *IMAGE_SHAPE), dtype=np.uint8)
    normalization = Normalization.per_channel(images)

    contenders = [
        Timed(MINIGRAD32, minigrad_runner(X32, y)),
        Timed(MINIGRAD64, minigrad_runner(X64, y)),
        Timed(PLAIN64, plain_numpy_runner(X64, y)),
        Timed(PLAIN32, plain_numpy_runner(X32, y)),
        Timed(MINIMAL32, minimal_numpy_runner(X32, y)),
        Timed(MINIMAL64, minimal_numpy_runner(X64, y)),
        Timed(PIPELINE32, pipeline_runner(images, y, normalization, augment=False)),
        Timed(AUGMENTED32, pipeline_runner(images, y, normalization, augment=True)),
        Timed(MINIMAL_IMAGES32, minimal_images_runner(X32, images, y, normalization)),
    ]
    for name, X in ((TORCH32, X32), (TORCH64, X64)):
        step: Callable[[], float] | None = None
        if with_torch:
            step = make_torch_step(X, y, HIDDEN, CLASSES, learning_rate=LEARNING_RATE, reg=REG,
                                   batch_size=BATCH, threads=threads)
        if step is not None:
            contenders.append(Timed(name, stamped(step)))
    floors = {
        tag: FloorRunners(np.dtype(tag), inputs=settings.inputs, copy_mb=settings.copy_mb)
        for tag in ("float32", "float64")
    }
    for tag, floor in floors.items():
        contenders += [
            Timed(f"{tag} X @ W1.T", floor.forward),
            Timed(f"{tag} dh.T @ X", floor.weight_gradient),
            Timed(f"{tag} X @ W1.T, W1 (D, H)", floor.forward_transposed),
            Timed(f"{tag} dh.T @ X, W1 (D, H)", floor.weight_gradient_transposed),
            Timed(f"{tag} small products", floor.small),
            Timed(f"{tag} copy", floor.copy),
        ]

    start = time.perf_counter()
    timing = time_interleaved(contenders, blocks=settings.blocks, iters=settings.iters,
                              warmup=settings.warmup, pause=settings.pause)
    elapsed = time.perf_counter() - start
    stats, blocks_note = _clean_stats(timing)

    flop = flop_per_iteration(BATCH, settings.inputs, HIDDEN, CLASSES)
    half_flop = 2 * BATCH * settings.inputs * HIDDEN
    say()
    say(blocks_note)
    say(f"  {'ms per iteration':<40} {'median':>8} {'min':>8} {'max':>8}")
    timed = [MINIGRAD32, MINIGRAD64, PLAIN64, PLAIN32, MINIMAL32, MINIMAL64, PIPELINE32,
             AUGMENTED32, MINIMAL_IMAGES32, TORCH32, TORCH64]
    for name in timed:
        if name in stats:
            say(_row(name, stats[name]))
        else:
            say(f"  {name:<40} skipped ({torch_note.split(': ', 1)[-1]})")
    floor_stats = {}
    for tag, floor in floors.items():
        gather = Stats(tuple(floor.gather_ms(ms) for ms in stats[f"{tag} copy"].blocks))
        # Each big product counts at the faster of W1's two layouts, so the floor stays a
        # floor whichever layout minigrad stores (float32 W is column-major, see Affine).
        parts = [_faster(stats, f"{tag} {name}") for name in ("X @ W1.T", "dh.T @ X")]
        parts += [stats[f"{tag} small products"], gather]
        floor_stats[tag] = _sum_blocks(*(part.blocks for part in parts))
        say(_row(f"floor {tag} (sum of the 4 parts below)", floor_stats[tag]))
        for name, part in zip(("X @ W1.T", "dh.T @ X"), parts, strict=False):
            say(_row(f"  {name}", part, _gflops(part.median, half_flop)))
        say(_row("  3 small products", parts[2]))
        copy_ms = stats[f"{tag} copy"].median
        say(_row(f"  gather {floor.gather_bytes / 1e6:.2f} MB at copy rate", gather,
                 f"{floor.bandwidth_gb_s(copy_ms):5.1f} GB/s read+write"))
        for name in ("X @ W1.T", "dh.T @ X"):
            for label, key in (("(H, D)", f"{tag} {name}"), ("(D, H)", f"{tag} {name}, W1 (D, H)")):
                part = stats[key]
                say(_row(f"  (ref.) {name}, W1 stored {label}", part,
                         _gflops(part.median, half_flop)))
    say(f"  {flop / 1e6:.1f} MFLOP of products per iteration; {elapsed:.0f} s of timing")

    checks = [
        Check("1. minigrad float32 / floor float32", stats[MINIGRAD32], floor_stats["float32"],
              1.15),
        Check("2. minigrad float32 / plain NumPy float64", stats[MINIGRAD32], stats[PLAIN64],
              0.45),
    ]
    if TORCH32 in stats:
        checks.append(Check("3. minigrad float32 / PyTorch float32", stats[MINIGRAD32],
                            stats[TORCH32], 0.8, strict=True))
    checks.append(Check("4. minigrad float64 / plain NumPy float64", stats[MINIGRAD64],
                        stats[PLAIN64], 0.9))
    # What the readable trainer and update rules may cost against the hand-fused iteration.
    checks += [
        Check("5. minigrad float32 / minimal NumPy float32", stats[MINIGRAD32], stats[MINIMAL32],
              1.15),
        Check("6. minigrad float64 / minimal NumPy float64", stats[MINIGRAD64], stats[MINIMAL64],
              1.10),
    ]
    # What feeding the step from uint8 images (gather, augment, normalise) may cost.
    pipeline = []
    if TORCH32 in stats:
        pipeline.append(Check("7. pipeline float32 / PyTorch float32", stats[PIPELINE32],
                              stats[TORCH32], 0.85))
    pipeline += [
        Check("8. pipeline float32 / floor float32", stats[PIPELINE32], floor_stats["float32"],
              1.30),
        Check("9. + flip + translate 2 / pipeline float32", stats[AUGMENTED32],
              stats[PIPELINE32], 1.10),
    ]
    references = [
        Check("   pipeline / minigrad float32 on arrays", stats[PIPELINE32],
              stats[MINIGRAD32], math.inf),
        Check("   minigrad float64 / floor float64", stats[MINIGRAD64], floor_stats["float64"],
              math.inf),
        Check("   minimal NumPy float32 / floor float32", stats[MINIMAL32],
              floor_stats["float32"], math.inf),
        # Check 8's lower bound: no framework, no checks, the same uint8 data path.
        Check("   minimal on uint8 images / floor float32", stats[MINIMAL_IMAGES32],
              floor_stats["float32"], math.inf),
        Check("   pipeline / minimal on uint8 images", stats[PIPELINE32],
              stats[MINIMAL_IMAGES32], math.inf),
        Check("   plain NumPy float32 / floor float32", stats[PLAIN32], floor_stats["float32"],
              math.inf),
    ]
    if TORCH32 in stats:
        references.append(Check("   PyTorch float32 / floor float32", stats[TORCH32],
                                floor_stats["float32"], math.inf))
    say()
    say("acceptance: PASS/FAIL on the ratio of medians; the ratio of mins and the median of")
    say("the per-block ratios are cross-checks")
    say(f"  {'':<44} {'median':>6} {'mins':>6} {'blocks':>6}   target")
    skipped = f"skipped ({torch_note.split(': ', 1)[-1]})"
    for check in checks:
        say(check.line())
    if TORCH32 not in stats:
        say(f"  {'3. minigrad float32 / PyTorch float32':<44} {skipped}")
    if TORCH32 not in stats:
        say(f"  {'7. pipeline float32 / PyTorch float32':<44} {skipped}")
    for check in pipeline:
        say(check.line())
    for check in references:
        say(check.line())
    return Report(checks, pipeline)


def _clean_stats(timing: Timing) -> tuple[dict[str, Stats], str]:
    """The stats over the blocks with the machine to ourselves, and a line saying so."""
    blocks = len(next(iter(timing.stats.values())).blocks)
    if not timing.foreign:
        return timing.stats, f"other processes' CPU use unknown (no /proc): all {blocks} blocks"
    percent = sorted(100 * share for share in timing.foreign)
    clean = sum(share <= CLEAN_LIMIT for share in timing.foreign)
    line = (f"other processes took {percent[0]:.0f}% / {statistics.median(percent):.0f}% / "
            f"{percent[-1]:.0f}% (min / median / max) of the CPUs' time per block;\n")
    if clean >= max(3, blocks // 3):
        return timing.clean(CLEAN_LIMIT), line + (
            f"statistics over the {clean} of {blocks} blocks where they took at most "
            f"{100 * CLEAN_LIMIT:.0f}%")
    return timing.stats, line + (
        f"only {clean} of {blocks} blocks below {100 * CLEAN_LIMIT:.0f}%: statistics over all "
        "blocks, THE MACHINE WAS BUSY and the ratios are not reliable")


def _faster(stats: dict[str, Stats], product: str) -> Stats:
    """Per block, the faster of ``product`` with W1 stored (H, D) and stored (D, H)."""
    row_major, transposed = stats[product].blocks, stats[f"{product}, W1 (D, H)"].blocks
    return Stats(tuple(map(min, row_major, transposed)))


def _row(name: str, stats: Stats, note: str = "") -> str:
    return f"  {name:<40} {stats.median:8.3f} {stats.min:8.3f} {stats.max:8.3f}  {note}"


def _gflops(ms: float, flop: int) -> str:
    return f"{flop / (ms * 1e-3) / 1e9:6.1f} GFLOP/s"


def run_full_training(out: TextIO = sys.stdout) -> int:
    """The workbook's best configuration on CIFAR-10, in a child process (its own maxrss)."""
    print("\nfull CIFAR-10 training (python -m benchmarks.full_training, a fresh process):",
          file=out, flush=True)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return subprocess.call([sys.executable, "-m", "benchmarks.full_training"], cwd=root)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small data, few blocks (smoke run)")
    parser.add_argument("--full", action="store_true",
                        help="also train the best configuration on CIFAR-10 ($MINIGRAD_CIFAR10)")
    parser.add_argument("--blocks", type=int, help="timed blocks per contender")
    parser.add_argument("--iters", type=int, help="timed iterations per block")
    parser.add_argument("--no-torch", action="store_true", help="skip PyTorch even if installed")
    args = parser.parse_args(argv)
    settings = QUICK if args.quick else FULL_SIZE
    settings = replace(settings, blocks=args.blocks or settings.blocks,
                       iters=args.iters or settings.iters)
    report = measure(settings, with_torch=not args.no_torch)
    status = run_full_training() if args.full else 0
    if args.quick:
        return status
    return status or int(not report.passed)


if __name__ == "__main__":
    sys.exit(main())
