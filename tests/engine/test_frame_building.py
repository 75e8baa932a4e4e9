"""The engine's fast frame builders give the same frames as Polars' public constructors."""

import datetime

import polars as pl
import pytest

from reflow.engine.batch import frame_from_rows, pick_columns

SCHEMA = pl.Schema(
    {
        "_id": pl.UInt128,
        "n": pl.Int64,
        "x": pl.Float64,
        "s": pl.String,
        "o": pl.Object,
        "t": pl.Datetime("us"),
        "l": pl.List(pl.Int64),
        "b": pl.Boolean,
        "_diff": pl.Int64,
    }
)
ROWS = [
    (2**127 + 5, None, float("nan"), "x", (1, 2), datetime.datetime(2020, 1, 1), [1], True, -1),
    (3, 7, -0.0, None, {"k": 1}, None, None, None, 1),
]


def without_objects(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.drop("o")


def test_frame_from_rows_matches_the_public_constructor():
    fast = frame_from_rows(ROWS, SCHEMA)
    public = pl.DataFrame(ROWS, schema=SCHEMA, orient="row")
    assert fast.schema == public.schema
    assert without_objects(fast).equals(without_objects(public))
    assert fast["o"].to_list() == public["o"].to_list()
    assert frame_from_rows([], SCHEMA).schema == SCHEMA


def test_frame_from_rows_rejects_a_value_of_the_wrong_type():
    bad = [(1, "seven", 1.0, "s", None, None, None, None, 1)]
    with pytest.raises(pl.exceptions.ComputeError):
        frame_from_rows(bad, SCHEMA)


def test_pick_columns_renames_without_touching_the_source():
    source = pl.DataFrame(ROWS, schema=SCHEMA, orient="row").drop("o")
    picked = pick_columns(source, [("_id", "_id"), ("s", "name"), ("n", "n"), ("n", "m")])
    assert picked.columns == ["_id", "name", "n", "m"]
    assert picked["name"].to_list() == ["x", None]
    assert picked["m"].to_list() == picked["n"].to_list() == [None, 7]
    assert source.columns == [c for c in SCHEMA if c != "o"]
