"""The correctness oracle (``tests/oracle``) applied to windows and temporal joins.

Generated update streams (inserts, updates, deletes, re-inserts, several changes per time)
feed windowby/reduce and temporal joins over the int column ``v`` and the datetime column
``d``; at every logical time the incremental output must equal a static run on the snapshot
of the inputs (``harness.check_case``). Behaviors are left out: they depend on arrival order
by design.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

import reflow as pw
from tests.oracle import model as m
from tests.oracle import strategies as S
from tests.oracle.harness import check_case
from tests.oracle.profiles import oracle_settings

HOUR = datetime.timedelta(hours=1)


def _window(kind: str, time: str) -> Any:
    unit = HOUR if time == "d" else 1
    if kind == "tumbling":
        return pw.temporal.tumbling(3 * unit)
    if kind == "sliding":
        return pw.temporal.sliding(hop=2 * unit, duration=5 * unit)
    return pw.temporal.session(max_gap=2 * unit)


@dataclass(frozen=True)
class Windowed(m.Node):
    src: m.Node
    kind: str  # tumbling | sliding | session
    time: str  # v | d
    instance: bool

    @property
    def schema(self):
        kind = m.DT if self.time == "d" else m.INT
        out = {"start": kind, "end": kind, "n": m.INT, "total": m.INT}
        if self.instance:
            out["i"] = m.INT
        return out

    def children(self):
        return (self.src,)

    def build(self, inputs):
        t = self.src.build(inputs)
        grouped = t.windowby(t[self.time], window=_window(self.kind, self.time),
                             instance=t.k if self.instance else None)
        extra = {"i": pw.this._pw_instance} if self.instance else {}
        return grouped.reduce(start=pw.this._pw_window_start, end=pw.this._pw_window_end,
                              n=pw.reducers.count(), total=pw.reducers.sum(pw.this.v), **extra)


@dataclass(frozen=True)
class TemporalJoin(m.Node):
    kind: str  # interval | tumbling | window | session | asof
    how: str
    time: str

    @property
    def schema(self):
        kind = m.DT if self.time == "d" else m.INT
        lopt = self.how in ("right", "outer")
        ropt = self.how in ("left", "outer")
        return {"lv": m.OINT if lopt else m.INT, "lt": kind if not lopt else "opt_" + kind,
                "rv": m.OINT if ropt else m.INT, "rt": kind if not ropt else "opt_" + kind}

    def build(self, inputs):
        a, b = inputs["t0"], inputs["t1"]
        unit = HOUR if self.time == "d" else 1
        mode = getattr(pw.JoinMode, self.how.upper())
        at, bt = a[self.time], b[self.time]
        if self.kind == "interval":
            joined = a.interval_join(b, at, bt, pw.temporal.interval(-2 * unit, unit),
                                     a.k == b.k, how=mode)
        elif self.kind == "session":
            joined = a.window_join(b, at, bt, pw.temporal.session(max_gap=2 * unit),
                                   a.k == b.k, how=mode)
        elif self.kind == "tumbling":
            joined = a.window_join(b, at, bt, pw.temporal.tumbling(3 * unit), a.k == b.k,
                                   how=mode)
        elif self.kind == "window":
            joined = a.window_join(b, at, bt, pw.temporal.sliding(hop=2 * unit,
                                                                 duration=4 * unit),
                                   a.k == b.k, how=mode)
        else:
            joined = a.asof_join(b, at, bt, a.k == b.k, how=mode)
        return joined.select(lv=pw.left.v, lt=pw.left[self.time], rv=pw.right.v,
                             rt=pw.right[self.time])


@st.composite
def window_cases(draw: Any) -> m.Case:
    n_times = draw(st.integers(2, 4))
    node = Windowed(m.Input("t0"), draw(st.sampled_from(["tumbling", "sliding", "session"])),
                    draw(st.sampled_from(["v", "d"])), draw(st.booleans()))
    return m.Case({"t0": draw(S.streams(n_times))}, node)


@st.composite
def join_cases(draw: Any) -> m.Case:
    n_times = draw(st.integers(2, 4))
    kind = draw(st.sampled_from(["interval", "tumbling", "window", "session", "asof"]))
    hows = ["left", "right", "outer"] if kind == "asof" else ["inner", "left", "right", "outer"]
    node = TemporalJoin(kind, draw(st.sampled_from(hows)), draw(st.sampled_from(["v", "d"])))
    return m.Case({"t0": draw(S.streams(n_times)), "t1": draw(S.streams(n_times))}, node)


@oracle_settings(scale=0.5)
@given(window_cases())
def test_windows_match_static_runs(case: m.Case) -> None:
    check_case(case, reference=False)


@oracle_settings(scale=0.5)
@given(join_cases())
def test_temporal_joins_match_static_runs(case: m.Case) -> None:
    check_case(case, reference=False)
