"""The reader framework with a connector written for the test: commits, resuming from
offsets, and reconnection after a lost connection without losing or repeating rows."""

from __future__ import annotations

import time

import reflow as pw
from reflow.io._common import input_table
from reflow.io._connector import Change, CommitMarker, MessageReader, ReaderSource, Skipped
from reflow.io._connector.retry import TransientError
from tests.io.live import Collector


class Log(MessageReader):
    """A log of ``rows`` read a few per call; ``fail_at`` positions lose the connection once
    (after some of the rows were read, none of them committed)."""

    description = "a test log"

    def __init__(self, rows: list[dict], per_read: int, commit_every: int, fail_at=()):
        self.rows = rows
        self.per_read = per_read
        self.commit_every = commit_every
        self.fail_at = set(fail_at)
        self.position = 0
        self.connects: list[dict] = []
        self.finished = False

    def connect(self, resume_from):
        self.connects.append(dict(resume_from))
        self.position = resume_from.get("log", 0)

    def read(self, timeout):
        events = []
        for _ in range(self.per_read):
            if self.position in self.fail_at:
                self.fail_at.discard(self.position)
                raise TransientError("connection reset by peer")
            if self.position >= len(self.rows):
                self.finished = True
                break
            row = self.rows[self.position]
            self.position += 1
            where = f"log offset {self.position - 1}"
            if "bad" in row:
                events.append(Skipped(where, "bad message", "log", self.position))
            else:
                events.append(Change(row, where, identity=("log", self.position - 1)))
            if self.position % self.commit_every == 0:
                events.append(CommitMarker("log", self.position))
        return events

    def close(self):
        pass


class Item(pw.Schema):
    n: int


def read_log(reader: Log) -> tuple[pw.Table, ReaderSource]:
    source = ReaderSource(reader, Item.dtypes(), name="log", autocommit_ms=None)
    return input_table(Item.dtypes(), source, "test"), source


def test_a_lost_connection_drops_uncommitted_rows_and_reads_them_again_once():
    rows = [{"n": i} for i in range(20)]
    reader = Log(rows, per_read=2, commit_every=5, fail_at=[7, 13])
    t, source = read_log(reader)
    out = Collector(t)
    pw.run(monitoring_level=pw.MonitoringLevel.NONE)
    additions = sorted(u[0] for u in out.updates if u[-1] == 1)
    assert additions == list(range(20))  # nothing lost, nothing twice
    assert reader.connects == [{}, {"log": 5}, {"log": 10}]
    assert source.offsets == {"log": 20}


def test_commit_markers_make_logical_times_and_bad_messages_are_reported():
    rows = [{"n": 1}, {"bad": True}, {"n": 2}, {"n": "three"}]
    reader = Log(rows, per_read=4, commit_every=2)
    t, _ = read_log(reader)
    out = Collector(t)
    errors = Collector(pw.global_error_log().select(pw.this.message))
    pw.run(monitoring_level=pw.MonitoringLevel.NONE, terminate_on_error=False)
    times = {u[0]: u[1] for u in out.updates}
    assert sorted(times) == [1, 2] and times[1] != times[2]
    assert sorted(m for (m,) in errors.state.values()) == [
        "log offset 1: bad message",
        "log offset 3: column 'n': expected INT, got str 'three'",
    ]


def test_resume_from_starts_after_the_given_offsets():
    reader = Log([{"n": i} for i in range(6)], per_read=3, commit_every=3)
    t, source = read_log(reader)
    source.resume_from({"log": 3})
    out = Collector(t)
    pw.run(monitoring_level=pw.MonitoringLevel.NONE)
    assert sorted(u[0] for u in out.updates) == [3, 4, 5]


def test_terminate_on_error_makes_a_bad_message_fatal():
    import pytest

    reader = Log([{"n": 1}, {"bad": True}], per_read=2, commit_every=2)
    t, _ = read_log(reader)
    Collector(t)
    with pytest.raises(RuntimeError, match="log: log offset 1: bad message"):
        pw.run(monitoring_level=pw.MonitoringLevel.NONE, terminate_on_error=True)


