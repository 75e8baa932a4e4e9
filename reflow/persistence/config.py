"""``pw.persistence.Config`` and its modes, with Pathway's names and defaults."""

from __future__ import annotations

import enum
import warnings
from dataclasses import dataclass

from reflow.runtime.persistence.backend import Backend


class PersistenceMode(enum.Enum):
    """What a persistent run keeps: ``PERSISTING`` (and its aliases) keeps source offsets,
    operator state and sink positions; ``UDF_CACHING`` keeps only the results of cached UDFs.

    >>> PersistenceMode.UDF_CACHING.name
    'UDF_CACHING'
    """

    BATCH = "batch"
    PERSISTING = "persisting"
    OPERATOR_PERSISTING = "operator_persisting"
    SELECTIVE_PERSISTING = "selective_persisting"
    UDF_CACHING = "udf_caching"
    REALTIME_REPLAY = "realtime_replay"
    SPEEDRUN_REPLAY = "speedrun_replay"


class SnapshotAccess(enum.Enum):
    """Whether a run reads and/or writes checkpoints (Pathway's ``snapshot_access``)."""

    FULL = "full"
    RECORD = "record"
    REPLAY = "replay"
    OFFSETS_ONLY = "offsets_only"


@dataclass
class Config:
    """Where and how often a run checkpoints; pass it to ``pw.run(persistence_config=...)``.

    >>> import reflow as pw
    >>> Config(pw.persistence.Backend.filesystem("/tmp/x")).persistence_mode.name
    'PERSISTING'
    """

    backend: Backend
    snapshot_interval_ms: int = 0
    snapshot_access: SnapshotAccess = SnapshotAccess.FULL
    persistence_mode: PersistenceMode = PersistenceMode.PERSISTING
    continue_after_replay: bool = True
    worker_scaling_enabled: bool = False
    workload_tracking_window_ms: int = 120000

    def __init__(
        self,
        backend: Backend,
        *,
        snapshot_interval_ms: int = 0,
        snapshot_access: SnapshotAccess = SnapshotAccess.FULL,
        persistence_mode: PersistenceMode = PersistenceMode.PERSISTING,
        continue_after_replay: bool = True,
        worker_scaling_enabled: bool = False,
        workload_tracking_window_ms: int = 120000,
    ) -> None:
        if not isinstance(backend, Backend):
            raise TypeError(
                "backend must be a pw.persistence.Backend, e.g. "
                f"pw.persistence.Backend.filesystem(path); got {backend!r}"
            )
        self.backend = backend
        self.snapshot_interval_ms = snapshot_interval_ms
        self.snapshot_access = snapshot_access
        self.persistence_mode = persistence_mode
        self.continue_after_replay = continue_after_replay
        self.worker_scaling_enabled = worker_scaling_enabled
        self.workload_tracking_window_ms = workload_tracking_window_ms

    @classmethod
    def simple_config(
        cls,
        backend: Backend,
        snapshot_interval_ms: int = 0,
        snapshot_access: SnapshotAccess = SnapshotAccess.FULL,
        persistence_mode: PersistenceMode = PersistenceMode.PERSISTING,
        continue_after_replay: bool = True,
    ) -> Config:
        """The older way to build a ``Config`` (deprecated, as in Pathway: it warns).

        >>> import warnings, reflow as pw
        >>> with warnings.catch_warnings():
        ...     warnings.simplefilter("ignore")
        ...     config = Config.simple_config(pw.persistence.Backend.filesystem("/tmp/x"), 500)
        >>> config.snapshot_interval_ms
        500
        """
        warnings.warn(
            "pw.persistence.Config.simple_config is deprecated; use pw.persistence.Config(...)",
            DeprecationWarning,
            stacklevel=2,
        )
        return cls(
            backend,
            snapshot_interval_ms=snapshot_interval_ms,
            snapshot_access=snapshot_access,
            persistence_mode=persistence_mode,
            continue_after_replay=continue_after_replay,
        )

    @property
    def keeps_state(self) -> bool:
        """True when checkpoints of offsets, state and sinks are written."""
        return self.persistence_mode not in (PersistenceMode.UDF_CACHING, PersistenceMode.BATCH)
