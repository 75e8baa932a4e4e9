"""Which rows of a source batch each worker reads, and which worker writes the sinks.

Kept apart from ``reflow.engine.sharding`` (the exchange between workers) so that sources and
sinks can ask without loading it: a one-worker run never does.

>>> import polars as pl
>>> frame = pl.DataFrame({"x": range(5)})
>>> [share_of(frame, w, 2)["x"].to_list() for w in range(2)]
[[0, 1], [2, 3, 4]]
"""

from __future__ import annotations

import polars as pl

#: The worker whose sinks write: sinks that need a single stream write through it.
WRITER = 0


def share_of(batch: pl.DataFrame, worker: int, workers: int) -> pl.DataFrame:
    """Worker ``worker``'s contiguous slice of a source batch split among ``workers``.

    Any split of a source's rows is right: operators that hold state get every row of a key
    from the exchange before them, whichever worker read it, and the others are linear. A
    slice costs nothing, where a split by row id would hash every id.
    """
    start, end = share_bounds(batch.height, worker, workers)
    return batch.slice(start, end - start)


def share_bounds(height: int, worker: int, workers: int) -> tuple[int, int]:
    """The rows ``[start, end)`` of a batch of ``height`` rows that ``share_of`` gives worker
    ``worker`` of ``workers``: a source that builds its batch lazily builds only these.

    >>> [share_bounds(5, w, 2) for w in range(2)]
    [(0, 2), (2, 5)]
    """
    return height * worker // workers, height * (worker + 1) // workers