class Keyed(pw.Schema):
    k: int = pw.column_definition(primary_key=True)
    v: int


def _keyed_updates(rows: list[dict]) -> list[tuple]:
    reader = Log(rows, per_read=100, commit_every=100)
    source = ReaderSource(reader, Keyed.dtypes(), name="log", primary_key=["k"],
                          autocommit_ms=None)
    out = Collector(input_table(Keyed.dtypes(), source, "test"))
    pw.run(monitoring_level=pw.MonitoringLevel.NONE)
    times = sorted({u[2] for u in out.updates})
    return sorted((u[0], u[1], times.index(u[2]), u[3]) for u in out.updates)


def test_large_keyed_commits_built_by_columns_equal_the_row_by_row_result(monkeypatch):
    from reflow.io._connector import rows as rows_module

    rows = [{"k": i % 40, "v": i} for i in range(100)]
    rows += [{"k": i % 70, "v": 1000 + i} for i in range(100)]
    rows += [{"k": 3, "v": "not an int"}] + [{"k": i, "v": -i} for i in range(99)]
    by_columns = _keyed_updates(rows)
    monkeypatch.setattr(rows_module, "FAST_PATH_ROWS", 10**9)
    from reflow.plan.nodes import forget_live_nodes
    from reflow.runtime.runner import clear_outputs

    clear_outputs()
    forget_live_nodes()
    row_by_row = _keyed_updates(rows)
    assert by_columns == row_by_row
    final = {}
    for k, v, _, diff in sorted(by_columns, key=lambda u: (u[2], u[3])):
        if diff > 0:
            final[k] = v
        else:
            assert final.pop(k) == v
    assert final == {**{i % 70: 1000 + i for i in range(100)}, **{i: -i for i in range(99)}}


class Paced(MessageReader):
    """``count`` rows, one per read, ``gap`` seconds apart, each with its own position."""

    description = "a paced test log"

    def __init__(self, count: int, gap: float):
        self.count, self.gap = count, gap
        self.position = 0
        self.finished = False

    def connect(self, resume_from):
        self.position = resume_from.get("log", 0)

    def read(self, timeout):
        if self.position >= self.count:
            self.finished = True
            return []
        time.sleep(self.gap)
        self.position += 1
        where = f"log offset {self.position - 1}"
        return [Change({"n": self.position - 1}, where, "log", self.position,
                       identity=("log", self.position - 1))]

    def close(self):
        pass


def _paced_times(count: int, gap: float, work: float) -> tuple[list[int], list[int]]:
    """The rows read by a pipeline that takes ``work`` seconds per logical time, and its
    logical times."""
    from reflow.plan.nodes import forget_live_nodes
    from reflow.runtime.runner import clear_outputs

    clear_outputs()
    forget_live_nodes()

    @pw.udf(max_batch_size=10**6)
    def slow(values: list[int]) -> list[int]:
        time.sleep(work)
        return values

    source = ReaderSource(Paced(count, gap), Item.dtypes(), name="log", autocommit_ms=10)
    t = input_table(Item.dtypes(), source, "test")
    out = Collector(t.select(n=slow(pw.this.n)))
    pw.run(monitoring_level=pw.MonitoringLevel.NONE)
    return sorted(u[0] for u in out.updates), sorted({u[1] for u in out.updates})


def test_time_based_commits_grow_while_the_run_loop_is_behind(monkeypatch):
    from reflow.io._connector import reader as reader_module

    rows, grown = _paced_times(100, 0.003, 0.1)
    assert rows == list(range(100))  # every row once
    monkeypatch.setattr(reader_module, "GROW_LIMIT_ROWS", 0)  # a commit every 10 ms
    rows, queued = _paced_times(100, 0.003, 0.1)
    assert rows == list(range(100))
    # one logical time per 0.1 s of work, against one per 10 ms of reading
    assert len(grown) * 2 < len(queued), (len(grown), len(queued))
