"""pw.io.http.serve_table: snapshots and Server-Sent Events over real sockets."""

from __future__ import annotations

import json
import queue
import threading

import httpx

import reflow as pw
from tests.io.live import Collector, run_while


class Feed(pw.io.python.ConnectorSubject):
    """Rows sent by the test: each list of (player, points) upserts (points None deletes) is
    one commit."""

    def __init__(self) -> None:
        super().__init__()
        self.commits: queue.Queue = queue.Queue()

    def run(self) -> None:
        while (changes := self.commits.get()) is not None:
            for player, points in changes:
                if points is None:
                    self.delete(player=player, points=0)
                else:
                    self.next(player=player, points=points)
            self.commit()

    def on_stop(self) -> None:
        self.commits.put(None)


class Score(pw.Schema):
    player: str = pw.column_definition(primary_key=True)
    points: int


def leaderboard():
    feed = Feed()
    scores = pw.io.python.read(feed, schema=Score, autocommit_duration_ms=None)
    board = scores.select(pw.this.player, pw.this.points, double=pw.this.points * 2)
    webserver = pw.io.http.PathwayWebserver(host="127.0.0.1", port=0)
    pw.io.http.serve_table(board, webserver=webserver, route="/board")
    return feed, board, webserver


class Follower:
    """Reads an event stream in a thread and applies it like a web page would."""

    def __init__(self, url: str) -> None:
        self.rows: dict[str, dict] = {}
        self.snapshot_time = None
        self.times: list[int] = []
        self.cond = threading.Condition()
        self.thread = threading.Thread(target=self._follow, args=(url,), daemon=True)
        self.connected = threading.Event()
        self.thread.start()

    def _follow(self, url: str) -> None:
        with httpx.stream("GET", url, timeout=30) as response:
            event = None
            for line in response.iter_lines():
                if line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: "):
                    self._apply(event, json.loads(line[6:]))

    def _apply(self, event: str, data: dict) -> None:
        with self.cond:
            if event == "snapshot":
                self.rows = {row.pop("id"): row for row in data["rows"]}
                self.snapshot_time = data["time"]
                self.connected.set()
            else:
                self.times.append(data["time"])
                for change in data["changes"]:
                    if change["diff"] > 0:
                        assert change["id"] not in self.rows, "a row added twice"
                        self.rows[change["id"]] = change["row"]
                    else:
                        assert self.rows.pop(change["id"]) == change["row"]
            self.cond.notify_all()

    def values(self) -> list[tuple]:
        with self.cond:
            return sorted((r["player"], r["points"], r["double"]) for r in self.rows.values())

    def wait_values(self, expected: list[tuple]) -> None:
        with self.cond:
            assert self.cond.wait_for(lambda: self.values() == sorted(expected), 20), (
                self.values(), expected
            )


def test_snapshot_then_every_change_and_a_late_subscriber_misses_nothing():
    feed, board, webserver = leaderboard()
    collected = Collector(board)
    seen = {}

    def driver():
        assert webserver.wait_ready(10)
        base = webserver.url + "/board"
        feed.commits.put([("ann", 3), ("bob", 5)])
        collected.wait_rows([("ann", 3, 6), ("bob", 5, 10)])
        seen["snapshot"] = httpx.get(base).json()
        early = Follower(base + "/stream")
        assert early.connected.wait(10)
        early.wait_values([("ann", 3, 6), ("bob", 5, 10)])
        # Many commits while a second client connects somewhere in the middle.
        for i in range(30):
            feed.commits.put([("ann", 10 + i), (f"p{i}", i)])
            if i == 15:
                late = Follower(base + "/stream")
        feed.commits.put([("bob", None), ("p3", None)])
        feed.commits.put([("cid", 1)])
        collected.wait_for(lambda c: any(r[0] == "cid" for r in c.state.values()))
        final = collected.rows()
        early.wait_values(final)
        late.wait_values(final)
        seen["final"] = final
        seen["times"] = (early.times, late.times, late.snapshot_time)
        seen["current"] = httpx.get(base).json()

    run_while(driver)
    snapshot = seen["snapshot"]
    assert sorted((r["player"], r["points"], r["double"]) for r in snapshot["rows"]) == [
        ("ann", 3, 6), ("bob", 5, 10)
    ]
    assert all(set(r) == {"id", "player", "points", "double"} for r in snapshot["rows"])
    early_times, late_times, late_snapshot = seen["times"]
    assert early_times == sorted(set(early_times))
    assert late_times == [t for t in early_times if t > late_snapshot]
    assert sorted(
        (r["player"], r["points"], r["double"]) for r in seen["current"]["rows"]
    ) == seen["final"]
    assert seen["current"]["time"] == early_times[-1]


def test_reconnecting_client_gets_a_fresh_snapshot():
    feed, board, webserver = leaderboard()
    collected = Collector(board)

    def driver():
        assert webserver.wait_ready(10)
        url = webserver.url + "/board/stream"
        feed.commits.put([("ann", 1)])
        collected.wait_rows([("ann", 1, 2)])
        with httpx.stream("GET", url, timeout=10) as response:
            lines = response.iter_lines()
            assert next(lines) == "retry: 1000"
            assert next(lines) == "event: snapshot"
        feed.commits.put([("ann", 2), ("bob", 7)])
        collected.wait_rows([("ann", 2, 4), ("bob", 7, 14)])
        again = Follower(url)
        again.wait_values([("ann", 2, 4), ("bob", 7, 14)])

    run_while(driver)


def test_streams_end_when_the_pipeline_stops():
    feed, _, webserver = leaderboard()
    ended = threading.Event()
    connected = threading.Event()

    def follow():
        with httpx.stream("GET", webserver.url + "/board/stream", timeout=30) as response:
            for _ in response.iter_lines():
                connected.set()
        ended.set()

    def driver():
        assert webserver.wait_ready(10)
        threading.Thread(target=follow, daemon=True).start()
        assert connected.wait(10)
        feed.commits.put([("ann", 1)])

    run_while(driver)
    assert ended.wait(10)


def test_cells_of_every_kind_are_served_as_json():
    table = pw.debug.table_from_markdown(
        """
        name | n | x   | flag
        a    | 1 | 1.5 | True
        """
    ).select(
        pw.this.name,
        pw.this.n,
        pw.this.x,
        pw.this.flag,
        ref=pw.this.id,
        pair=pw.make_tuple(pw.this.n, pw.this.name),
        doc=pw.apply_with_type(lambda n: {"k": [n]}, pw.Json, pw.this.n),
        broken=pw.this.n // 0,
    )
    webserver = pw.io.http.PathwayWebserver(host="127.0.0.1", port=0)
    live = pw.io.http.serve_table(table, webserver=webserver, route="kinds")
    pw.run(monitoring_level=pw.MonitoringLevel.NONE, terminate_on_error=False)
    (row,) = live.snapshot()["rows"]
    assert row["ref"] == row["id"]
    assert row["id"].startswith("^")
    del row["id"], row["ref"]
    assert row == {"name": "a", "n": 1, "x": 1.5, "flag": True, "pair": [1, "a"],
                   "doc": {"k": [1]}, "broken": None}
    json.dumps(live.snapshot())
