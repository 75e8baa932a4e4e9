"""``pw.io.postgres`` against the machine's PostgreSQL: change logs, snapshots, and change data
capture through logical replication."""

from __future__ import annotations

import datetime
import threading

import pytest

import reflow as pw
from reflow.io._connector import writer as writer_module
from reflow.io._connector.retry import RetryPolicy
from tests.connectors.kafka_broker import free_port
from tests.io.live import Collector, run_while


class Item(pw.Schema):
    name: str
    qty: int


class KeyedItem(pw.Schema):
    name: str = pw.column_definition(primary_key=True)
    qty: int


class Scripted(pw.io.python.ConnectorSubject):
    def __init__(self, script):
        super().__init__()
        self.script = script

    def run(self):
        self.script(self)


def test_write_appends_every_change_with_time_and_diff(pg):
    name = pg.table_name()
    t = pw.debug.table_from_markdown("""
      | name | qty | __time__ | __diff__
    1 | a    | 1   | 2        | 1
    2 | b    | 2   | 2        | 1
    1 | a    | 1   | 4        | -1
    """)
    pw.io.postgres.write(t, pg.settings, name, init_mode="create_if_not_exists")
    pw.run(monitoring_level=pw.MonitoringLevel.NONE)
    assert pg.rows(f"SELECT name, qty, time, diff FROM {name}") == [
        ("a", 1, 2, 1), ("a", 1, 4, -1), ("b", 2, 2, 1),
    ]
    columns = pg.rows(
        "SELECT column_name, data_type, is_nullable FROM information_schema.columns "
        "WHERE table_name = %s", (name,),
    )
    assert columns == [
        ("diff", "smallint", "NO"), ("name", "text", "NO"), ("qty", "bigint", "NO"),
        ("time", "bigint", "NO"),
    ]


def test_init_mode_default_needs_the_table_and_replace_recreates_it(pg):
    name = pg.table_name()
    t = pw.debug.table_from_markdown("""
    name | qty
    a    | 1
    """)
    pw.io.postgres.write(t, pg.settings, name)
    with pytest.raises(pw.io.ConnectorError, match=rf"PostgreSQL table '{name}' at 127.0.0.1"):
        pw.run(monitoring_level=pw.MonitoringLevel.NONE)

    pg.execute(f"CREATE TABLE {name} (old INT)")
    pw.io.postgres.write(t, pg.settings, name, init_mode="replace")
    pw.run(monitoring_level=pw.MonitoringLevel.NONE)
    assert pg.rows(f"SELECT name, qty, diff FROM {name}") == [("a", 1, 1)]


def test_values_of_every_kind_are_written_with_matching_column_types(pg):
    name = pg.table_name()

    class Kinds(pw.Schema):
        f: float
        b: bool
        s: str | None
        j: pw.Json
        when: pw.DateTimeNaive
        raw: bytes

    when = datetime.datetime(2026, 1, 2, 3, 4, 5)
    t = pw.debug.table_from_rows(Kinds, [(1.5, True, None, pw.Json({"k": [1]}), when, b"\x00")])
    pw.io.postgres.write(t, pg.settings, name, init_mode="replace")
    pw.run(monitoring_level=pw.MonitoringLevel.NONE)
    assert pg.rows(f"SELECT f, b, s, j, \"when\", raw FROM {name}") == [
        (1.5, True, None, {"k": [1]}, when, b"\x00")
    ]


