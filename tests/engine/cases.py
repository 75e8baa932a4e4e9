"""Pipelines with every stateful operator of the engine, over generated update streams.

Each case builds a fresh pipeline on every call (same plan, same data). The streams have a hot
key (about half of the rows share key 0), updates, deletions and late event times.
"""

from __future__ import annotations

import datetime
import random

import polars as pl

import reflow as pw
from reflow.engine.batch import DIFF, ID
from reflow.engine.dataflow import Dataflow
from reflow.engine.ids import hash_columns
from reflow.engine.operators.future_map import (
    FutureInbox,
    FutureMapOperator,
    PendingCall,
    wake_batch,
)
from reflow.engine.operators.stateless import InputOperator, OutputOperator
from reflow.plan.nodes import ColumnInfo, InputNode, Universe
from reflow.runtime.sources import StaticSource
from tests.engine.replay import CURRENT_TIME, Built

T = pw.debug.table_from_markdown


def stream(seed: int, *, times: int = 6, labels: int = 10) -> str:
    """Markdown of an update stream with columns ``k`` (hot key 0), ``v`` and ``t`` (event
    time, mostly increasing, sometimes late)."""
    rng = random.Random(seed)
    lines = ["   | k | v | t | __time__ | __diff__"]
    live: dict[int, tuple] = {}

    def row() -> tuple:
        return (0 if rng.random() < 0.5 else rng.randint(1, 4), rng.randint(0, 20))

    for step in range(times):
        time = 2 * (step + 1)
        for label in rng.sample(range(labels), k=rng.randint(1, 4)):
            event_time = 3 * step + rng.randint(-4, 4)
            if label in live:
                old = live.pop(label)
                lines.append(f"{label} | {old[0]} | {old[1]} | {old[2]} | {time} | -1")
                if rng.random() < 0.4:
                    continue
            new = (*row(), event_time)
            live[label] = new
            lines.append(f"{label} | {new[0]} | {new[1]} | {new[2]} | {time} | 1")
    return "\n".join(lines)


def table(seed: int, **kwargs) -> pw.Table:
    return T(stream(seed, **kwargs))


# --- reduce ------------------------------------------------------------------------------------


def reduce_invertible():
    t = table(1)
    return t.groupby(t.k).reduce(t.k, n=pw.reducers.count(), s=pw.reducers.sum(t.v),
                                 a=pw.reducers.avg(t.v))


def reduce_count_distinct():
    t = table(2)
    return t.groupby(t.k).reduce(t.k, d=pw.reducers.count_distinct(t.v))


def reduce_general():
    t = table(3)
    return t.groupby(t.k).reduce(
        t.k, lo=pw.reducers.min(t.v), hi=pw.reducers.max(t.v), am=pw.reducers.argmin(t.v),
        st=pw.reducers.sorted_tuple(t.v), u=pw.reducers.unique(t.v % 2 + 1),
        any=pw.reducers.any(t.v),
    )


def _big_table(rows: int) -> pw.Table:
    """``rows`` insertions at time 2, built as one batch (no per-row parsing)."""
    labels = pl.DataFrame({"label": range(rows)})
    frame = pl.DataFrame({
        ID: hash_columns(labels, ["label"]),
        "k": pl.Series([i % 50 for i in range(rows)], dtype=pl.Int64),
        "v": pl.Series([i % 17 for i in range(rows)], dtype=pl.Int64),
        "t": pl.Series([i % 40 for i in range(rows)], dtype=pl.Int64),
        DIFF: pl.Series([1] * rows, dtype=pl.Int64),
    })
    columns = {name: ColumnInfo(pw.dt.INT) for name in ("k", "v", "t")}
    return pw.Table(InputNode(columns, Universe(), StaticSource([(2, frame)]), "big input"))


def reduce_columnar():
    """A first batch big enough for the columnar store, then small updates."""
    t = _big_table(5000).concat_reindex(table(4))
    return t.groupby(t.k).reduce(t.k, lo=pw.reducers.min(t.v), hi=pw.reducers.max(t.t),
                                 n=pw.reducers.count())


def reduce_global():
    t = table(5)
    return t.reduce(hi=pw.reducers.max(t.v), n=pw.reducers.count())


def reduce_stateful():
    @pw.reducers.stateful_single
    def total(state, v):
        return (state or 0) + v

    only_inserts = T("""
    k | v | __time__
    1 | 2 | 2
    1 | 3 | 4
    2 | 5 | 6
    1 | 7 | 8
    """)
    return only_inserts.groupby(only_inserts.k).reduce(only_inserts.k, s=total(only_inserts.v))


# --- joins -------------------------------------------------------------------------------------


