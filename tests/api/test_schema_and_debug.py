"""Schemas, dtypes and the debug helpers."""

import datetime

import numpy as np
import pandas as pd
import polars as pl
import pytest

import reflow as pw
from reflow.plan import dtypes as dt
from tests.utils import T, rows, rows_by_id, updates


class Orders(pw.Schema):
    order_id: int = pw.column_definition(primary_key=True)
    customer: str
    amount: float = pw.column_definition(default_value=0.0)
    note: str | None = None


def test_schema_class_properties():
    assert Orders.column_names() == ["order_id", "customer", "amount", "note"]
    assert Orders.primary_key_columns() == ["order_id"]
    assert Orders.default_values() == {"amount": 0.0, "note": None}
    assert Orders.typehints() == {"order_id": int, "customer": str, "amount": float,
                                  "note": str | None}
    assert Orders.without("note").column_names() == ["order_id", "customer", "amount"]
    assert Orders.with_types(amount=int).typehints()["amount"] is int


def test_schema_from_types_builder_and_union():
    a = pw.schema_from_types(x=int, y=str)
    b = pw.schema_builder({"z": pw.column_definition(dtype=float, primary_key=True)})
    assert (a | b).column_names() == ["x", "y", "z"]
    assert b.primary_key_columns() == ["z"]
    assert a == pw.schema_from_types(x=int, y=str)


def test_column_definition_name_overrides_attribute():
    class Renamed(pw.Schema):
        attr: int = pw.column_definition(name="real")

    assert Renamed.column_names() == ["real"]


@pytest.mark.parametrize(
    ("annotation", "expected"),
    [
        (int, dt.INT), (float, dt.FLOAT), (bool, dt.BOOL), (str, dt.STR), (bytes, dt.BYTES),
        (pw.Pointer, dt.POINTER), (pw.DateTimeNaive, dt.DATE_TIME_NAIVE),
        (pw.DateTimeUtc, dt.DATE_TIME_UTC), (pw.Duration, dt.DURATION), (pw.Json, dt.JSON),
        (pw.PyObjectWrapper, dt.PY_OBJECT_WRAPPER), (int | None, dt.Optional(dt.INT)),
        (tuple[int, str], dt.Tuple(dt.INT, dt.STR)), (list[int], dt.List(dt.INT)),
        (tuple[float, ...], dt.List(dt.FLOAT)), (np.ndarray, dt.Array()),
    ],
)
def test_dtype_of_annotation(annotation, expected):
    assert dt.wrap(annotation) == expected


def test_all_dtypes_round_trip_through_a_table():
    schema = pw.schema_from_types(
        i=int, f=float, b=bool, s=str, by=bytes, n=pw.DateTimeNaive, u=pw.DateTimeUtc,
        d=pw.Duration, j=pw.Json, o=int | None, tu=tuple[int, str], li=list[int],
        a=np.ndarray, w=pw.PyObjectWrapper,
    )
    naive = datetime.datetime(2024, 3, 1, 10, 30)
    aware = datetime.datetime(2024, 3, 1, 10, 30, tzinfo=datetime.UTC)
    row = (1, 2.5, True, "é", b"\x00", naive, aware, datetime.timedelta(seconds=3),
           pw.Json({"k": [1]}), None, (1, "x"), (1, 2), np.array([1, 2]),
           pw.wrap_py_object({1, 2}))
    t = pw.debug.table_from_rows(schema, [row])
    [out] = rows(t.select(*pw.this))
    assert out[:12] == row[:12]
    assert np.array_equal(out[12], row[12])
    assert out[13] == row[13]


def test_markdown_types_labels_and_special_columns():
    t = T(
        """
          | i | f   | b     | s      | o    | __time__ | __diff__
        a | 1 | 1.5 | True  | hello  | None | 2        | 1
        b | 2 | 2   | False | "w x"  | 3    | 2        | 1
        b | 2 | 2   | False | "w x"  | 3    | 4        | -1
        """
    )
    assert t.typehints() == {"i": int, "f": float, "b": bool, "s": str, "o": int | None}
    assert rows(t) == [(1, 1.5, True, "hello", None)]
    assert list(rows_by_id(t)) == [pw.pointer_from("a")]


def test_markdown_with_schema_and_id_from():
    class S(pw.Schema):
        k: int = pw.column_definition(primary_key=True)
        v: float

    t = T(
        """
        k | v
        1 | 2
        """,
        schema=S,
    )
    assert t.typehints() == {"k": int, "v": float}
    assert list(rows_by_id(t)) == [pw.pointer_from(1)]
    u = T(
        """
        k | v
        5 | x
        """,
        id_from=["k"],
    )
    assert list(rows_by_id(u)) == [pw.pointer_from(5)]


def test_markdown_bad_line_is_reported():
    with pytest.raises(pw.BuildError, match="line 3 has 4 cells, expected 2"):
        T(
            """
            a | b
            1 | 2
            1 | 2 | 3 | 4
            """
        )


def test_unlabelled_retraction_matches_a_live_row():
    t = T(
        """
        v | __time__ | __diff__
        1 | 2        | 1
        1 | 2        | 1
        1 | 4        | -1
        """
    )
    assert rows(t) == [(1,)]
    # A retraction of a row that was never inserted stays a row of its own, with a negative
    # diff; a snapshot of such a table does not exist.
    lone = T(
        """
        v | __diff__
        1 | -1
        """
    )
    assert updates(lone) == [(1, 0, -1)]
    with pytest.raises(KeyError):
        rows(lone)


