"""Unit tests of the engine on its own: batches, ids, stateless operators, the scheduler."""

import polars as pl
import pytest

from reflow.engine.batch import DIFF, ID, consolidate, empty_batch
from reflow.engine.dataflow import Dataflow
from reflow.engine.ids import hash_columns, hash_values
from reflow.engine.operator import RunContext
from reflow.engine.operators.stateless import (
    ConcatOperator,
    FilterOperator,
    FlattenOperator,
    InputOperator,
    MapOperator,
    OutputOperator,
    ReindexOperator,
)


def batch(rows, columns=("x",)):
    """rows: (id, *values, diff)"""
    data = {ID: [r[0] for r in rows]}
    for i, c in enumerate(columns):
        data[c] = [r[1 + i] for r in rows]
    data[DIFF] = [r[-1] for r in rows]
    return pl.DataFrame(data, schema_overrides={ID: pl.UInt128, DIFF: pl.Int64})


def rows_of(frame):
    return sorted(frame.rows()) if frame is not None else []


def test_consolidate_cancels_matching_insert_and_retract():
    out = consolidate(batch([(1, 5, 1), (1, 5, -1), (2, 7, 1)]))
    assert rows_of(out) == [(2, 7, 1)]


def test_consolidate_keeps_an_update():
    out = consolidate(batch([(1, 5, -1), (1, 6, 1)]))
    assert rows_of(out) == [(1, 5, -1), (1, 6, 1)]


def test_consolidate_merges_duplicates_and_handles_nan():
    out = consolidate(batch([(1, float("nan"), 1), (1, float("nan"), -1), (2, 1.0, 1),
                             (2, 1.0, 1)]))
    assert rows_of(out) == [(2, 1.0, 2)]


def test_consolidate_everything_cancelled_is_none():
    assert consolidate(batch([(1, 5, 1), (1, 5, -1)])) is None


def test_ids_are_deterministic_and_value_sensitive():
    frame = pl.DataFrame({"a": [1, 1, 2], "b": ["x", "x", "x"]})
    ids = hash_columns(frame, ["a", "b"]).to_list()
    assert ids[0] == ids[1] != ids[2]
    assert hash_values([1, "x"]) == ids[0]
    assert hash_values([1, "x"], salt="other") != ids[0]
    assert ids[0] >= 2**64 or ids[2] >= 2**64  # really 128-bit


def test_ids_of_objects_and_nulls():
    frame = pl.DataFrame({"o": pl.Series([(1, 2), (1, 2), None], dtype=pl.Object)})
    ids = hash_columns(frame, ["o"]).to_list()
    assert ids[0] == ids[1] != ids[2]
    assert hash_values([None]) == hash_columns(pl.DataFrame({"n": [None, 1]}), ["n"])[0]


def build_chain():
    flow = Dataflow()
    source = flow.add(InputOperator("in", {"x": pl.Int64}))
    doubled = flow.add(
        MapOperator(source, lambda f, ctx: f.with_columns(pl.col("x") * 2), "double")
    )
    big = flow.add(FilterOperator(doubled, lambda f, ctx: f["x"] > 4, "big"))
    seen = []
    ends = []
    flow.add(OutputOperator(big, "out", lambda t, d: seen.append((t, rows_of(d))),
                            on_time_end=ends.append))
    return flow, source, seen, ends


def test_map_filter_chain_propagates_retractions():
    flow, source, seen, ends = build_chain()
    flow.run_time(0, {source: batch([(1, 1, 1), (2, 3, 1)])})
    flow.run_time(1, {source: batch([(2, 3, -1), (2, 1, 1), (1, 1, -1), (1, 5, 1)])})
    assert seen == [(0, [(2, 6, 1)]), (1, [(1, 10, 1), (2, 6, -1)])]
    assert ends == [0, 1]


def test_time_must_not_go_back():
    flow, source, _, _ = build_chain()
    flow.run_time(3, {source: batch([(1, 1, 1)])})
    with pytest.raises(ValueError, match="went back"):
        flow.run_time(2, {source: batch([(1, 1, 1)])})


def test_sink_sees_whole_time_even_when_fed_twice():
    """Two pushes within one time reach the sink as one consolidated delta."""
    flow = Dataflow()
    a = flow.add(InputOperator("a", {"x": pl.Int64}))
    b = flow.add(InputOperator("b", {"x": pl.Int64}))
    union = flow.add(ConcatOperator([a, b], "union"))
    seen = []
    flow.add(OutputOperator(union, "out", lambda t, d: seen.append(rows_of(d))))
    flow.run_time(0, {a: batch([(1, 1, 1)]), b: batch([(1, 1, -1), (2, 2, 1)])})
    assert seen == [[(2, 2, 1)]]


def test_operator_must_be_added_after_its_inputs():
    flow = Dataflow()
    stray = InputOperator("stray", {"x": pl.Int64})
    with pytest.raises(ValueError, match="not in this dataflow"):
        flow.add(MapOperator(stray, lambda f, c: f, "m"))


def test_reindex_and_flatten():
    flow = Dataflow()
    source = flow.add(InputOperator("in", {"xs": pl.List(pl.Int64)}))

    def explode(series):
        frame = pl.DataFrame({"v": series}).with_row_index("row").with_columns(
            pl.int_ranges(0, pl.col("v").list.len()).alias("pos")).explode(["v", "pos"])
        return frame["row"], frame["pos"], frame["v"]

    flat = flow.add(FlattenOperator(source, "xs", "flat", explode, origin_column="origin"))
    rekeyed = flow.add(ReindexOperator(flat, lambda f, c: hash_columns(f, ["xs"]), "rekey"))
    seen = []
    flow.add(OutputOperator(rekeyed, "out", lambda t, d: seen.append(d)))
    data = pl.DataFrame({ID: [7], "xs": [[10, 20]], DIFF: [1]},
                        schema_overrides={ID: pl.UInt128, DIFF: pl.Int64})
    flow.run_time(0, {source: data})
    flow.run_time(1, {source: data.with_columns(pl.lit(-1, dtype=pl.Int64).alias(DIFF))})
    first, second = seen
    assert sorted(first["xs"].to_list()) == [10, 20]
    assert set(first["origin"].to_list()) == {7}
    assert first[ID].to_list() == hash_columns(first, ["xs"]).to_list()
    assert sorted(second[DIFF].to_list()) == [-1, -1]
    assert sorted(second[ID].to_list()) == sorted(first[ID].to_list())


def test_run_context_collects_errors_or_raises():
    ctx = RunContext()
    ctx.report_error("op", "bad", 1)
    assert ctx.errors[0].message == "bad"
    strict = RunContext(terminate_on_error=True)
    with pytest.raises(RuntimeError, match="op: bad"):
        strict.report_error("op", "bad")


def test_empty_batch_schema():
    frame = empty_batch({"x": pl.Int64})
    assert frame.columns == [ID, "x", DIFF]


def test_engine_does_not_import_upper_layers():
    """The engine's modules import nothing from the API, plan, runtime or connector layers."""
    import ast
    import pathlib

    import reflow.engine

    upper = ("reflow.api", "reflow.plan", "reflow.debug", "reflow.runtime", "reflow.io")
    offenders = []
    for path in pathlib.Path(reflow.engine.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{path.name}: {n}" for n in names if n.startswith(upper)]
    assert offenders == []