def _join(how: str, **kwargs):
    a, b = table(7), table(8)
    method = getattr(a, {"inner": "join", "left": "join_left", "right": "join_right",
                         "outer": "join_outer"}[how])
    return method(b, a.k == b.k, **kwargs).select(x=pw.left.v, y=pw.right.v)


def join_inner():
    return _join("inner")


def join_left():
    return _join("left")


def join_right():
    return _join("right")


def join_outer():
    return _join("outer")


def join_id_from_left():
    a, b = table(9), table(10)
    totals = b.groupby(b.k).reduce(b.k, s=pw.reducers.sum(b.v))
    return a.join_left(totals, a.k == totals.k, id=a.id).select(x=pw.left.v, s=pw.right.s)


# --- universes, ix ----------------------------------------------------------------------------


def update_rows():
    a, b = table(11), table(12)
    return a.update_rows(b)


def update_cells():
    a = table(13)
    return a.update_cells(a.filter(a.k == 0).select(v=a.v * 10))


def restrict():
    a = table(14)
    return a.restrict(a.filter(a.v > 5))


def difference():
    return table(15).difference(table(16))


def intersect():
    return table(17).intersect(table(18))


def ix():
    a = table(19)
    totals = a.groupby(a.k).reduce(s=pw.reducers.sum(a.v))
    return a.select(a.v, s=totals.ix(totals.pointer_from(a.k)).s)


# --- ordered -----------------------------------------------------------------------------------


def sort():
    t = table(20)
    return t.sort(key=t.v)


def sort_instance():
    t = table(21)
    return t.sort(key=t.v, instance=t.k)


def ordered_diff():
    t = table(22)
    return pw.ordered.diff(t, t.t, t.v)


def deduplicate():
    t = table(23)
    return t.deduplicate(value=t.v, instance=t.k, acceptor=lambda new, old: new > old)


def to_stream_and_back():
    t = table(24)
    return t.to_stream().stream_to_table(pw.this.is_upsert)


def from_streams():
    events = table(25).to_stream()
    upserts = events.filter(pw.this.is_upsert).without(pw.this.is_upsert)
    return upserts.from_streams(events.filter(~pw.this.is_upsert))


# --- temporal ----------------------------------------------------------------------------------


def _window(behavior):
    t = table(24)
    return t.windowby(t.t, window=pw.temporal.tumbling(5), behavior=behavior).reduce(
        s=pw.this._pw_window_start, total=pw.reducers.sum(pw.this.v), n=pw.reducers.count()
    )


def window_delay():
    return _window(pw.temporal.common_behavior(delay=4))


def window_cutoff():
    return _window(pw.temporal.common_behavior(cutoff=3, keep_results=False))


def window_cutoff_kept():
    return _window(pw.temporal.common_behavior(cutoff=3))


def session_window():
    t = table(25)
    return t.windowby(t.t, window=pw.temporal.session(max_gap=3), instance=t.k).reduce(
        s=pw.this._pw_window_start, n=pw.reducers.count()
    )


def buffer():
    t = table(26)
    return t.buffer(t.t, 4)


def forget():
    t = table(27)
    return t.forget(t.t, 4)


def ignore_late():
    t = table(28)
    return t.ignore_late(t.t, 4)


def asof_join():
    a, b = table(29), table(30)
    return a.asof_join_left(b, a.t, b.t, a.k == b.k).select(x=pw.left.v, y=pw.right.v)


def asof_join_behavior():
    a, b = table(31), table(32)
    return a.asof_join_outer(
        b, a.t, b.t, behavior=pw.temporal.common_behavior(delay=2, cutoff=5, keep_results=False)
    ).select(x=pw.left.v, y=pw.right.v)


def asof_now_join():
    a, b = table(33), table(34)
    return a.asof_now_join_left(b, a.k == b.k).select(x=pw.left.v, y=pw.right.v)


def interval_join():
    a, b = table(35), table(36)
    return a.interval_join_outer(b, a.t, b.t, pw.temporal.interval(-2, 2), a.k == b.k).select(
        x=pw.left.v, y=pw.right.v
    )


_BASE = datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC)


def inactivity():
    """Wall clock = logical time in seconds, so that every build sees the same readings."""
    data = table(37)
    clock = T("""
    ts                       | __time__
    2024-01-01T00:00:00+0000 | 2
    2024-01-01T00:00:06+0000 | 6
    2024-01-01T00:00:09+0000 | 8
    2024-01-01T00:00:20+0000 | 12
    """).select(timestamp_utc=pw.this.ts.dt.strptime("%Y-%m-%dT%H:%M:%S%z"))
    seconds = int(_BASE.timestamp())
    return pw.temporal.inactivity_detection(
        data, datetime.timedelta(seconds=3), instance=data.k, _clock=clock,
        _now=lambda: (seconds + CURRENT_TIME[0]) * 10**9,
    )


