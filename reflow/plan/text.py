"""Values written as text the way Pathway writes them (``to_string``)."""

from __future__ import annotations

import datetime
import json
from typing import Any

from reflow.engine.values import Json


def to_text(value: Any) -> str:
    """``value`` as text: ISO date-times with nanoseconds (``+0000`` for UTC ones),
    durations as a count of nanoseconds with ``ns``, Json without spaces, else ``str()``.

    >>> import datetime
    >>> to_text(datetime.datetime(2024, 1, 2, 12, 0, tzinfo=datetime.UTC))
    '2024-01-02T12:00:00.000000000+0000'
    >>> to_text(Json({"a": [1, 2]}))
    '{"a":[1,2]}'
    """
    if isinstance(value, datetime.datetime):
        nanoseconds = value.microsecond * 1000 + getattr(value, "nanosecond", 0)
        text = f"{value:%Y-%m-%dT%H:%M:%S}.{nanoseconds:09d}"
        if value.tzinfo is not None:
            text += value.strftime("%z")
        return text
    if isinstance(value, datetime.timedelta):
        total = (value.days * 86_400 + value.seconds) * 1_000_000_000
        total += value.microseconds * 1000 + getattr(value, "nanoseconds", 0)
        return f"{total}ns"
    if isinstance(value, Json):
        return json.dumps(value.value, separators=(",", ":"), ensure_ascii=False, default=repr)
    return str(value)
