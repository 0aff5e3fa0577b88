"""Test-wide settings: the Hypothesis profile and the real-data location."""

from __future__ import annotations

import os

from hypothesis import settings

from minigrad.testing import register_profiles

register_profiles()
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