# --- UDFs --------------------------------------------------------------------------------------


def memo_map():
    """A result that depends on when it is computed: a retraction must retract the
    remembered value, not a new one."""

    @pw.udf(deterministic=False)
    def stamp(v: int) -> int:
        return v * 1000 + CURRENT_TIME[0]

    t = table(38)
    return t.select(t.k, s=stamp(t.v))


FUTURE_SCHEMA = {ID: pl.UInt128, "x": pl.Int64, "y": pl.Object, "_y_err": pl.Boolean,
                 DIFF: pl.Int64}


def future_map():
    """Engine level: results of asynchronous calls arrive at later times."""
    flow = Dataflow()
    columns = {k: v for k, v in FUTURE_SCHEMA.items() if k not in (ID, DIFF)}
    rows = flow.add(InputOperator("rows", columns))
    wake = flow.add(InputOperator("wake", {}))
    inbox = FutureInbox()
    op = flow.add(FutureMapOperator(rows, wake, FUTURE_SCHEMA, {"y": "_y_err"}, inbox, "future"))
    built = Built(flow, {})
    flow.add(OutputOperator(op, "out", lambda t, d: built.seen.extend(
        (t, r[ID], repr((r["x"], r["y"], r["_y_err"])), r[DIFF]) for r in d.rows(named=True)
    )))
    calls = {label: PendingCall() for label in range(6)}

    def delta(changes):
        return pl.DataFrame(
            {ID: [c[0] for c in changes], "x": [c[0] * 10 for c in changes],
             "y": [calls[c[0]] for c in changes], "_y_err": [False] * len(changes),
             DIFF: [c[1] for c in changes]},
            schema=FUTURE_SCHEMA,
        )

    built.batches = {
        2: [(rows, delta([(1, 1), (2, 1)]))],
        4: [(wake, wake_batch())],
        6: [(rows, delta([(3, 1), (1, -1)]))],
        8: [(wake, wake_batch())],
        10: [(rows, delta([(2, -1), (4, 1)]))],
        12: [(wake, wake_batch())],
    }
    results = {3: [1, 2], 7: [3], 11: [4]}  # finished just before the wake-up times

    def before_time(time: int) -> None:
        for label in results.get(time - 1, []):
            inbox.put(calls[label], label * 100)

    built.before_time = before_time
    built.splits = (2, 4)  # after times 4 and 8, when no call is running
    return built


# --- iterate ------------------------------------------------------------------------------------


def iterate_components():
    """Connected components through ``pw.iterate``: edges ``k`` - ``v % 5`` come and go."""
    t = table(21)
    edges = t.select(u=t.pointer_from(t.k), v=t.pointer_from(t.v % 5))
    return pw.stdlib.graphs.connected_components(edges)


# --- nearest neighbours ---------------------------------------------------------------------------


def _vector_tables(seed: int) -> tuple[pw.Table, pw.Table]:
    rows = table(seed).with_columns(vec=pw.make_tuple(pw.this.k, pw.this.v))
    queries = table(seed + 1).with_columns(vec=pw.make_tuple(pw.this.k, pw.this.v))
    return rows, queries


def knn_revised():
    data, queries = _vector_tables(41)
    index = pw.indexing.DataIndex(data, pw.indexing.BruteForceKnn(
        data.vec, None, dimensions=2, metric=pw.indexing.BruteForceKnnMetricKind.L2SQ))
    return index.query(queries.vec, number_of_matches=2).select(
        x=pw.left.v, y=pw.right.v, s=pw.right._pw_index_reply_score)


def knn_lsh_flat():
    data, queries = _vector_tables(43)
    index = pw.indexing.DataIndex(data, pw.indexing.LshKnn(
        data.vec, None, dimensions=2, n_or=3, n_and=2, bucket_length=8.0))
    return index.query(queries.vec, number_of_matches=2, collapse_rows=False).select(
        x=pw.left.v, y=pw.right.v)


def knn_usearch_as_of_now():
    data, queries = _vector_tables(45)
    index = pw.indexing.DataIndex(data, pw.indexing.USearchKnn(
        data.vec, None, dimensions=2, metric=pw.indexing.USearchMetricKind.L2SQ))
    return index.query_as_of_now(queries.vec, number_of_matches=2).select(
        x=pw.left.v, y=pw.right.v)


CASES = {
    name: fn for name, fn in list(globals().items())
    if callable(fn) and getattr(fn, "__module__", None) == __name__
    and not name.startswith("_") and name not in {"stream", "table"}
}