def test_snapshot_table_equals_the_result_after_every_commit(pg):
    name = pg.table_name()
    steps = [
        [("a", 1), ("b", 2), ("a", 3)],
        [("b", -2), ("c", 7)],
        [("c", 1)],
    ]
    mismatches: list = []
    checked: list[int] = []

    def script(s):
        for step in steps:
            for who, qty in step:
                s.next(name=who, qty=qty)
            s.commit()

    t = pw.io.python.read(Scripted(script), schema=Item, autocommit_duration_ms=None)
    totals = t.groupby(pw.this.name).reduce(pw.this.name, qty=pw.reducers.sum(pw.this.qty))
    nonzero = totals.filter(pw.this.qty != 0)
    pw.io.postgres.write_snapshot(nonzero, pg.settings, name, ["name"],
                                  init_mode="create_if_not_exists")
    out = Collector(nonzero)

    def after_time(time):  # registered after the writer: its transaction is committed
        expected = out.rows()
        actual = pg.rows(f"SELECT name, qty FROM {name}")
        checked.append(time)
        if actual != expected:
            mismatches.append((time, actual, expected))

    pw.io.subscribe(nonzero, on_change=lambda **kw: None, on_time_end=after_time)
    pw.run(monitoring_level=pw.MonitoringLevel.NONE)
    assert checked and not mismatches
    assert pg.rows(f"SELECT name, qty, diff FROM {name}") == [("a", 4, 1), ("c", 8, 1)]


def test_writer_reconnects_after_the_server_drops_its_connection(pg):
    name = pg.table_name()
    settings = {**pg.settings, "application_name": f"w{name}"}
    first = threading.Event()

    def script(s):
        s.next(name="a", qty=1)
        s.commit()
        assert first.wait(10)
        pg.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                   "WHERE application_name = %s", (f"w{name}",))
        s.next(name="b", qty=2)
        s.commit()

    t = pw.io.python.read(Scripted(script), schema=KeyedItem, autocommit_duration_ms=None)
    pw.io.postgres.write_snapshot(t, settings, name, ["name"], init_mode="replace")
    pw.io.subscribe(t, on_change=lambda **kw: None, on_time_end=lambda time: first.set())
    pw.run(monitoring_level=pw.MonitoringLevel.NONE)
    assert pg.rows(f"SELECT name, qty FROM {name}") == [("a", 1), ("b", 2)]


def test_writer_that_cannot_reach_the_server_stops_the_run_naming_it(monkeypatch):
    monkeypatch.setattr(writer_module, "WRITER_RETRY", RetryPolicy(max_attempts=2,
                                                                   initial_delay=0.01))
    port = free_port()
    t = pw.debug.table_from_markdown("""
    name | qty
    a    | 1
    """)
    settings = {"host": "127.0.0.1", "port": port, "dbname": "test", "user": "postgres"}
    pw.io.postgres.write(t, settings, "nowhere")
    with pytest.raises(pw.io.ConnectorError,
                       match=rf"PostgreSQL table 'nowhere' at 127.0.0.1:{port}: cannot connect"):
        pw.run(monitoring_level=pw.MonitoringLevel.NONE)


# --- change data capture ------------------------------------------------------------------------
def _slot_exists(pg, table) -> bool:
    """Whether the replication slot that ``table``'s reader created still exists."""
    name = table._node.source.reader.slot_name
    assert name is not None
    return bool(pg.rows("SELECT 1 FROM pg_replication_slots WHERE slot_name = %s", (name,)))


def test_cdc_reads_the_rows_then_a_transaction_arrives_as_one_revision(pg):
    name = pg.table_name()
    pg.execute(f"CREATE TABLE {name} (name TEXT PRIMARY KEY, qty INT NOT NULL)")
    pg.execute(f"INSERT INTO {name} VALUES ('a', 1), ('b', 2)")
    t = pw.io.postgres.read(pg.settings, name, KeyedItem)
    out = Collector(t)

    def driver():
        out.wait_rows([("a", 1), ("b", 2)])
        with pg.conn.transaction():
            pg.execute(f"INSERT INTO {name} VALUES ('c', 3)")
            pg.execute(f"UPDATE {name} SET qty = 10 WHERE name = 'a'")
            pg.execute(f"DELETE FROM {name} WHERE name = 'b'")
        out.wait_rows([("a", 10), ("c", 3)])

    run_while(driver)
    first_time = out.updates[0][2]
    revision = [u for u in out.updates if u[2] != first_time]
    assert sorted(revision) == sorted([
        ("c", 3, revision[0][2], 1), ("a", 1, revision[0][2], -1),
        ("a", 10, revision[0][2], 1), ("b", 2, revision[0][2], -1),
    ])
    assert not _slot_exists(pg, t)  # the reader dropped its slot


