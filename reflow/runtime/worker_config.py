"""How many workers run a program, read from the environment: threads or processes
(``PATHWAY_THREADS``, ``PATHWAY_PROCESSES``, the variables Pathway uses) or Ray actors
(``REFLOW_RAY_ACTORS``).

Kept apart from the modules that run several workers (``reflow.runtime.workers``,
``reflow.runtime.ray_workers``) so that ``pw.run()`` can decide without loading them: a
one-worker run never does.

>>> WorkerConfig.from_env({"PATHWAY_THREADS": "2"})
WorkerConfig(threads=2, processes=1, process_id=0, first_port=10000)
>>> WorkerConfig.from_env({}).workers
1
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
class WorkerConfig:
    """How many workers run a program and which of them this process is."""

    threads: int = 1
    processes: int = 1
    process_id: int = 0
    first_port: int = 10000

    @property
    def workers(self) -> int:
        return self.threads * self.processes

    @staticmethod
    def from_env(env: Mapping[str, str] | None = None) -> WorkerConfig:
        """The configuration in ``PATHWAY_THREADS``, ``PATHWAY_PROCESSES``,
        ``PATHWAY_PROCESS_ID`` and ``PATHWAY_FIRST_PORT``."""
        env = os.environ if env is None else env
        values = {}
        for field_name, variable, default, low in (
            ("threads", "PATHWAY_THREADS", 1, 1),
            ("processes", "PATHWAY_PROCESSES", 1, 1),
            ("process_id", "PATHWAY_PROCESS_ID", 0, 0),
            ("first_port", "PATHWAY_FIRST_PORT", 10000, 1),
        ):
            text = env.get(variable, "").strip() or str(default)
            try:
                value = int(text)
            except ValueError:
                raise ValueError(f"{variable} must be an integer, not {text!r}") from None
            if value < low:
                raise ValueError(f"{variable} must be at least {low}, not {value}")
            values[field_name] = value
        config = WorkerConfig(**values)
        if config.process_id >= config.processes:
            raise ValueError(
                f"PATHWAY_PROCESS_ID {config.process_id} is out of range for "
                f"PATHWAY_PROCESSES={config.processes} (0..{config.processes - 1})"
            )
        if config.threads > 1 and config.processes > 1:
            raise ValueError(
                "PATHWAY_THREADS > 1 together with PATHWAY_PROCESSES > 1 is not supported: "
                "use processes only (one worker per process)"
            )
        return config


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
