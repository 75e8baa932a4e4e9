"""inactivity_detection against an explicit clock table and a deterministic wall clock."""

from __future__ import annotations

import datetime

import reflow as pw
from tests.utils import T, rows, updates

BASE = datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC)


def _at(seconds: int) -> datetime.datetime:
    return BASE + datetime.timedelta(seconds=seconds)


def _clock() -> pw.Table:
    return T("""
    ts                       | __time__
    2024-01-01T00:00:00+0000 | 2
    2024-01-01T00:00:10+0000 | 4
    2024-01-01T00:00:20+0000 | 6
    2024-01-01T00:00:30+0000 | 8
    """).select(timestamp_utc=pw.this.ts.dt.strptime("%Y-%m-%dT%H:%M:%S%z"))


def _wall_clock(*seconds: int):
    readings = iter(int(_at(s).timestamp()) * 10**9 for s in seconds)
    return lambda: next(readings)


def test_inactivity_period_opens_and_closes_per_instance():
    def periods() -> pw.Table:
        data = T("""
        sensor | __time__
        a      | 3
        a      | 7
        """)
        return pw.temporal.inactivity_detection(
            data, datetime.timedelta(seconds=5), instance=data.sensor,
            _clock=_clock(), _now=_wall_clock(0, 12, 25),
        )

    assert rows(periods()) == [(_at(12), _at(25), "a")]
    assert updates(periods()) == sorted([
        (_at(12), None, "a", 6, 1),
        (_at(12), None, "a", 7, -1),
        (_at(12), _at(25), "a", 7, 1),
    ], key=repr)


def test_inactivity_from_the_start_without_instance():
    data = T("""
    sensor | __time__
    a      | 7
    """)
    periods = pw.temporal.inactivity_detection(
        data, datetime.timedelta(seconds=5), _clock=_clock(), _now=_wall_clock(0, 25),
    )
    assert periods.column_names() == ["inactivity_timestamp_utc",
                                      "resumed_activity_timestamp_utc"]
    assert rows(periods) == [(_at(0), _at(25))]


def test_utc_now_replaces_its_row_at_each_refresh():
    import threading

    from reflow.runtime import streaming

    t = pw.temporal.utc_now(refresh_rate=datetime.timedelta(milliseconds=50))
    seen = []

    def on_change(key, row, time, is_addition):
        seen.append((row["timestamp_utc"], is_addition))
        if len(seen) >= 3:
            streaming.stop()

    pw.io.subscribe(t, on_change=on_change)
    watchdog = threading.Timer(20, streaming.stop)
    watchdog.start()
    try:
        pw.run()
    finally:
        watchdog.cancel()
    first, retracted, second = seen[:3]
    assert first[1] and not retracted[1] and second[1]
    assert retracted[0] == first[0] and second[0] > first[0]
    assert first[0].tzinfo is not None
