"""Hypothesis settings of the reader fuzzers: ``fast`` (default, part of the normal test run,
derandomized) and ``thorough`` (``REFLOW_FUZZ_PROFILE=thorough``, random and much longer)."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

_COMMON = dict(
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                           HealthCheck.filter_too_much],
    print_blob=True,
    database=None,
)
settings.register_profile("fuzz-fast", max_examples=150, derandomize=True, **_COMMON)
settings.register_profile("fuzz-thorough", max_examples=3000, **_COMMON)


def fuzz_settings(scale: float = 1.0) -> settings:
    """The selected profile, with ``max_examples`` scaled by ``scale``."""
    name = os.environ.get("REFLOW_FUZZ_PROFILE", "fast")
    if name not in ("fast", "thorough"):
        raise ValueError(f"unknown fuzz profile {name!r}: use 'fast' or 'thorough'")
    profile = settings.get_profile(f"fuzz-{name}")
    return settings(profile, max_examples=max(1, int(profile.max_examples * scale)))
