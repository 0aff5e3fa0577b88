"""Test-wide settings: the Hypothesis profile, the repository root on ``sys.path``, and the
small fake CIFAR-10 folder the command-line tests train on (``fake_data``).

``benchmarks/`` lives in the repository and is not installed; some tests use its verbatim
workbook code as an oracle, so the root is importable however pytest was started.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from hypothesis import settings

from minigrad.testing import register_profiles

ROOT = str(Path(__file__).resolve().parent.parent)
if ROOT not in sys.path:
    sys.path.append(ROOT)

register_profiles()
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(scope="module")
def fake_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Seven fake batch files of 100 images each (500 train, 100 test), one per module."""
    from fake_cifar import write_fake_cifar  # tests/, importable once pytest runs

    return write_fake_cifar(tmp_path_factory.mktemp("cifar"), num_cases_per_batch=100).root
