"""Fully asynchronous UDFs: pending values now, results as later updates."""

from __future__ import annotations

import asyncio
import threading

import reflow as pw
from tests.utils import T, rows, updates


def _inc():
    @pw.udf(executor=pw.udfs.fully_async_executor(capacity=4))
    async def inc(x: int) -> int:
        await asyncio.sleep(0.001)
        if x < 0:
            raise ValueError(f"negative {x}")
        return x + 1

    return inc


def _split(stream):
    """The updates at the input times (2 and 4), and those after them."""
    early = sorted(u for u in stream if u[-2] <= 4)
    late = [u for u in stream if u[-2] > 4]
    return early, late


def test_pending_first_then_the_result_at_a_later_time():
    t = T(
        """
        x | __time__
        1 | 2
        2 | 4
        """
    )
    r = t.select(pw.this.x, y=_inc()(pw.this.x))
    assert repr(r.schema) == "<reflow.Schema types={x: INT, y: Future(INT)}>"
    stream = updates(r)
    early, late = _split([(x, repr(y), time, diff) for x, y, time, diff in stream])
    assert early == [(1, "Pending", 2, 1), (2, "Pending", 4, 1)]
    assert sorted((x, y, d) for x, y, _, d in late) == [
        (1, "2", 1), (1, "Pending", -1), (2, "3", 1), (2, "Pending", -1)
    ]
    # each result replaces its pending row within one later time
    for x in (1, 2):
        assert len({time for x2, _, time, _ in late if x2 == x}) == 1
    assert rows(r) == [(1, 2), (2, 3)]


def test_await_futures_hides_pending_rows_and_unwraps_the_type():
    t = T(
        """
        x | __time__
        1 | 2
        5 | 4
        """
    )
    r = t.select(pw.this.x, y=_inc()(pw.this.x)).await_futures()
    assert repr(r.schema) == "<reflow.Schema types={x: INT, y: INT}>"
    stream = updates(r)
    assert sorted((x, y, d) for x, y, _, d in stream) == [(1, 2, 1), (5, 6, 1)]
    assert all(time > 4 for *_, time, _ in stream)
    assert rows(r.select(z=pw.this.y * 10)) == [(20,), (60,)]


def test_retraction_before_the_result_drops_it():
    t = T(
        """
        x | __time__ | __diff__
        1 | 2        | 1
        7 | 2        | 1
        1 | 4        | -1
        """
    )
    r = t.select(pw.this.x, y=_inc()(pw.this.x))
    stream = [(x, repr(y), time, d) for x, y, time, d in updates(r, terminate_on_error=False)]
    # the static times run before any result is applied: row 1 never gets its result
    assert [u for u in stream if u[0] == 1] == [(1, "Pending", 2, 1), (1, "Pending", 4, -1)]
    assert rows(r, terminate_on_error=False) == [(7, 8)]
    assert rows(r.await_futures(), terminate_on_error=False) == [(7, 8)]


def test_an_exception_becomes_an_error_value_when_it_arrives():
    t = T(
        """
        x
        -3
        4
        """
    )
    r = t.select(pw.this.x, y=_inc()(pw.this.x))
    log = pw.global_error_log()
    awaited = r.await_futures()
    assert sorted(repr(v) for v in rows(awaited, terminate_on_error=False)) == [
        "(-3, Error)",
        "(4, 5)",
    ]
    messages = [m for (m,) in rows(log.select(pw.this.message), terminate_on_error=False)]
    assert any("inc" in m and "ValueError: negative -3" in m for m in messages), messages


class _Item(pw.Schema):
    x: int


def test_streaming_results_arrive_and_a_later_retraction_retracts_the_result():
    result_seen = threading.Event()
    seen: list[tuple] = []

    class Feed(pw.io.python.ConnectorSubject):
        def run(self):
            self.next(x=1)
            self.next(x=2)
            self.commit()
            result_seen.wait(10)  # x=1 got its result
            self.delete(x=1)
            self.commit()

    t = pw.io.python.read(Feed(), schema=_Item, autocommit_duration_ms=None)
    r = t.select(pw.this.x, y=_inc()(pw.this.x))

    def on_change(key, row, time, is_addition):
        seen.append((row["x"], repr(row["y"]), time, is_addition))
        if row["x"] == 1 and row["y"] == 2 and is_addition:
            result_seen.set()

    pw.io.subscribe(r, on_change=on_change)
    pw.run(monitoring_level=pw.MonitoringLevel.NONE)
    one = [(y, add) for x, y, _, add in sorted(seen, key=lambda u: (u[2], u[3])) if x == 1]
    assert one == [("Pending", True), ("Pending", False), ("2", True), ("2", False)]
    two = sorted((y, add) for x, y, _, add in seen if x == 2)
    assert two == [("3", True), ("Pending", False), ("Pending", True)]
    times = {y: time for x, y, time, add in seen if x == 1 and add}
    assert times["Pending"] < times["2"]


def test_a_source_that_closes_at_once_still_gets_every_result():
    class Burst(pw.io.python.ConnectorSubject):
        def run(self):
            for i in range(50):
                self.next(x=i)

    t = pw.io.python.read(Burst(), schema=_Item)
    r = t.select(pw.this.x, y=_inc()(pw.this.x))
    final: dict = {}

    def on_change(key, row, time, is_addition):
        if is_addition:
            final[key] = (row["x"], row["y"])
        elif final.get(key) == (row["x"], row["y"]):
            del final[key]

    pw.io.subscribe(r, on_change=on_change)
    pw.run(monitoring_level=pw.MonitoringLevel.NONE)
    assert sorted(final.values()) == [(i, i + 1) for i in range(50)]
