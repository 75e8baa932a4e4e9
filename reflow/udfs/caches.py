"""Caches for user-defined functions: a call with arguments seen before is not repeated.

A cache maps (function name, arguments) to the result. ``InMemoryCache`` lives as long as the
process; ``DiskCache`` is an SQLite file that survives restarts. Only successful results are
cached, so a failed call is tried again next time.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import sqlite3
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

CACHE_DIR_ENV = "REFLOW_UDF_CACHE_DIR"
_MISSING = object()


def cache_key(name: str, args: tuple, kwargs: dict[str, Any]) -> str:
    """A stable key for calling function ``name`` with ``args``/``kwargs``."""
    try:
        payload = pickle.dumps((name, args, sorted(kwargs.items())), protocol=4)
    except (pickle.PicklingError, TypeError, AttributeError):
        payload = repr((name, args, sorted(kwargs.items()))).encode()
    return hashlib.sha256(payload).hexdigest()


class CacheStrategy:
    """Base class of UDF caches: ``get`` a stored result or ``MISSING``; ``put`` a new one."""

    MISSING = _MISSING

    def get(self, key: str) -> Any:
        raise NotImplementedError

    def put(self, key: str, value: Any) -> None:
        raise NotImplementedError

    def for_function(self, name: str) -> CacheStrategy:
        """The cache to use for function ``name`` (caches may keep one store per function)."""
        return self


class InMemoryCache(CacheStrategy):
    """Keeps results in a dict for the life of the process; with ``max_size`` only that many,
    the least recently used going first.

    >>> cache = InMemoryCache(max_size=1)
    >>> cache.put("k", 42)
    >>> cache.get("k"), cache.get("other") is CacheStrategy.MISSING
    (42, True)
    >>> cache.put("j", 7)
    >>> cache.get("k") is CacheStrategy.MISSING
    True
    """

    def __init__(self, max_size: int | None = None) -> None:
        self.max_size = max_size
        self._values: OrderedDict[str, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> Any:
        with self._lock:
            value = self._values.get(key, _MISSING)
            if value is not _MISSING and self.max_size is not None:
                self._values.move_to_end(key)
            return value

    def put(self, key: str, value: Any) -> None:
        with self._lock:
            self._values[key] = value
            if self.max_size is not None:
                self._values.move_to_end(key)
                while len(self._values) > self.max_size:
                    self._values.popitem(last=False)


def default_cache_directory() -> Path:
    """The persistence storage of the running pipeline (``<path>/udf-cache``), else
    ``$REFLOW_UDF_CACHE_DIR``, else ``$XDG_CACHE_HOME/reflow/udfs`` (``~/.cache/...``)."""
    from reflow.runtime.persistence.resume import udf_cache_directory

    persistent = udf_cache_directory()
    if persistent is not None:
        return Path(persistent)
    configured = os.environ.get(CACHE_DIR_ENV)
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "reflow" / "udfs"


class DiskCache(CacheStrategy):
    """Keeps results in an SQLite file, so they survive a restart of the program.

    The file is ``<directory>/<name>.sqlite``. ``directory`` defaults to the environment
    variable ``REFLOW_UDF_CACHE_DIR``, else ``~/.cache/reflow/udfs``; ``name`` defaults to the
    function's module and qualified name. Values are stored pickled.

    >>> import tempfile
    >>> directory = tempfile.mkdtemp()
    >>> DiskCache("demo", directory=directory).put("k", [1, 2])
    >>> DiskCache("demo", directory=directory).get("k")
    [1, 2]
    """

    def __init__(
        self,
        name: str | None = None,
        size_limit: int | None = None,
        *,
        directory: str | os.PathLike[str] | None = None,
    ) -> None:
        self.name = name
        # Accepted for compatibility: the SQLite file is not size-bounded.
        self.size_limit = size_limit
        self.directory = Path(directory) if directory is not None else None
        self._lock = threading.Lock()
        self._connection: sqlite3.Connection | None = None

    def for_function(self, name: str) -> DiskCache:
        if self.name is not None:
            return self
        return DiskCache(name, self.size_limit, directory=self.directory)

    @property
    def path(self) -> Path:
        """The SQLite file of this cache."""
        directory = self.directory if self.directory is not None else default_cache_directory()
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in (self.name or "udf"))
        return directory / f"{safe}.sqlite"

    def _db(self) -> sqlite3.Connection:
        if self._connection is None:
            path = self.path
            path.parent.mkdir(parents=True, exist_ok=True)
            connection = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
            connection.execute(
                "CREATE TABLE IF NOT EXISTS results (key TEXT PRIMARY KEY, value BLOB NOT NULL)"
            )
            self._connection = connection
        return self._connection

    def get(self, key: str) -> Any:
        with self._lock:
            row = self._db().execute("SELECT value FROM results WHERE key = ?", (key,)).fetchone()
        return _MISSING if row is None else pickle.loads(row[0])

    def put(self, key: str, value: Any) -> None:
        blob = pickle.dumps(value, protocol=4)
        with self._lock:
            self._db().execute(
                "INSERT OR REPLACE INTO results (key, value) VALUES (?, ?)", (key, blob)
            )

    def close(self) -> None:
        """Close the file (it is reopened on the next use)."""
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None


class DefaultCache(DiskCache):
    """The cache used when caching is asked for without choosing one: a ``DiskCache``."""
