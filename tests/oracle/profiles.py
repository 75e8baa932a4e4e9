"""Hypothesis settings of the oracle: ``fast`` (default, part of the normal test run) and
``thorough`` (``pytest tests/oracle --oracle-thorough`` or ``REFLOW_ORACLE_PROFILE=thorough``)."""

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

settings.register_profile("oracle-fast", max_examples=100, derandomize=True, **_COMMON)
settings.register_profile("oracle-thorough", max_examples=2500, **_COMMON)

_selected = {"name": os.environ.get("REFLOW_ORACLE_PROFILE", "fast")}


def select(name: str) -> None:
    """Use profile ``name`` (``fast`` or ``thorough``) for tests collected from now on."""
    if name not in ("fast", "thorough"):
        raise ValueError(f"unknown oracle profile {name!r}: use 'fast' or 'thorough'")
    _selected["name"] = name


def current() -> str:
    return _selected["name"]


def oracle_settings(scale: float = 1.0) -> settings:
    """The selected profile, with ``max_examples`` scaled by ``scale``."""
    profile = settings.get_profile(f"oracle-{current()}")
    return settings(profile, max_examples=max(1, int(profile.max_examples * scale)))
