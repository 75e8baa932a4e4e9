"""pw.AsyncTransformer: whole-row async transformations with an output schema."""

import asyncio

import reflow as pw
from tests.utils import T, rows


class Out(pw.Schema):
    doubled: int
    label: str


class Doubler(pw.AsyncTransformer, output_schema=Out):
    async def invoke(self, value: int, name: str) -> dict:
        await asyncio.sleep(0.001)
        if value < 0:
            raise ValueError("negative value")
        return {"doubled": 2 * value, "label": name.upper()}


def data():
    return T(
        """
          | value | name
        1 | 1     | a
        2 | -3    | b
        3 | 5     | c
        """
    )


def test_successful_failed_and_finished():
    transformer = Doubler(input_table=data())
    ok = transformer.successful
    assert ok.column_names() == ["doubled", "label"]
    assert ok.typehints() == {"doubled": int, "label": str}
    assert sorted(rows(ok, terminate_on_error=False)) == [(2, "A"), (10, "C")]
    assert rows(transformer.failed, terminate_on_error=False) == [(None, None)]
    finished = transformer.finished
    assert finished.column_names() == ["_async_status", "doubled", "label"]  # as in Pathway
    assert sorted(r[0] for r in rows(finished, terminate_on_error=False)) == [
        "-FAILURE-",
        "-SUCCESS-",
        "-SUCCESS-",
    ]
    messages = [
        m for (m,) in rows(pw.global_error_log().select(pw.this.message), terminate_on_error=False)
    ]
    assert any("Doubler.invoke" in m and "negative value" in m for m in messages)


def test_results_keep_the_input_ids_and_follow_updates():
    t = T(
        """
          | value | name | __time__ | __diff__
        1 | 1     | a    | 2        | 1
        1 | 1     | a    | 4        | -1
        1 | 7     | a    | 4        | 1
        """
    )
    ok = Doubler(input_table=t).successful
    assert rows(ok) == [(14, "A")]
    assert set(pw.debug.table_to_dicts(ok)[0]) == set(pw.debug.table_to_dicts(t)[0])


def test_with_options_retries_failed_invocations():
    attempts = []

    class Flaky(pw.AsyncTransformer, output_schema=Out):
        async def invoke(self, value: int, name: str) -> dict:
            attempts.append(value)
            if attempts.count(value) < 2:
                raise ConnectionError("retry me")
            return {"doubled": value, "label": name}

    strategy = pw.udfs.FixedDelayRetryStrategy(max_retries=2, delay_ms=1)
    transformer = Flaky(input_table=data()).with_options(capacity=2, retry_strategy=strategy)
    assert sorted(rows(transformer.successful)) == [(-3, "b"), (1, "a"), (5, "c")]
    assert len(attempts) == 6
