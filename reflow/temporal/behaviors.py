"""Behaviors: when window results are emitted, how late rows are handled, what is forgotten.

Event time advances with the data: the *frontier* is the largest event time seen so far.

- ``delay``: a window's result is held back until the frontier reaches its start + ``delay``.
- ``cutoff``: rows of a window whose end + ``cutoff`` is at or behind the frontier are late;
  they are ignored (and counted, see ``pw.temporal.late_rows_ignored``). The window's state is
  then dropped, which keeps memory bounded.
- ``keep_results``: whether the results of such closed windows stay (default) or are
  retracted.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any

Number = int | float | datetime.timedelta


class Behavior:
    """How a temporal operation treats time: see ``common_behavior``."""


@dataclass(frozen=True)
class CommonBehavior(Behavior):
    delay: Any = None
    cutoff: Any = None
    keep_results: bool = True


@dataclass(frozen=True)
class ExactlyOnceBehavior(Behavior):
    shift: Any = None


def common_behavior(delay: Number | None = None, cutoff: Number | None = None,
                    keep_results: bool = True) -> CommonBehavior:
    """A behavior with a ``delay`` before results are emitted, a ``cutoff`` after which late
    rows are ignored, and whether results of closed windows are kept.

    >>> import reflow as pw
    >>> t = pw.debug.table_from_markdown('''
    ... t  | __time__
    ... 1  | 2
    ... 25 | 4
    ... 2  | 6
    ... ''')
    >>> r = t.windowby(t.t, window=pw.temporal.tumbling(10),
    ...                behavior=pw.temporal.common_behavior(cutoff=5)).reduce(
    ...     pw.this._pw_window_start, n=pw.reducers.count())
    >>> pw.debug.compute_and_print(r, include_id=False)
    _pw_window_start | n
    0                | 1
    20               | 1
    """
    return CommonBehavior(delay=delay, cutoff=cutoff, keep_results=keep_results)


def exactly_once_behavior(shift: Number | None = None) -> ExactlyOnceBehavior:
    """Each window emits one result, once the frontier passes its end + ``shift``; later rows
    of the window are ignored. Windows still open when the input ends are emitted then.

    >>> import reflow as pw
    >>> t = pw.debug.table_from_markdown('''
    ... t  | __time__
    ... 1  | 2
    ... 3  | 4
    ... 12 | 6
    ... ''')
    >>> r = t.windowby(t.t, window=pw.temporal.tumbling(10),
    ...                behavior=pw.temporal.exactly_once_behavior()).reduce(
    ...     pw.this._pw_window_start, n=pw.reducers.count())
    >>> pw.debug.compute_and_print_update_stream(r, include_id=False)
    _pw_window_start | n | __time__ | __diff__
    0                | 2 | 6        | 1
    10               | 1 | 7        | 1

    (The last window is emitted when the input ends.)
    """
    return ExactlyOnceBehavior(shift=shift)
