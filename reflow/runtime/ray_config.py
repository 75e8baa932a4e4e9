"""How many Ray actors run a program: read by every ``pw.run`` (``reflow.runtime.runner``),
which imports ``reflow.runtime.ray_workers`` only for a run on Ray.

>>> RayConfig.from_env({"REFLOW_RAY_ACTORS": "2"})
RayConfig(actors=2, cpus_per_actor=1.0)
>>> RayConfig.from_env({}) is None
True
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class RayConfig:
    """How many Ray actors run a program (``REFLOW_RAY_ACTORS``) and the CPUs each reserves
    (``REFLOW_RAY_CPUS_PER_ACTOR``, default 1)."""

    actors: int
    cpus_per_actor: float = 1.0

    @staticmethod
    def from_env(env: Mapping[str, str] | None = None) -> RayConfig | None:
        """The configuration in the environment, or ``None`` when ``REFLOW_RAY_ACTORS`` is
        not set."""
        env = os.environ if env is None else env
        text = env.get("REFLOW_RAY_ACTORS", "").strip()
        if not text:
            return None
        try:
            actors = int(text)
            cpus = float(env.get("REFLOW_RAY_CPUS_PER_ACTOR", "").strip() or 1.0)
        except ValueError:
            raise ValueError(
                "REFLOW_RAY_ACTORS must be an integer and REFLOW_RAY_CPUS_PER_ACTOR a number, "
                f"not {text!r} / {env.get('REFLOW_RAY_CPUS_PER_ACTOR')!r}"
            ) from None
        if actors < 1:
            raise ValueError(f"REFLOW_RAY_ACTORS must be at least 1, not {actors}")
        if cpus < 0:
            raise ValueError(f"REFLOW_RAY_CPUS_PER_ACTOR must not be negative, not {cpus}")
        return RayConfig(actors, cpus)
