"""Test-wide settings: the Hypothesis profile, and the repository root on ``sys.path``.

``benchmarks/`` lives in the repository and is not installed; some tests use its verbatim
workbook code as an oracle, so the root is importable however pytest was started.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from hypothesis import settings

from minigrad.testing import register_profiles

ROOT = str(Path(__file__).resolve().parent.parent)
if ROOT not in sys.path:
    sys.path.append(ROOT)

register_profiles()
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
