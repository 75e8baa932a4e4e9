"""UDFs over batches bigger than one conversion chunk, and batched UDFs that take numpy arrays."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd
import pytest

import reflow as pw
from reflow.plan.rowwise import ROW_CHUNK as _ROW_CHUNK
from reflow.udfs.udf import array_parameters
from tests.utils import T, assert_rows, rows, rows_by_id

N = 2 * _ROW_CHUNK + 123  # three chunks, the last one partial


def numbers(n: int = N) -> pw.Table:
    return pw.debug.table_from_pandas(pd.DataFrame({"x": np.arange(n, dtype=np.int64)}))


def logged_row_ids(function_name: str) -> set:
    log = pw.global_error_log().select(pw.this.message, pw.this.row_id)
    return {
        row_id
        for message, row_id in rows(log, terminate_on_error=False)
        if function_name in message
    }


def test_scalar_udf_over_several_chunks_keeps_row_order_and_ids():
    @pw.udf(deterministic=True)
    def affine(x: int) -> int:
        return 3 * x + 1

    result = rows_by_id(numbers().select(pw.this.x, y=affine(pw.this.x)))
    assert len(result) == N
    assert all(y == 3 * x + 1 for x, y in result.values())


def test_failures_in_several_chunks_mark_exactly_their_rows():
    failing = {0, _ROW_CHUNK - 1, _ROW_CHUNK, N - 1}

    @pw.udf
    def picky(x: int) -> int:
        if x in failing:
            raise ValueError(f"no {x}")
        return x

    @pw.udf
    def wrong_type(x: int) -> int:
        return "text" if x in failing else x  # type: ignore[return-value]

    table = numbers().select(pw.this.x, a=picky(pw.this.x), b=wrong_type(pw.this.x))
    result = rows_by_id(table, terminate_on_error=False)
    for x, a, b in result.values():
        expected = pw.ERROR if x in failing else x
        assert (a, b) == (expected, expected), x
    failed_ids = {row_id for row_id, (x, _, _) in result.items() if x in failing}
    assert logged_row_ids("picky") == failed_ids
    assert logged_row_ids("wrong_type") == failed_ids


def test_skipped_rows_spread_over_chunks_are_not_called():
    n = N
    frame = pd.DataFrame({"x": pd.array([None if i % 5 == 0 else i for i in range(n)], "Int64")})
    table = pw.debug.table_from_pandas(frame)
    calls: list[int] = []

    @pw.udf(propagate_none=True)
    def record(x: int) -> int:
        calls.append(x)
        if x % 7 == 0:
            raise ValueError("seven")
        return -x

    result = rows(table.select(pw.this.x, y=record(pw.this.x)), terminate_on_error=False)
    assert sorted(calls) == [i for i in range(n) if i % 5]
    for x, y in result:
        if x is None:
            assert y is None
        elif x % 7 == 0:
            assert y is pw.ERROR
        else:
            assert y == -x


def test_batched_udf_receives_numpy_arrays_where_annotated():
    seen: list[tuple[type, type]] = []

    @pw.udf(max_batch_size=1000)
    def scaled(xs: np.ndarray, factors: list[float]) -> npt.NDArray[np.float64]:
        seen.append((type(xs), type(factors)))
        return xs * np.asarray(factors)

    table = numbers(2500).select(pw.this.x, f=pw.this.x * 0.5)
    result = table.select(pw.this.x, y=scaled(pw.this.x, pw.this.f))
    assert result.typehints()["y"] is float
    assert all(y == x * x * 0.5 for x, y in rows(result))
    assert seen == [(np.ndarray, list)] * 3  # chunks of 1000, 1000 and 500 rows


def test_array_parameters_by_keyword_and_with_skipped_rows():
    @pw.udf(max_batch_size=10, propagate_none=True)
    def add(xs: np.ndarray, *, offset: np.ndarray) -> np.ndarray:
        assert isinstance(xs, np.ndarray) and isinstance(offset, np.ndarray)
        return xs + offset

    t = T(
        """
          | a    | b
        1 | 1    | 10
        2 | None | 20
        3 | 3    | 30
        """
    )
    r = t.select(s=add(pw.this.a, offset=pw.this.b))
    assert_rows(r, [(11,), (33,), (None,)])


def test_array_of_strings_and_an_exception_in_an_array_batch():
    @pw.udf(max_batch_size=2)
    def shout(words: np.ndarray) -> list[str]:
        if "boom" in words:
            raise ValueError("boom")
        return [w.upper() for w in words]

    t = T(
        """
          | w
        1 | a
        2 | b
        3 | boom
        """
    )
    values = sorted(
        rows(t.select(pw.this.w, s=shout(pw.this.w)), terminate_on_error=False), key=lambda r: r[0]
    )
    assert values[:2] == [("a", "A"), ("b", "B")]
    assert values[2] == ("boom", pw.ERROR)


def test_cached_batched_udf_with_arrays_reuses_results_across_lists_and_arrays():
    cache = pw.udfs.InMemoryCache()
    calls: list[list[int]] = []

    @pw.udf(max_batch_size=4, cache_strategy=cache)
    def double(xs: np.ndarray) -> list[int]:
        assert isinstance(xs, np.ndarray)
        calls.append(xs.tolist())
        return (xs * 2).tolist()

    t = T(
        """
          | x
        1 | 1
        2 | 2
        3 | 1
        """
    )
    assert_rows(t.select(y=double(pw.this.x)), [(2,), (4,), (2,)])
    assert_rows(t.select(y=double(pw.this.x)), [(2,), (4,), (2,)])
    assert sorted(x for batch in calls for x in batch) == [1, 1, 2]  # second run: all cached


@pytest.mark.parametrize(
    ("annotation", "expected"),
    [(npt.NDArray[np.float32], float), (npt.NDArray[np.int8], int), (npt.NDArray[np.bool_], bool)],
)
def test_numpy_return_annotation_gives_the_column_type(annotation, expected):
    def f(xs: np.ndarray):
        return xs

    f.__annotations__["return"] = annotation
    batched = pw.udf(f, max_batch_size=8)
    assert numbers(3).select(y=batched(pw.this.x)).typehints()["y"] is expected


def test_array_parameters_of_a_udf_class_method():
    class Scale(pw.UDF):
        def __wrapped__(self, xs: np.ndarray, k: int) -> list[int]:
            return [0] * len(xs)

    assert array_parameters(Scale().func) == {0, "xs"}


@pytest.mark.parametrize("executor", ["async", "fully_async"])
def test_async_batched_udf_receives_numpy_arrays_where_annotated(executor):
    seen: list[type] = []

    @pw.udf(
        max_batch_size=2,
        executor=pw.udfs.async_executor(capacity=2)
        if executor == "async"
        else pw.udfs.fully_async_executor(),
    )
    async def double(xs: np.ndarray) -> list[int]:
        seen.append(type(xs))
        return (xs * 2).tolist()

    t = T(
        """
          | x
        1 | 1
        2 | 2
        3 | 3
        """
    )
    result = t.select(y=double(pw.this.x))
    if executor == "fully_async":
        result = result.await_futures()
    assert_rows(result, [(2,), (4,), (6,)])
    assert seen == [np.ndarray, np.ndarray]


def test_array_arguments_may_be_changed_in_place():
    @pw.udf(max_batch_size=2)
    def doubled(xs: np.ndarray) -> np.ndarray:
        xs *= 2
        return xs

    t = numbers(3).select(pw.this.x)
    assert sorted(rows(t.select(pw.this.x, y=doubled(pw.this.x)))) == [(0, 0), (1, 2), (2, 4)]
