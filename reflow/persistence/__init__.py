"""Persistence: checkpoints of a running pipeline and restarts from them.

>>> import reflow as pw
>>> config = pw.persistence.Config(pw.persistence.Backend.filesystem("/tmp/reflow-state"),
...                                snapshot_interval_ms=1000)
>>> config.snapshot_interval_ms
1000
"""

from reflow.persistence.config import Config, PersistenceMode, SnapshotAccess
from reflow.runtime.persistence.backend import Backend, FilesystemBackend, PersistenceError

__all__ = [
    "Backend",
    "Config",
    "FilesystemBackend",
    "PersistenceError",
    "PersistenceMode",
    "SnapshotAccess",
]
