"""``pw.io.python``: subjects feeding tables, commits, upserts and deletions, observers."""

from __future__ import annotations

import threading

import pytest

import reflow as pw
from tests.io.live import Collector, run_while
from tests.utils import rows


class Item(pw.Schema):
    name: str
    qty: int


class KeyedItem(pw.Schema):
    name: str = pw.column_definition(primary_key=True)
    qty: int


class Scripted(pw.io.python.ConnectorSubject):
    """Runs ``script(self)``."""

    def __init__(self, script, **kwargs):
        super().__init__(**kwargs)
        self.script = script

    def run(self):
        self.script(self)


def test_rows_of_one_commit_share_a_time_and_commits_are_whole():
    first_seen = threading.Event()

    def script(s):
        s.next(name="a", qty=1)
        s.next(name="b", qty=2)
        s.commit()
        first_seen.wait(10)
        s.next(name="c", qty=3)
        s.commit()

    t = pw.io.python.read(Scripted(script), schema=Item, autocommit_duration_ms=None)
    out = Collector(t)
    pw.io.subscribe(t, on_change=lambda **kw: None, on_time_end=lambda time: first_seen.set())
    pw.run(monitoring_level=pw.MonitoringLevel.NONE)
    times = {u[0]: u[2] for u in out.updates}
    assert times["a"] == times["b"] < times["c"]
    assert out.rows() == [("a", 1), ("b", 2), ("c", 3)]
    assert out.ended


def test_autocommit_delivers_rows_without_explicit_commit():
    seen = threading.Event()
    holder = {}

    def script(s):
        s.next(name="a", qty=1)
        assert seen.wait(10), "the row was not committed by time"

    t = pw.io.python.read(Scripted(script), schema=Item, autocommit_duration_ms=20)
    holder["out"] = out = Collector(t)
    pw.io.subscribe(t, on_change=lambda key, row, time, is_addition: seen.set())
    pw.run(monitoring_level=pw.MonitoringLevel.NONE)
    assert out.rows() == [("a", 1)]


def test_upsert_session_replaces_and_deletes_by_key():
    def script(s):
        s.next(name="a", qty=1)
        s.next(name="b", qty=2)
        s.commit()
        s.next(name="a", qty=10)
        s.commit()
        s.delete(name="b", qty=0)
        s.commit()
        s._remove_inner(None, {"name": "a", "qty": 10})
        s.next(name="c", qty=3)

    t = pw.io.python.read(
        Scripted(script, session_type="upsert"), schema=KeyedItem, autocommit_duration_ms=None
    )
    out = Collector(t)
    pw.run(monitoring_level=pw.MonitoringLevel.NONE)
    assert out.rows() == [("c", 3)]
    a_changes = [(u[1], u[3]) for u in out.updates if u[0] == "a"]
    assert a_changes == [(1, 1), (1, -1), (10, 1), (10, -1)]
    assert set(out.state) == {pw.pointer_from("c")}


def test_explicit_keys_and_delete_then_reinsert():
    def script(s):
        s._add_inner(pw.pointer_from(1), {"name": "x", "qty": 1})
        s.commit()
        s._remove_inner(pw.pointer_from(1), {"name": "x", "qty": 1})
        s.commit()
        s._add_inner(pw.pointer_from(1), {"name": "y", "qty": 2})

    t = pw.io.python.read(Scripted(script), schema=Item)
    assert pw.debug.table_to_dicts(t)[1]["name"] == {pw.pointer_from(1): "y"}


def test_native_delete_by_values_without_key():
    def script(s):
        s.next(name="a", qty=1)
        s.next(name="a", qty=1)
        s.next(name="b", qty=2)
        s.commit()
        s.delete(name="a", qty=1)
        s.delete(name="b", qty=2)

    t = pw.io.python.read(Scripted(script), schema=Item)
    assert rows(t) == [("a", 1)]


def test_json_str_and_bytes_messages():
    def script(s):
        s.next_json({"name": "j", "qty": 1})
        s.next_str('{"name": "s", "qty": 2}')
        s.next_bytes(b'{"name": "b", "qty": 3}')

    t = pw.io.python.read(Scripted(script), schema=Item)
    assert rows(t) == [("b", 3), ("j", 1), ("s", 2)]

    def raw(s):
        s.next_str("line")

    text = pw.io.python.read(Scripted(raw), format="raw")
    assert rows(text) == [("line",)]