def test_table_from_pandas_uses_index_and_special_columns():
    df = pd.DataFrame({"a": [1, 2, 2], "__time__": [2, 2, 4], "__diff__": [1, 1, -1]},
                      index=[10, 11, 11])
    t = pw.debug.table_from_pandas(df)
    assert rows_by_id(t) == {pw.pointer_from(10): (1,)}
    assert pw.debug.table_from_pandas(pd.DataFrame({"k": [3]}), id_from=["k"]) is not None


@pytest.mark.parametrize("id_from", [None, ["k"]])
def test_large_pandas_tables_are_converted_per_worker_with_the_same_ids(id_from):
    from reflow.engine.sharding import share_of

    n = 100_001  # past the size whose tables share a universe, where conversion is deferred
    df = pd.DataFrame({"w": [f"w{i % 13}" for i in range(n)], "x": np.arange(n) % 5,
                       "f": np.arange(n) / 4, "b": np.arange(n) % 2 == 0},
                      index=np.arange(n)[::-1] * 3)
    df["k"] = df.index.astype(str)
    df["f"] = df["f"].where(np.arange(n) % 4 != 1, np.inf).where(np.arange(n) % 7 != 6, np.nan)
    df["s"] = (np.arange(n) % 3).astype(np.int32)  # not int64: converted through Python ints
    source = pw.debug.table_from_pandas(df, id_from=id_from)._node.source
    whole = source.batches[0][1]
    assert whole.schema["f"] == pl.Float64 and whole.schema["s"] == pl.Int64
    assert whole["f"].is_nan().sum() == n // 7 and whole["f"].null_count() == 0
    parts = [batch for w in range(2) for _, batch in source.share(w, 2)]
    assert [p.height for p in parts] == [share_of(whole, w, 2).height for w in range(2)]
    assert pl.concat(parts).equals(whole)
    # A row's id and values are those the same rows get in a small table, converted at once.
    head = rows_by_id(pw.debug.table_from_pandas(df.iloc[:5], id_from=id_from))
    big = dict(zip(whole["_id"].to_list(), whole.select("w", "x", "f", "b", "k", "s").rows()))
    assert {pw.Pointer(i): row for i, row in big.items() if pw.Pointer(i) in head} == head


def test_table_from_pandas_missing_values_become_none():
    df = pd.DataFrame(
        {
            "n": pd.array([None, 7], dtype="Int64"),
            "t": pd.to_datetime([None, "2024-05-01"]),
        }
    )
    t = pw.debug.table_from_pandas(df)
    assert t.typehints() == {"n": int | None, "t": pw.DateTimeNaive | None}
    assert rows(t) == [(7, datetime.datetime(2024, 5, 1)), (None, None)]


def test_table_from_parquet(tmp_path):
    path = tmp_path / "t.parquet"
    pd.DataFrame({"a": [1, 2], "s": ["x", "y"]}).to_parquet(path)
    assert rows(pw.debug.table_from_parquet(str(path))) == [(1, "x"), (2, "y")]


def test_table_from_rows_stream_and_primary_key_upsert():
    class S(pw.Schema):
        k: str = pw.column_definition(primary_key=True)
        v: int

    t = pw.debug.table_from_rows(S, [("a", 1, 0, 1), ("a", 2, 2, 1)], is_stream=True)
    assert updates(t) == sorted([("a", 1, 0, 1), ("a", 1, 2, -1), ("a", 2, 2, 1)], key=repr)


def test_compute_and_print_options(capsys):
    t = T(
        """
           | v
        10 | b
        11 | a
        12 | c
        """
    )
    pw.debug.compute_and_print(t, include_id=False, n_rows=2)
    assert capsys.readouterr().out == "v\na\nb\n"
    pw.debug.compute_and_print(t, short_pointers=False)
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 4 and str(pw.pointer_from(10)) in "\n".join(out)
    pw.debug.compute_and_print(t)
    assert all(line.startswith("^") and "..." in line for line in capsys.readouterr().out
               .splitlines()[1:])


def test_compute_and_print_update_stream(capsys):
    t = T(
        """
          | v | __time__
        1 | 1 | 2
        1 | 2 | 4
        """
    )
    pw.debug.compute_and_print_update_stream(t, include_id=False)
    assert capsys.readouterr().out.splitlines() == [
        "v | __time__ | __diff__",
        "1 | 2        | 1",
        "1 | 4        | -1",
        "2 | 4        | 1",
    ]


def test_table_to_pandas_and_dicts():
    t = T(
        """
           | v
        10 | x
        """
    )
    frame = pw.debug.table_to_pandas(t)
    assert list(frame.index) == [pw.pointer_from(10)] and frame["v"].tolist() == ["x"]
    assert list(pw.debug.table_to_pandas(t, include_id=False).columns) == ["v"]
    keys, columns = pw.debug.table_to_dicts(t)
    assert keys == [pw.pointer_from(10)] and columns == {"v": {pw.pointer_from(10): "x"}}


def test_json_access():
    schema = pw.schema_from_types(j=pw.Json)
    t = pw.debug.table_from_rows(schema, [({"a": {"b": 3}, "s": "x", "n": None},)])
    r = t.select(b=pw.this.j["a"]["b"].as_int(), s=pw.this.j["s"].as_str(),
                 n=pw.this.j["n"].as_int(), missing=pw.this.j.get("zz"))
    assert r.typehints()["b"] == int | None
    assert rows(r, terminate_on_error=False) == [(3, "x", None, None)]
    bad = t.select(v=pw.this.j["s"].as_int())
    assert rows(bad, terminate_on_error=False) == [(pw.ERROR,)]
