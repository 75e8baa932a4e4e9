"""Executors, batching, retries and timeouts."""

import asyncio
import threading

import numpy as np

import reflow as pw
from tests.utils import T, assert_rows, rows


def numbers(n: int) -> pw.Table:
    return pw.debug.table_from_rows(pw.schema_from_types(x=int), [(i,) for i in range(n)])


class InFlight:
    """Counts concurrent calls of an async function."""

    def __init__(self) -> None:
        self.now = 0
        self.peak = 0
        self.calls = 0
        self.lock = threading.Lock()

    async def __call__(self, x: int) -> int:
        with self.lock:
            self.now += 1
            self.calls += 1
            self.peak = max(self.peak, self.now)
        await asyncio.sleep(0.005)
        with self.lock:
            self.now -= 1
        return x * 3


def test_sync_executor_calls_once_per_row_in_order_of_rows():
    seen = []

    @pw.udf(executor=pw.udfs.sync_executor())
    def record(x: int) -> int:
        seen.append(x)
        return x + 1

    assert sorted(v for (v,) in rows(numbers(5).select(y=record(pw.this.x)))) == [1, 2, 3, 4, 5]
    assert sorted(seen) == [0, 1, 2, 3, 4]


def test_async_executor_runs_calls_concurrently_up_to_capacity():
    probe = InFlight()
    triple = pw.udf(probe, return_type=int, executor=pw.udfs.async_executor(capacity=4))
    result = rows(numbers(40).select(y=triple(pw.this.x)))
    assert sorted(v for (v,) in result) == [3 * i for i in range(40)]
    assert probe.calls == 40
    assert 1 < probe.peak <= 4


def test_async_function_defaults_to_the_async_executor():
    probe = InFlight()
    triple = pw.udf(probe, return_type=int)
    rows(numbers(20).select(y=triple(pw.this.x)))
    assert probe.peak > 1


def test_sync_function_under_the_async_executor():
    @pw.udf(executor=pw.udfs.async_executor(capacity=2))
    def inc(x: int) -> int:
        return x + 1

    assert sorted(v for (v,) in rows(numbers(3).select(y=inc(pw.this.x)))) == [1, 2, 3]


def test_fully_async_executor_and_await_futures():
    @pw.udf(executor=pw.udfs.fully_async_executor(capacity=3))
    async def slow(x: int) -> str:
        await asyncio.sleep(0.001)
        return f"<{x}>"

    t = T(
        """
          | x | __time__ | __diff__
        1 | 1 | 2        | 1
        2 | 2 | 2        | 1
        1 | 1 | 4        | -1
        """
    )
    r = t.select(y=slow(pw.this.x)).await_futures()
    assert r.column_names() == ["y"]
    assert_rows(r, [("<2>",)])


def test_batched_udf_receives_lists_in_chunks_of_max_batch_size():
    sizes = []

    @pw.udf(max_batch_size=4)
    def add(xs: list[int], ys: list[int]) -> list[int]:
        assert isinstance(xs, list) and isinstance(ys, list)
        sizes.append(len(xs))
        return [x + y for x, y in zip(xs, ys)]

    t = numbers(10).select(pw.this.x, y=pw.this.x * 10)
    r = t.select(s=add(pw.this.x, pw.this.y))
    assert r.typehints() == {"s": int}
    assert sorted(v for (v,) in rows(r)) == [11 * i for i in range(10)]
    assert sorted(sizes) == [2, 4, 4]


def test_batched_udf_may_return_a_numpy_array():
    @pw.udf(max_batch_size=3)
    def halve(xs: list[int]) -> list[float]:
        return np.asarray(xs) / 2

    assert sorted(v for (v,) in rows(numbers(7).select(h=halve(pw.this.x)))) == [
        i / 2 for i in range(7)
    ]


def test_failing_chunk_makes_only_its_rows_errors():
    @pw.udf(max_batch_size=2, deterministic=True)
    def picky(xs: list[int]) -> list[int]:
        if 3 in xs:
            raise ValueError("three")
        return xs

    t = T(
        """
          | x
        1 | 1
        2 | 2
        3 | 3
        4 | 4
        """
    )
    result = rows(t.select(x=pw.this.x, y=picky(pw.this.x)), terminate_on_error=False)
    errors = [x for x, y in result if y is pw.ERROR]
    assert len(errors) == 2 and 3 in errors
    assert all(y == x for x, y in result if y is not pw.ERROR)


def test_batched_async_udf():
    @pw.udf(max_batch_size=5, executor=pw.udfs.async_executor(capacity=2))
    async def square(xs: list[int]) -> list[int]:
        await asyncio.sleep(0)
        return [x * x for x in xs]

    assert sorted(v for (v,) in rows(numbers(12).select(s=square(pw.this.x)))) == [
        i * i for i in range(12)
    ]


def test_fixed_delay_retries_until_success():
    attempts: dict[int, int] = {}

    @pw.udf(
        executor=pw.udfs.async_executor(
            retry_strategy=pw.udfs.FixedDelayRetryStrategy(max_retries=3, delay_ms=1)
        )
    )
    async def flaky(x: int) -> int:
        attempts[x] = attempts.get(x, 0) + 1
        if attempts[x] <= x:  # row x fails x times
            raise ConnectionError(f"attempt {attempts[x]}")
        return x

    r = numbers(5).select(x=pw.this.x, y=flaky(pw.this.x))
    result = dict(rows(r, terminate_on_error=False))
    assert {x: y for x, y in result.items() if y is not pw.ERROR} == {0: 0, 1: 1, 2: 2, 3: 3}
    assert result[4] is pw.ERROR  # 1 call + 3 retries, all failed
    assert attempts == {0: 1, 1: 2, 2: 3, 3: 4, 4: 4}


def test_exponential_backoff_gives_up_after_max_retries():
    calls = []

    @pw.udf(
        executor=pw.udfs.async_executor(
            retry_strategy=pw.udfs.ExponentialBackoffRetryStrategy(
                max_retries=2, initial_delay=1, backoff_factor=2, jitter_ms=1
            )
        )
    )
    async def down(x: int) -> int:
        calls.append(x)
        raise TimeoutError("service down")

    assert rows(numbers(1).select(y=down(pw.this.x)), terminate_on_error=False) == [(pw.ERROR,)]
    assert calls == [0, 0, 0]


def test_timeout_turns_a_slow_call_into_an_error():
    @pw.udf(executor=pw.udfs.async_executor(timeout=0.05))
    async def maybe_slow(x: int) -> int:
        await asyncio.sleep(10 if x == 1 else 0)
        return x

    r = numbers(3).select(x=pw.this.x, y=maybe_slow(pw.this.x))
    assert rows(r, terminate_on_error=False) == [(0, 0), (1, pw.ERROR), (2, 2)]
    log = pw.global_error_log().select(pw.this.message)
    messages = [m for (m,) in rows(log, terminate_on_error=False)]
    assert any("maybe_slow" in m and "TimeoutError" in m for m in messages)


def test_timeout_with_retries_retries_each_attempt():
    calls = []

    @pw.udf(
        executor=pw.udfs.async_executor(
            timeout=0.02,
            retry_strategy=pw.udfs.FixedDelayRetryStrategy(max_retries=2, delay_ms=1),
        )
    )
    async def slow_then_fast(x: int) -> int:
        calls.append(x)
        await asyncio.sleep(5 if len(calls) < 3 else 0)
        return x + 100

    assert rows(numbers(1).select(y=slow_then_fast(pw.this.x))) == [(100,)]
    assert len(calls) == 3
