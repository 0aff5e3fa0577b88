"""The benchmark's image-pipeline contenders run, print their rows and checks 7-9."""

from __future__ import annotations

import io
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # benchmarks/ lives in the repository, it is not installed
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from benchmarks import iteration as benchmark  # noqa: E402
from minigrad.data.normalize import Normalization  # noqa: E402

ROW = r"\s+\d+\.\d{3}\s+\d+\.\d{3}\s+\d+\.\d{3}"  # median, min, max
CHECK = r"\s+\d+\.\d{3}\s+\d+\.\d{3}\s+\d+\.\d{3}\s+<=? [\d.]+\s+(PASS|FAIL)"


def test_quick_run_times_the_image_pipeline_with_and_without_augmentation() -> None:
    out = io.StringIO()
    report = benchmark.measure(benchmark.QUICK, with_torch=False, out=out)
    text = out.getvalue()
    for name in (benchmark.PIPELINE32, benchmark.AUGMENTED32):
        assert re.search(re.escape(name) + ROW, text), name
    for label in ("8. pipeline float32 / floor float32",
                  "9. + flip + translate 2 / pipeline float32"):
        assert re.search(re.escape(label) + CHECK, text), label
    assert re.search(r"7\. pipeline float32 / PyTorch float32\s+skipped", text)
    assert [c.label[:2] for c in report.pipeline] == ["8.", "9."]
    assert [c.limit for c in report.pipeline] == [1.30, 1.10]
    assert [c.label[:2] for c in report.step] == ["1.", "2.", "4.", "5.", "6."]
    assert all(c.ratio > 0 for c in report.pipeline)


def test_the_pipeline_contenders_train_from_uint8_images() -> None:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (400, *benchmark.IMAGE_SHAPE), dtype=np.uint8)
    labels = rng.integers(0, benchmark.CLASSES, 400)
    norm = Normalization.per_channel(images)
    for augment in (False, True):
        stamps = benchmark.pipeline_runner(images, labels, norm, augment=augment)(3)
        assert len(stamps) == 3 and stamps == sorted(stamps)