def test_cdc_survives_the_server_terminating_its_connection(pg):
    name = pg.table_name()
    pg.execute(f"CREATE TABLE {name} (name TEXT PRIMARY KEY, qty INT NOT NULL)")
    pg.execute(f"INSERT INTO {name} VALUES ('a', 1)")
    settings = {**pg.settings, "application_name": f"r{name}"}
    t = pw.io.postgres.read(settings, name, KeyedItem)
    out = Collector(t)

    def driver():
        out.wait_rows([("a", 1)])
        pg.execute(f"INSERT INTO {name} VALUES ('b', 2)")
        out.wait_rows([("a", 1), ("b", 2)])
        pg.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                   "WHERE application_name = %s", (f"r{name}",))
        pg.execute(f"UPDATE {name} SET qty = 5 WHERE name = 'b'")
        pg.execute(f"INSERT INTO {name} VALUES ('c', 3)")
        out.wait_rows([("a", 1), ("b", 5), ("c", 3)])

    run_while(driver)
    additions = sorted(u[:2] for u in out.updates if u[-1] == 1)
    assert additions == [("a", 1), ("b", 2), ("b", 5), ("c", 3)]  # nothing seen twice


def test_cdc_snapshot_and_changes_have_no_gap_and_no_duplicate_under_concurrent_writes(pg):
    name = pg.table_name()
    pg.execute(f"CREATE TABLE {name} (name TEXT PRIMARY KEY, qty INT NOT NULL)")
    stop = threading.Event()
    written: list[int] = []

    def writer():
        import psycopg

        from tests.connectors.postgres_db import SETTINGS

        with psycopg.connect(**SETTINGS, autocommit=True) as conn:
            i = 0
            while not stop.is_set() and i < 400:
                conn.execute(f"INSERT INTO {name} VALUES (%s, %s)", (f"k{i}", i))
                written.append(i)
                i += 1

    thread = threading.Thread(target=writer)
    thread.start()
    t = pw.io.postgres.read(pg.settings, name, KeyedItem)
    out = Collector(t)

    def driver():
        thread.join(60)
        out.wait_for(lambda c: len(c.state) == len(written), timeout=90)

    try:
        run_while(driver, timeout=150)
    finally:
        stop.set()
        thread.join()
    additions = [u for u in out.updates if u[-1] == 1]
    assert sorted(u[1] for u in additions) == written


def test_cdc_bad_values_go_to_the_error_log_naming_table_and_lsn(pg):
    name = pg.table_name()
    pg.execute(f"CREATE TABLE {name} (name TEXT PRIMARY KEY, qty BIGINT)")
    pg.execute(f"INSERT INTO {name} VALUES ('z', 0), ('y', NULL)")
    t = pw.io.postgres.read(pg.settings, name, KeyedItem)
    out = Collector(t)
    errors = Collector(pw.global_error_log().select(pw.this.message))

    def driver():
        out.wait_rows([("z", 0)])
        pg.execute(f"INSERT INTO {name} VALUES ('a', NULL), ('b', 2)")
        out.wait_rows([("b", 2), ("z", 0)])
        errors.wait_for(lambda c: len(c.state) == 2)

    run_while(driver, terminate_on_error=False)
    changed, snapshot = sorted(m for (m,) in errors.state.values())
    assert snapshot.startswith(f"table public.{name}, snapshot at ")
    assert changed.startswith(f"table public.{name}, LSN ")
    assert "column 'qty'" in changed and "column 'qty'" in snapshot


def test_cdc_static_mode_reads_the_current_rows_and_ends(pg):
    name = pg.table_name()
    pg.execute(f"CREATE TABLE {name} (name TEXT PRIMARY KEY, qty INT NOT NULL)")
    pg.execute(f"INSERT INTO {name} VALUES ('a', 1)")
    t = pw.io.postgres.read(pg.settings, name, KeyedItem, mode="static")
    assert pw.debug.table_to_pandas(t).to_dict("records") == [{"name": "a", "qty": 1}]
    assert not _slot_exists(pg, t)