def test_bad_values_are_reported_and_others_flow():
    def script(s):
        s.next(name="a", qty=1)
        s.next(name="b", qty="two")
        s.next(name="c")
        s.next(name="d", qty=4)
        s.delete(name="zzz", qty=0)

    t = pw.io.python.read(Scripted(script), schema=Item)
    data = Collector(t)
    errors = Collector(pw.global_error_log().select(pw.this.message))
    pw.run(monitoring_level=pw.MonitoringLevel.NONE, terminate_on_error=False)
    assert data.rows() == [("a", 1), ("d", 4)]
    messages = sorted(m for (m,) in errors.rows())
    assert len(messages) == 3
    assert any("expected INT, got str 'two'" in m for m in messages)
    assert any("column 'qty': missing" in m for m in messages)
    assert any("no such row" in m for m in messages)


def test_defaults_and_optional_columns():
    class S(pw.Schema):
        name: str
        qty: int = 5
        note: str | None

    def script(s):
        s.next(name="a")

    t = pw.io.python.read(Scripted(script), schema=S)
    assert rows(t) == [("a", 5, None)]


def test_subject_failure_stops_the_run():
    def script(s):
        s.next(name="a", qty=1)
        raise RuntimeError("sensor unplugged")

    pw.io.null.write(pw.io.python.read(Scripted(script), schema=Item))
    with pytest.raises(RuntimeError, match="sensor unplugged"):
        pw.run(monitoring_level=pw.MonitoringLevel.NONE)


def test_close_ends_the_source_and_on_stop_is_called():
    calls = []

    class Endless(pw.io.python.ConnectorSubject):
        def run(self):
            self.next(name="a", qty=1)
            self.close()
            self.next(name="ignored", qty=0)

        def on_stop(self):
            calls.append("stop")

    t = pw.io.python.read(Endless(), schema=Item)
    assert rows(t) == [("a", 1)]
    assert calls == ["stop"]


def test_stop_while_subject_is_waiting():
    release = threading.Event()

    class Waiting(pw.io.python.ConnectorSubject):
        def run(self):
            self.next(name="a", qty=1)
            self.commit()
            release.wait(10)

        def on_stop(self):
            release.set()

    out = Collector(pw.io.python.read(Waiting(), schema=Item))
    run_while(lambda: out.wait_rows([("a", 1)]))
    assert out.ended and out.rows() == [("a", 1)]


def test_python_write_observer_sees_whole_times():
    events = []

    class Observer(pw.io.python.ConnectorObserver):
        def on_change(self, key, row, time, is_addition):
            events.append(("change", row["v"], time, is_addition))

        def on_time_end(self, time):
            events.append(("time_end", time))

        def on_end(self):
            events.append(("end",))

    t = pw.debug.table_from_markdown(
        """
          | v | __time__ | __diff__
        1 | 1 | 2        | 1
        2 | 2 | 2        | 1
        1 | 1 | 4        | -1
        1 | 3 | 4        | 1
        """
    )
    pw.io.python.write(t, Observer())
    pw.run(monitoring_level=pw.MonitoringLevel.NONE)
    assert events == [
        ("change", 1, 2, True),
        ("change", 2, 2, True),
        ("time_end", 2),
        ("change", 1, 4, False),
        ("change", 3, 4, True),
        ("time_end", 4),
        ("end",),
    ] or events == [
        ("change", 2, 2, True),
        ("change", 1, 2, True),
        ("time_end", 2),
        ("change", 1, 4, False),
        ("change", 3, 4, True),
        ("time_end", 4),
        ("end",),
    ]


def test_bad_row_enters_the_error_log_at_the_time_of_its_commit():
    def script(s):
        s.next(name="a", qty=1)
        s.next(name="b", qty="bad")
        s.commit()

    data = Collector(pw.io.python.read(Scripted(script), schema=Item))
    errors = Collector(pw.global_error_log().select(pw.this.message))
    pw.run(monitoring_level=pw.MonitoringLevel.NONE, terminate_on_error=False)
    ((*_, data_time, _),) = data.updates
    ((_, error_time, _),) = errors.updates
    assert data_time == error_time


