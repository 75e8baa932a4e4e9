"""Selects of int arithmetic over small batches run on numpy (``plan/small_projections.py``);
whenever that path answers, its batch must be exactly the general Polars kernel's, and every
batch holding a cell that is an error (overflow, division by zero) or a null must be left to
the general kernel, which reports the errors."""

from __future__ import annotations

import random

import polars as pl
import pytest

import reflow as pw
from reflow.engine.batch import DIFF, ID, ID_DTYPE
from reflow.engine.operator import RunContext
from reflow.plan import small_projections
from reflow.plan.compile import ExpressionCompiler
from reflow.plan.small_projections import small_projection, with_small_projection
from tests.utils import rows, updates

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
EDGES = [INT64_MIN, INT64_MIN + 1, -(2**62), -(2**31), -1, 0, 1, 2**31, 2**62, INT64_MAX - 1,
         INT64_MAX]


def _expressions() -> list:
    t = pw.this
    return [
        t.a - t.a % 10_000,  # Nexmark q8's window start
        t.a + t.b,
        t.a - t.b,
        t.a * t.b,
        t.a // t.b,
        t.a % t.b,
        -t.a,
        t.a * 3 + t.b // -7,
        2 - t.a % -3,  # never an error
        (t.a + t.b) * (t.a - t.b),
        t.c + 1,
        t.a // 0,
    ]


class S(pw.Schema):
    a: int
    b: int
    c: int | None
    s: str


def _node(expression) -> object:
    table = pw.debug.table_from_rows(S, [(1, 2, None, "x")])
    return table.select(pw.this.s, v=expression, a=pw.this.a)._node


def _frame(rng: random.Random, n: int, extreme: float, nulls: bool) -> pl.DataFrame:
    def value() -> int:
        if rng.random() < extreme:
            return rng.choice(EDGES)
        return rng.randint(-30_000, 30_000) if rng.random() < 0.5 else rng.randint(-9, 9)

    return pl.DataFrame({
        ID: pl.Series([rng.getrandbits(64) for _ in range(n)], dtype=ID_DTYPE),
        "a": [value() for _ in range(n)],
        "b": [value() for _ in range(n)],
        "c": [None if nulls and rng.random() < 0.3 else value() for _ in range(n)],
        "s": [rng.choice(["x", "y", ""]) for _ in range(n)],
        DIFF: [rng.choice([1, 1, -1]) for _ in range(n)],
    }, schema_overrides={"a": pl.Int64, "b": pl.Int64, "c": pl.Int64, DIFF: pl.Int64})


@pytest.mark.parametrize("index", range(len(_expressions())))
def test_small_projection_matches_the_general_kernel(index):
    node = _node(_expressions()[index])
    fallible = [name for name, info in node.columns.items() if info.fallible]
    small = small_projection(node.outputs, node_name, fallible)
    assert small is not None
    general = ExpressionCompiler("select", node_name).projection_kernel(node.outputs)
    rng = random.Random(index)
    answered = fell_back = 0
    for trial in range(120):
        n = rng.choice([1, 3, 40, 60, 2000]) if trial % 8 else 5000
        frame = _frame(rng, n, extreme=rng.choice([0.0, 0.0, 0.01, 0.2]),
                       nulls=rng.random() < 0.3)
        ctx = RunContext()
        expected = general(frame, ctx)
        got = small(frame)
        if got is None:
            fell_back += 1
            continue
        answered += 1
        assert not ctx.errors  # a batch with an error cell is never answered here
        assert got.schema == expected.schema
        assert got.equals(expected), (frame, got, expected)
    if index != len(_expressions()) - 1:  # (``a // 0`` is an error in every row)
        assert answered > 25
    assert fell_back > 0 or index == 8


def node_name(source: int, name: str) -> str:
    return ID if name == "id" else name


def test_only_int_arithmetic_over_error_free_columns_gets_a_small_projection():
    t = pw.debug.table_from_markdown("""
    a | x   | s
    1 | 1.5 | u
    """)
    for plain in (t.select(b=pw.this.a + 1), t.select(pw.this.s, b=-pw.this.a)):
        assert small_projection(plain._node.outputs, node_name) is not None
    for other in (
        t.select(pw.this.a, pw.this.s),  # picks only: the general kernel makes no query
        t.select(b=pw.this.x + 1.0),
        t.select(b=pw.this.a / 2),
        t.select(b=pw.this.a ** 2),
        t.select(b=pw.this.a > 0),
        t.select(b=pw.this.s + "v"),
        t.select(b=pw.this.a + 1, y=pw.this.x * 2),
    ):
        assert small_projection(other._node.outputs, node_name) is None
    failing = t.select(b=pw.this.a // 0)
    assert small_projection(failing.select(c=pw.this.b + 1)._node.outputs, node_name) is None


def test_kernel_falls_back_above_the_row_limit(monkeypatch):
    calls = []

    def general(frame, ctx):
        calls.append(frame.height)
        return frame

    run = with_small_projection(general, lambda frame: frame.head(0))
    frame = pl.DataFrame({"a": list(range(10))})
    assert run(frame, RunContext()).height == 0
    monkeypatch.setattr(small_projections, "SMALL_PROJECTION_ROWS", 5)
    assert run(frame, RunContext()).height == 10
    assert calls == [10]


def _stream(seed: int, n: int) -> pw.Table:
    class K(pw.Schema):
        k: int = pw.column_definition(primary_key=True)
        a: int
        b: int
        c: int | None

    rng = random.Random(seed)
    data = []
    for key in range(n):
        a = rng.choice(EDGES) if rng.random() < 0.02 else rng.randint(-50_000, 50_000)
        b = rng.choice([0, -1, 7, -10_000]) if rng.random() < 0.05 else rng.randint(-99, 99)
        c = None if rng.random() < 0.1 else rng.randint(-5, 5)
        data.append((key, a, b, c, 2 + 2 * (key % 7), 1))
    for row in rng.sample(data, n // 4):
        data.append((*row[:4], 16, -1))
    return pw.debug.table_from_rows(K, data, is_stream=True)


@pytest.mark.parametrize("n", [60, 6000])
def test_streaming_selects_give_the_general_results_and_errors(n, monkeypatch):
    table = _stream(n, n)
    t = pw.this
    result = table.select(
        t.a, w=t.a - t.a % 10_000, q=t.a // t.b, r=t.a % t.b, p=t.a * t.b, m=t.c - t.a,
    ).select(
        t.a, t.w, q=pw.fill_error(t.q, -1), r=pw.fill_error(t.r, -1),
        p=pw.fill_error(t.p, -1), m=pw.fill_error(t.m, -1),
    )
    plain = table.select(w=t.a - t.a % 10_000, v=t.b * 3 + 1)  # errors only at the edges
    fast = [rows(result, terminate_on_error=False), updates(result, terminate_on_error=False),
            updates(plain, terminate_on_error=False)]
    assert any(row[2] == -1 for row in fast[0])  # some rows divided by zero
    monkeypatch.setattr(small_projections, "SMALL_PROJECTION_ROWS", -1)
    assert rows(result, terminate_on_error=False) == fast[0]
    assert updates(result, terminate_on_error=False) == fast[1]
    assert updates(plain, terminate_on_error=False) == fast[2]
