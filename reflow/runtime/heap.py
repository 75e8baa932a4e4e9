"""Keeping Python's cyclic garbage collector away from big, long-lived state.

A pipeline that has just loaded a large input holds millions of long-lived Python objects
(index dictionaries, keys). Every full collection walks all of them: on a 1M-row join state
that is a pause of a few hundred milliseconds, which shows up as the tail latency of a
serving pipeline. After a logical time that brought in many rows, the objects alive are
collected once and then frozen (``gc.freeze``): later collections skip them. Frozen objects
are still freed by reference counting; only cycles among them wait.
"""

from __future__ import annotations

import gc

#: Input rows of one logical time from which the heap is frozen after it.
FREEZE_AFTER_ROWS = 200_000


def settle_after(rows: int) -> None:
    """Call after a logical time with ``rows`` input rows; freezes the heap after a big one.

    >>> settle_after(10)  # a small time: nothing happens
    """
    if rows >= FREEZE_AFTER_ROWS:
        gc.collect()
        gc.freeze()
