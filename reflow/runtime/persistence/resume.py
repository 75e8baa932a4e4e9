"""What a restarted run hands to its sinks while the dataflow is built.

File sinks open their file when the dataflow is built; on a restart they must instead cut it
back to the position of the last checkpoint and append from there. ``sink_position(name)``
tells them that position (None on a fresh start).
"""

from __future__ import annotations

import os
from collections.abc import Callable

from reflow.runtime.persistence.backend import PersistenceError

_positions: dict[str, object] | None = None


class SinkPosition:
    """Where a sink's output ends, for checkpoints (``add_sink(position=...)``).

    ``from_start``: the position matters before the first logical time (a Kafka sink's
    offsets: a run killed before its first periodic checkpoint must know where the sink's
    output began), so a run starting without a checkpoint stores one at once.

    >>> position = SinkPosition(lambda: 12, from_start=True)
    >>> position(), position.from_start
    (12, True)
    """

    def __init__(self, get: Callable[[], object], from_start: bool = False) -> None:
        self.get = get
        self.from_start = from_start

    def __call__(self) -> object:
        return self.get()


def set_sink_positions(positions: dict[str, object] | None) -> None:
    """Install the positions of a checkpoint being restored (None: a fresh start)."""
    global _positions
    _positions = positions


def sink_position(name: str) -> object | None:
    """The checkpointed position of sink ``name``, or None when it starts afresh.

    >>> set_sink_positions({"out": 12}); sink_position("out"), sink_position("other")
    (12, None)
    >>> set_sink_positions(None)
    """
    if _positions is None:
        return None
    return _positions.get(name)


def checked_position(path: str, position: object | None) -> int | None:
    """The byte offset to cut the output file ``path`` back to on a restart (what its sink had
    written at the checkpoint); None when there is no position (a fresh start).

    Raises ``PersistenceError`` naming the file when it is missing or shorter than the
    checkpoint says (it was changed or replaced outside the pipeline).
    """
    if position is None:
        return None
    if not isinstance(position, int):
        raise PersistenceError(f"checkpointed position of {path!r} is not a byte offset")
    try:
        size = os.path.getsize(path)
    except FileNotFoundError:
        raise PersistenceError(
            f"output file {path!r} is missing but the checkpoint says {position} bytes were "
            "written to it; delete the persistence directory to start over"
        ) from None
    if size < position:
        raise PersistenceError(
            f"output file {path!r} has {size} bytes but the checkpoint says {position} were "
            "written; delete the persistence directory to start over"
        )
    return position


_udf_cache_directory: str | None = None


def set_udf_cache_directory(path: str | None) -> None:
    """While a persistent run runs, disk-cached UDF results live under its storage."""
    global _udf_cache_directory
    _udf_cache_directory = path


def udf_cache_directory() -> str | None:
    """Where ``pw.udfs.DiskCache`` keeps results during a persistent run (else None).

    >>> set_udf_cache_directory("/tmp/state/udf-cache"); udf_cache_directory()
    '/tmp/state/udf-cache'
    >>> set_udf_cache_directory(None)
    """
    return _udf_cache_directory
