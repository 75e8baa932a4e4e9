"""Whole programs on Ray actors (a real local Ray cluster) give the one-worker output, time by
time; sinks run in the calling process and see a logical time only once every actor has
finished it; an actor's error reaches the user as the program's own exception."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

import reflow as pw
from reflow.engine.operator import RunContext
from reflow.plan.nodes import forget_live_nodes
from reflow.runtime.ray_workers import RayConfig, run_on_ray
from reflow.runtime.runner import build, clear_outputs, registered_outputs


def _program(sink_events: list) -> None:
    """A hot key ("a": 80 % of the rows) and cold ones over 6 logical times, per-key totals
    joined back to the rows, and a subscriber recording changes and time ends."""
    rows = "\n".join(
        f"{'a' if i % 5 else 'k' + str(i % 7)} | {i} | {2 * (i // 20)}" for i in range(120)
    )
    t = pw.debug.table_from_markdown("w | n | __time__\n" + rows)
    totals = t.groupby(t.w).reduce(t.w, s=pw.reducers.sum(t.n), c=pw.reducers.count())
    joined = totals.join(t, totals.w == t.w).select(t.n, totals.s, totals.c)
    pw.io.subscribe(
        joined,
        on_change=lambda key, row, time, is_addition: sink_events.append(
            ("row", time, tuple(sorted(row.items())), is_addition)),
        on_time_end=lambda time: sink_events.append(("end", time)),
        on_end=lambda: sink_events.append(("finish",)),
    )


def _run(monkeypatch: pytest.MonkeyPatch, actors: int | None) -> list:
    clear_outputs()
    forget_live_nodes()
    events: list = []
    _program(events)
    if actors is None:
        monkeypatch.delenv("REFLOW_RAY_ACTORS", raising=False)
    else:
        monkeypatch.setenv("REFLOW_RAY_ACTORS", str(actors))
    pw.run()
    return events


def _by_time(events: list) -> dict[int, Counter]:
    out: dict[int, Counter] = {}
    for event in events:
        if event[0] == "row":
            out.setdefault(event[1], Counter())[event[2:]] += 1
    return out


@pytest.mark.parametrize("actors", [1, 2, 3])
def test_actors_give_the_one_worker_stream_and_never_half_a_time(
    ray_cluster, monkeypatch: pytest.MonkeyPatch, actors: int
) -> None:
    expected = _run(monkeypatch, None)
    got = _run(monkeypatch, actors)
    assert _by_time(got) == _by_time(expected)
    assert len(_by_time(got)) > 3
    # Every row of a time arrives before that time's end, and no row of it after.
    ended: set[int] = set()
    for event in got:
        if event[0] == "row":
            assert event[1] not in ended, f"a row of time {event[1]} came after its end"
        elif event[0] == "end":
            ended.add(event[1])
    assert got[-1] == ("finish",)
    assert [e for e in got if e[0] == "end"] == [e for e in expected if e[0] == "end"]


def test_files_are_written_by_the_calling_process(
    ray_cluster, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    outputs = {}
    for name, actors in (("one", None), ("ray", "2")):
        clear_outputs()
        forget_live_nodes()
        t = pw.debug.table_from_markdown("w\n" + "\n".join("abcab"[i % 5] for i in range(50)))
        counts = t.groupby(t.w).reduce(t.w, c=pw.reducers.count())
        pw.io.csv.write(counts, tmp_path / f"{name}.csv")
        if actors is None:
            monkeypatch.delenv("REFLOW_RAY_ACTORS", raising=False)
        else:
            monkeypatch.setenv("REFLOW_RAY_ACTORS", actors)
        pw.run()
        outputs[name] = sorted((tmp_path / f"{name}.csv").read_text().splitlines())
    assert outputs["ray"] == outputs["one"]
    assert len(outputs["ray"]) == 4  # header and three words


def test_an_actor_error_is_the_programs_exception(
    ray_cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    clear_outputs()
    forget_live_nodes()
    t = pw.debug.table_from_markdown("a | b\n" + "\n".join(f"{i} | {i % 3}" for i in range(30)))
    totals = t.groupby(t.b).reduce(t.b, s=pw.reducers.sum(t.a))
    pw.io.subscribe(totals.select(q=totals.s // totals.b), on_change=lambda **_: None)
    monkeypatch.setenv("REFLOW_RAY_ACTORS", "2")
    with pytest.raises(ZeroDivisionError):
        pw.run()


def test_stats_count_rows_and_bytes_per_actor(ray_cluster) -> None:
    clear_outputs()
    forget_live_nodes()
    events: list = []
    _program(events)
    specs = registered_outputs()
    stats = run_on_ray(lambda: build(specs, RunContext()), actors=2)
    assert len(stats.rows_processed) == 2 and all(n > 0 for n in stats.rows_processed)
    assert all(n > 0 for n in stats.bytes_sent)
    assert len(stats.time_seconds) == len(_by_time(events))
    assert len(stats.lag_seconds) == len(stats.time_seconds)
    assert all(lag >= 0 for lag in stats.lag_seconds)
    median, p99 = stats.per_time()
    assert 0 < median <= p99


def test_configuration_errors_name_the_variable() -> None:
    with pytest.raises(ValueError, match="REFLOW_RAY_ACTORS must be at least 1"):
        RayConfig.from_env({"REFLOW_RAY_ACTORS": "0"})
    with pytest.raises(ValueError, match="REFLOW_RAY_ACTORS must be an integer"):
        RayConfig.from_env({"REFLOW_RAY_ACTORS": "two"})


def test_large_batches_go_through_the_object_store(
    ray_cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Batches above the inline size (64 KiB) travel as object-store references."""
    import pandas as pd

    def program(seen: list) -> None:
        clear_outputs()
        forget_live_nodes()
        words = pd.DataFrame({"w": [f"word-{i % 9000:05d}" for i in range(30000)]})
        t = pw.debug.table_from_pandas(words)
        counts = t.groupby(t.w).reduce(t.w, c=pw.reducers.count())
        pw.io.subscribe(counts, on_change=lambda key, row, time, is_addition: seen.append(
            (row["w"], row["c"], is_addition)))

    expected: list = []
    program(expected)
    monkeypatch.delenv("REFLOW_RAY_ACTORS", raising=False)
    pw.run()
    got: list = []
    program(got)
    specs = registered_outputs()
    stats = run_on_ray(lambda: build(specs, RunContext()), actors=2)
    assert sorted(got) == sorted(expected) and len(got) == 9000
    assert max(stats.bytes_sent) > 64 * 1024


