"""The exchange between worker processes (``SocketExchange``), run here with one exchange per
thread: messages of several batches, one-way gathers, order across steps, failures."""

from __future__ import annotations

import threading
from collections.abc import Callable

import polars as pl
import pytest

from reflow.runtime.exchange import ExchangeError, SocketExchange
from tests.runtime.test_workers import _free_ports


def _connected(workers: int) -> list[SocketExchange]:
    """``workers`` connected exchanges (each connects to the ones before it)."""
    first = _free_ports(workers)
    made: list[SocketExchange | None] = [None] * workers

    def make(w: int) -> None:
        made[w] = SocketExchange(w, workers, first, timeout=20)

    threads = [threading.Thread(target=make, args=(w,)) for w in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(e is not None for e in made)
    return [e for e in made if e is not None]


def _on_threads(workers: int, step: Callable[[int], object]) -> list[object]:
    results: list[object] = [None] * workers
    errors: list[BaseException] = []

    def run(w: int) -> None:
        try:
            results[w] = step(w)
        except BaseException as error:  # noqa: BLE001 - re-raised below
            errors.append(error)

    threads = [threading.Thread(target=run, args=(w,), daemon=True) for w in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads), "a worker is stuck"
    if errors:
        raise errors[0]
    return results


def _frame(sender: int, receiver: int, index: int, rows: int) -> pl.DataFrame:
    return pl.DataFrame({
        "_id": pl.Series(range(rows), dtype=pl.UInt128),
        "tag": [f"{sender}>{receiver}:{index}"] * rows,
        "o": pl.Series([(sender, i) for i in range(rows)], dtype=pl.Object),
    })


@pytest.mark.parametrize("workers", [2, 3])
def test_every_input_of_a_step_travels_in_one_message(workers: int) -> None:
    exchanges = _connected(workers)
    try:
        def step(w: int) -> object:
            # Two batches per receiver (one per operator input), the second None for worker 0,
            # 70,000 rows for the last receiver (more than a socket buffer holds).
            parts = [[_frame(w, r, 0, 70_000 if r == workers - 1 else 3),
                      None if r == 0 else _frame(w, r, 1, 2)] for r in range(workers)]
            return exchanges[w].all_to_all_many(parts, flag=w == 1)

        results = _on_threads(workers, step)
    finally:
        for exchange in exchanges:
            exchange.close()
    for receiver, result in enumerate(results):
        got, anyone = result  # type: ignore[misc]
        assert anyone  # worker 1 raised the flag
        for sender in range(workers):
            first, second = got[sender]
            assert first["tag"].unique().to_list() == [f"{sender}>{receiver}:0"]
            assert first.height == (70_000 if receiver == workers - 1 else 3)
            assert first["o"][1] == (sender, 1)
            if receiver == 0:
                assert second is None
            else:
                assert second["tag"].to_list() == [f"{sender}>{receiver}:1"] * 2


def test_a_gather_does_not_wait_on_the_workers_that_send() -> None:
    exchanges = _connected(3)
    try:
        # The senders gather before the root has done anything: they return at once.
        done = _on_threads(3, lambda w: w == 0 or exchanges[w].gather(_frame(w, 0, 0, 2), 0))
        assert done == [True, None, None]
        # Then a two-way step after the gather: the messages stay in order.
        def rest(w: int) -> object:
            gathered = exchanges[w].gather(_frame(w, 0, 0, 2), 0) if w == 0 else None
            swapped = exchanges[w].all_to_all([_frame(w, r, 5, 1) for r in range(3)], False)
            return gathered, swapped

        (gathered, swapped0), *others = _on_threads(3, rest)  # type: ignore[misc]
    finally:
        for exchange in exchanges:
            exchange.close()
    assert [f["tag"][0] for f in gathered] == ["0>0:0", "1>0:0", "2>0:0"]
    assert [f["tag"][0] for f in swapped0[0]] == ["0>0:5", "1>0:5", "2>0:5"]
    for receiver, (nothing, (got, _)) in enumerate(others, start=1):
        assert nothing is None
        assert [f["tag"][0] for f in got] == [f"{s}>{receiver}:5" for s in range(3)]


def test_a_worker_that_went_away_is_an_exchange_error() -> None:
    first, second = _connected(2)
    second.close()
    with pytest.raises(ExchangeError, match="closed its connection"):
        first.all_to_all([None, None], False)
    with pytest.raises(ExchangeError):  # and every later step
        first.all_to_all([None, None], False)
    first.close()


def test_a_join_swaps_both_inputs_in_one_step_and_its_sink_rows_in_a_gather(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import reflow as pw
    from reflow.engine.operator import RunContext
    from reflow.runtime.exchange import ThreadExchange
    from reflow.runtime.runner import build, clear_outputs, registered_outputs
    from reflow.runtime.workers import run_threads

    def program() -> list[tuple]:
        left = pw.debug.table_from_markdown("""
            k | a | __time__
            1 | 10 | 0
            2 | 20 | 0
            1 | 11 | 2
            3 | 30 | 4
        """)
        right = pw.debug.table_from_markdown("""
            k | b | __time__
            1 | 5 | 0
            3 | 7 | 2
            2 | 6 | 4
        """)
        joined = left.join(right, left.k == right.k).select(left.a, right.b)
        seen: list[tuple] = []
        pw.io.subscribe(joined, on_change=lambda key, row, time, is_addition: seen.append(
            (time, row["a"], row["b"], is_addition)))
        return seen

    one = program()
    pw.run()
    calls: dict[str, list[int]] = {"all_to_all_many": [], "all_to_all": [], "gather": []}
    for name in calls:
        original = getattr(ThreadExchange, name)

        def counted(self, *args, _name=name, _original=original, **kwargs):  # type: ignore[no-untyped-def]
            calls[_name].append(self.worker)
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(ThreadExchange, name, counted)
    two = program()
    outputs = registered_outputs()
    clear_outputs()
    run_threads(lambda: build(outputs, RunContext()), 2)
    assert sorted(two) == sorted(one) and len(one) == 4
    # Three logical times: per worker one step for the join's two inputs and one gather of
    # the sink's rows each (a gather on threads is one all_to_all).
    assert sorted(calls["all_to_all_many"]) == [0, 0, 0, 1, 1, 1]
    assert sorted(calls["gather"]) == [0, 0, 0, 1, 1, 1]
    assert len(calls["all_to_all"]) == 6
