"""The benchmark's image-pipeline contenders run, print their rows and checks 7-9."""

from __future__ import annotations

import re

import numpy as np
from benchmark_output import CHECK, ROW, benchmark, quick_run

from minigrad.data.normalize import Normalization


def test_quick_run_times_the_image_pipeline_with_and_without_augmentation() -> None:
    report, text = quick_run()
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