def test_live_sources_with_static_tables_and_several_subjects():
    static = pw.debug.table_from_markdown(
        """
        name | qty
        s    | 0
        """
    )

    def one(s):
        s.next(name="x", qty=1)

    def two(s):
        s.next(name="y", qty=2)
        s.commit()
        s.next(name="z", qty=3)

    a = pw.io.python.read(Scripted(one), schema=Item)
    b = pw.io.python.read(Scripted(two), schema=Item)
    union = static.concat_reindex(a, b)
    assert rows(union) == [("s", 0), ("x", 1), ("y", 2), ("z", 3)]


def test_error_log_does_not_start_sources_no_output_reads():
    started = []

    def unused(s):
        started.append("unused")

    def used(s):
        s.next(name="a", qty=1)

    kept = pw.io.python.read(Scripted(unused), schema=Item)  # referenced, never written
    data = Collector(pw.io.python.read(Scripted(used), schema=Item))
    Collector(pw.global_error_log())
    pw.run(monitoring_level=pw.MonitoringLevel.NONE)
    assert data.rows() == [("a", 1)]
    assert started == [] and kept is not None


def test_a_keyed_subject_far_ahead_of_the_pipeline_does_not_pile_up_copies_of_its_state():
    # 10,000 keyed rows in commits of 10 and a pipeline slower than the subject: the commits
    # wait in the run loop's queue. Without persistence none of them carries a copy of the
    # subject's keyed state (which came to ~70 MiB here); every row still arrives.
    import time
    import tracemalloc

    def script(s):
        for n in range(10_000):
            s.next(name=f"k{n}", qty=n)
            if n % 10 == 9:
                s.commit()

    t = pw.io.python.read(Scripted(script), schema=KeyedItem, autocommit_duration_ms=None)
    seen: list[int] = []
    pw.io.subscribe(
        t,
        on_change=lambda key, row, time, is_addition: seen.append(row["qty"]),
        on_time_end=lambda _: time.sleep(0.003),
    )
    tracemalloc.start()
    try:
        pw.run(monitoring_level=pw.MonitoringLevel.NONE)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert sorted(seen) == list(range(10_000))
    assert peak < 30 * 2**20, f"peak traced memory {peak / 2**20:.0f} MiB"


def test_a_keyed_subject_resumes_from_a_checkpoint_that_holds_its_rows_as_dicts():
    # The state ``resume`` restores survives the start of the run (which otherwise begins
    # afresh), and checkpoints written before the keyed state held tuples store each row as a
    # dict: a restart from one still retracts the stored row when its key comes again.
    from reflow.engine.ids import hash_value_rows

    def script(s):
        s.next(name="a", qty=2)

    t = pw.io.python.read(Scripted(script), schema=KeyedItem, autocommit_duration_ms=None)
    source = t._node.source
    source.resume({
        "received": 0, "seq": 0, "live": [],
        "state": {hash_value_rows([["a"]])[0]: {"name": "a", "qty": 1}},
    })
    out = Collector(t)
    pw.run(monitoring_level=pw.MonitoringLevel.NONE)
    assert [(u[0], u[1], u[3]) for u in out.updates] == [("a", 1, -1), ("a", 2, 1)]


def test_keyed_rows_get_the_same_ids_and_updates_whichever_way_a_commit_is_built():
    """Commits of new keys are built column by column, others row by row (a key already
    present, a key repeated in the commit, a value of another type): ids and updates agree."""

    class Keyed(pw.Schema):
        k: int = pw.column_definition(primary_key=True)
        v: float

    def script(s):
        s.next(k=1, v=1.0)
        s.next(k=2, v=2.0)
        s.commit()  # all new
        s.next(k=3, v=3.0)
        s.next(k=1, v=10.0)
        s.commit()  # k=1 is present: replaced
        s.next(k=4, v=4.0)
        s.next(k=4, v=40.0)
        s.commit()  # k=4 twice: the last one stays
        s.next(k=5, v=5)
        s.commit()  # an int for a float column: converted on the checking path

    t = pw.io.python.read(Scripted(script), schema=Keyed, autocommit_duration_ms=None)
    out = Collector(t)
    pw.run(monitoring_level=pw.MonitoringLevel.NONE)
    assert sorted(out.rows()) == [(1, 10.0), (2, 2.0), (3, 3.0), (4, 40.0), (5, 5.0)]
    assert set(out.state) == {pw.pointer_from(k) for k in range(1, 6)}
    assert sorted((u[1], u[3]) for u in out.updates if u[0] == 1) == [
        (1.0, -1), (1.0, 1), (10.0, 1)
    ]
