"""What plan input nodes are fed from."""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl


@dataclass
class StaticSource:
    """Batches known before the run starts, each at its logical time."""

    batches: list[tuple[int, pl.DataFrame]] = field(default_factory=list)


class ErrorLogSource:
    """Marker source of ``pw.global_error_log()`` (``scope`` None) or of the log of one
    ``pw.local_error_log()`` scope: the engine feeds it run-time errors."""

    def __init__(self, scope: object = None) -> None:
        self.scope = scope


class SourceHandle:
    """How a live source talks to the run loop; every method may be called from any thread.

    The run loop owns one handle per source. ``push`` hands over a delta batch, ``commit`` makes
    everything pushed since the previous commit enter the dataflow at one logical time,
    ``report_error`` records a bad input row (it enters ``pw.global_error_log()`` with the
    rows of the same commit), ``close`` says the source is exhausted, and ``fail`` stops the
    run with an exception.
    """

    def push(self, batch: pl.DataFrame) -> None:
        raise NotImplementedError

    def commit(self, offset: object = None) -> None:
        """End a transaction; ``offset`` (any picklable value) is where the source would
        resume if the run restarted after this commit (see ``LiveSource.resume``)."""
        raise NotImplementedError

    def report_error(self, message: str) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def fail(self, error: BaseException) -> None:
        raise NotImplementedError

    @property
    def stopping(self) -> bool:
        """True once the run was asked to stop; reader threads should return soon after."""
        raise NotImplementedError

    def wait_stop(self, timeout: float) -> bool:
        """Sleep up to ``timeout`` seconds, waking early (and returning True) on a stop."""
        raise NotImplementedError


class LiveSource:
    """A source read while the dataflow runs (files, Python subjects, ...).

    ``check`` runs before anything starts and raises a clear error for a source that cannot
    work (missing path, bad header); ``start`` starts its reader (usually a thread) feeding
    ``handle``; ``tick`` is called by the run loop every few milliseconds on the loop's thread
    (for time-based commits); ``stop`` asks the reader to finish.
    """

    name: str = "source"
    #: Rows read so far (for monitoring); updated by the source.
    rows_read: int = 0

    def check(self) -> None:
        """Raise a clear error if the source cannot be read."""

    def start(self, handle: SourceHandle) -> None:
        raise NotImplementedError

    def tick(self, now: float) -> None:
        """Called regularly from the run loop with ``time.monotonic()``."""

    def stop(self) -> None:
        """Ask the reader to stop; it closes its handle when done."""

    def use_checkpoints(self, scope: str = "") -> None:
        """Before ``start`` of a persistent run: ``checkpointed`` will report stored offsets.

        ``scope`` names this source in the run's storage, the same on every restart (a
        digest of the storage and the source's name), e.g. to name what the source keeps on
        a server between runs.
        """

    def checkpointed(self, offset: object) -> None:
        """A checkpoint holding ``offset`` for this source is durably stored (called from the
        checkpoint writer's thread)."""

    def resume(self, offset: object) -> None:
        """Before ``start`` on a restart: continue after the commit that reported ``offset``.

        Sources that report no offsets are read again from their beginning.
        """
