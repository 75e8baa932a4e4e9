"""What plan input nodes are fed from."""

from __future__ import annotations

from collections.abc import Callable

import polars as pl

from reflow.engine.shares import share_bounds, share_of


class StaticSource:
    """Batches known before the run starts, each at its logical time."""

    def __init__(self, batches: list[tuple[int, pl.DataFrame]] | None = None) -> None:
        self._batches = [] if batches is None else batches

    @property
    def batches(self) -> list[tuple[int, pl.DataFrame]]:
        """Every batch, whole, in time order."""
        return self._batches

    def share(self, worker: int, workers: int) -> list[tuple[int, pl.DataFrame]]:
        """The rows worker ``worker`` of ``workers`` reads: a contiguous slice of each batch
        (``reflow.engine.shares.share_of``)."""
        if workers == 1:
            return self.batches
        return [(time, share_of(batch, worker, workers)) for time, batch in self.batches]


class DeferredSource(StaticSource):
    """One batch of ``height`` rows at time 0 that is built only when a run reads it:
    ``build(start, end)`` builds its rows ``[start, end)``, so a worker of a sharded run
    builds only its own share.

    >>> source = DeferredSource(5, lambda start, end: pl.DataFrame({"x": range(start, end)}))
    >>> [batch["x"].to_list() for _, batch in source.share(1, 2)]
    [[2, 3, 4]]
    >>> source.batches[0][1].height
    5
    """

    def __init__(self, height: int, build: Callable[[int, int], pl.DataFrame]) -> None:
        super().__init__(None)
        self.height = height
        self._build = build
        self._whole: list[tuple[int, pl.DataFrame]] | None = None

    @property
    def batches(self) -> list[tuple[int, pl.DataFrame]]:
        if self._whole is None:
            self._whole = [(0, self._build(0, self.height))]
        return self._whole

    def share(self, worker: int, workers: int) -> list[tuple[int, pl.DataFrame]]:
        if workers == 1 or self._whole is not None:
            return super().share(worker, workers)
        start, end = share_bounds(self.height, worker, workers)
        return [(0, self._build(start, end))]


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

    @property
    def behind(self) -> bool:
        """True while this source's last commit waits in the run loop's queue (the loop is
        still busy with earlier times): a source that commits by time may then grow its next
        commit instead of queueing one more logical time, each of which has a fixed cost."""
        return False

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
    #: Whether each commit makes a logical time of its own even when it brought no rows
    #: (a worker's part of a source read by file: the other workers' parts enter at that
    #: time). Other sources' empty commits only advance their offsets.
    commit_makes_time: bool = False

    def check(self) -> None:
        """Raise a clear error if the source cannot be read."""

    def splits_by_file(self) -> bool:
        """Whether the workers of a sharded run may each read a part of this source
        (``read_part``) instead of worker 0 reading it whole: a static read of files."""
        return False

    def read_part(self, worker: int, workers: int) -> tuple[pl.DataFrame | None, list[str]]:
        """Worker ``worker`` of ``workers``'s part of a source that ``splits_by_file``: its
        rows, all entering at one logical time, and the reports of its bad rows."""
        raise NotImplementedError

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