def test_live_sources_are_read_here_and_run_on_the_actors(
    ray_cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Python subject (which holds a lock, so cannot travel to an actor) is read by the
    calling process; each commit runs on the actors as one logical time."""
    import threading

    class Feed(pw.io.python.ConnectorSubject):
        def __init__(self) -> None:
            super().__init__()
            self.lock = threading.Lock()

        def run(self) -> None:
            for commit in range(8):
                for i in range(commit * 5, commit * 5 + 5):
                    self.next(w="a" if i % 3 else f"k{i % 4}", n=i)
                if commit == 5:
                    self.delete(w="a", n=4)
                self.commit()

    class Row(pw.Schema):
        w: str
        n: int

    def run(actors: str | None) -> list[list[tuple]]:
        clear_outputs()
        forget_live_nodes()
        t = pw.io.python.read(Feed(), schema=Row, autocommit_duration_ms=None)
        totals = t.groupby(t.w).reduce(t.w, s=pw.reducers.sum(t.n), c=pw.reducers.count())
        joined = totals.join(t, totals.w == t.w).select(t.n, totals.s)
        seen: dict[int, list[tuple]] = {}
        for table in (totals, joined):
            pw.io.subscribe(table, on_change=lambda key, row, time, is_addition: seen.setdefault(
                time, []).append((tuple(sorted(row.items())), is_addition)))
        if actors is None:
            monkeypatch.delenv("REFLOW_RAY_ACTORS", raising=False)
        else:
            monkeypatch.setenv("REFLOW_RAY_ACTORS", actors)
        pw.run(monitoring_level=pw.MonitoringLevel.NONE)
        # Logical times come from the wall clock: compare commit by commit.
        return [sorted(seen[time]) for time in sorted(seen)]

    expected = run(None)
    assert len(expected) == 8
    assert run("2") == expected


@pytest.mark.parametrize("checkpoint_seconds", ["0", "3600"])
def test_a_dead_actor_is_replaced_and_the_sinks_see_every_time_once(
    ray_cluster, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, checkpoint_seconds: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An actor's process dies in the middle of the run (once: a marker file says it did);
    the actors restart from the last checkpoint (taken after every time, or none: from the
    start), run the times since then again, and the subscriber's stream equals the
    one-worker stream with nothing lost or repeated."""
    import os

    marker = tmp_path / "died"
    driver = os.getpid()

    @pw.udf
    def fragile(total: int) -> int:
        if os.getpid() != driver and total > 400 and not marker.exists():
            marker.write_text("once")
            os._exit(1)  # the actor's process dies without a word
        return total

    def run(actors: str | None) -> list:
        clear_outputs()
        forget_live_nodes()
        rows = "\n".join(f"{'a' if i % 3 else 'k' + str(i % 5)} | {i} | {2 * (i // 10)}"
                         for i in range(80))
        t = pw.debug.table_from_markdown("w | n | __time__\n" + rows)
        totals = t.groupby(t.w).reduce(t.w, s=pw.reducers.sum(t.n))
        events: list = []
        pw.io.subscribe(
            totals.select(totals.w, s=fragile(totals.s)),
            on_change=lambda key, row, time, is_addition: events.append(
                (time, row["w"], row["s"], is_addition)),
            on_time_end=lambda time: events.append(("end", time)),
        )
        if actors is None:
            monkeypatch.delenv("REFLOW_RAY_ACTORS", raising=False)
        else:
            monkeypatch.setenv("REFLOW_RAY_ACTORS", actors)
        pw.run()
        return events

    def by_time(events: list) -> list:
        """Each time's changes (in any order within the time) followed by its end."""
        out: list = []
        for event in events:
            if event[0] == "end":
                out.append((sorted(e for e in events if e[0] == event[1]), event))
        return out

    monkeypatch.setenv("REFLOW_RAY_CHECKPOINT_SECONDS", checkpoint_seconds)
    expected = run(None)
    got = run("2")
    assert marker.exists()  # an actor did die
    restart = "last checkpoint" if checkpoint_seconds == "0" else "start"
    assert f"restarting the 2 actors from the {restart}" in caplog.text
    assert by_time(got) == by_time(expected)
    assert len(got) == len(expected)  # nothing delivered twice


def _run_python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300, cwd=Path(__file__).resolve().parents[2])


def test_ray_starts_in_a_process_that_built_a_usearch_index() -> None:
    # usearch's NumKong library exports C++ runtime symbols globally; a Ray started after it
    # aborted in ray.init unless Ray's runtime was loaded first.
    done = _run_python(
        "from reflow.engine.state.vectors import USearchBackend\n"
        "USearchBackend(4, 'l2sq')\n"
        "import ray\n"
        "ray.init(num_cpus=1, include_dashboard=False)\n"
        "print('ray started', ray.is_initialized())\n"
        "ray.shutdown()\n"
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "ray started True" in done.stdout


def test_ray_refuses_clearly_after_usearch_was_imported_first() -> None:
    done = _run_python(
        "import os, usearch.index\n"
        "os.environ['REFLOW_RAY_ACTORS'] = '1'\n"
        "import reflow as pw\n"
        "t = pw.debug.table_from_markdown('a\\n1')\n"
        "try:\n"
        "    pw.debug.compute_and_print(t)\n"
        "except RuntimeError as error:\n"
        "    print('refused:', error)\n"
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "refused: Ray cannot start in this process: usearch was imported" in done.stdout
