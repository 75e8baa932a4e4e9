"""``intervals_over`` windows: one window around each value of a column of another table."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from reflow.api.trace import BuildError

if TYPE_CHECKING:
    from reflow.api.table import Table


@dataclass
class _IntervalsOverWindow:
    at: Any
    lower_bound: Any
    upper_bound: Any
    is_outer: bool = True


def intervals_over(*, at: Any, lower_bound: Any, upper_bound: Any,
                   is_outer: bool = True) -> Any:
    """Windows ``[a + lower_bound, a + upper_bound]`` for every value ``a`` of the column
    ``at``; a row belongs to every window containing its time."""
    from reflow.temporal.windows import Window

    class IntervalsOver(_IntervalsOverWindow, Window):
        pass

    return IntervalsOver(at, lower_bound, upper_bound, is_outer)


def intervals_over_windowby(prepared: Table, original: Table, window: _IntervalsOverWindow,
                            time_type: Any, has_instance: bool, where: str) -> Any:
    raise BuildError("intervals_over windows are not supported yet", where)
