"""The Python source's buffer, which ``next`` fills without a lock while another thread (the
run loop's autocommit) may flush it: every row is delivered exactly once, in order, and the
offsets count what was received; on a restart the rows delivered before are skipped."""

from __future__ import annotations

import sys
import threading

import polars as pl

from reflow.io.python import ConnectorSubject, PythonSource
from reflow.plan import dtypes as dt
from reflow.runtime.sources import SourceHandle


class _Idle(ConnectorSubject):
    def run(self) -> None:  # the test feeds the source itself
        pass


class _Recorder(SourceHandle):
    """Keeps the pushed batches and the committed offsets."""

    def __init__(self) -> None:
        self.batches: list[pl.DataFrame] = []
        self.offsets: list[object] = []
        self.errors: list[str] = []

    def push(self, batch: pl.DataFrame) -> None:
        self.batches.append(batch)

    def commit(self, offset: object = None) -> None:
        self.offsets.append(offset)

    def report_error(self, message: str) -> None:
        self.errors.append(message)


def _source(keyed: bool) -> tuple[PythonSource, _Recorder]:
    source = PythonSource(
        _Idle(), {"n": dt.INT, "s": dt.STR}, {}, ["n"] if keyed else None, None, "test"
    )
    handle = _Recorder()
    source._handle = handle
    source._durable = True
    source.subject._source = source
    return source, handle


def _delivered(handle: _Recorder) -> list[int]:
    return [n for batch in handle.batches for n in batch["n"].to_list()]


def _send(source: PythonSource, total: int, keyed: bool) -> None:
    """Rows ``0..total-1``; keyed, every thousandth row also deletes the one before it."""
    for n in range(total):
        source.subject.next(n=n, s="x")
        if keyed and n % 1000 == 999:
            source.subject.delete(n=n - 1, s="x")


def test_rows_sent_while_another_thread_flushes_arrive_once_in_order():
    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # interleave the two threads as often as possible
    try:
        for keyed in (False, True):
            source, handle = _source(keyed)
            total = 30_000

            sender = threading.Thread(target=_send, args=(source, total, keyed))
            sender.start()
            while sender.is_alive():
                source.flush(commit=True)
            sender.join()
            source.flush(commit=True)
            got = [
                (n, d) for batch in handle.batches
                for n, d in zip(batch["n"].to_list(), batch["_diff"].to_list(), strict=True)
            ]
            expected_rows = list(range(total))
            added = [n for n, d in got if d > 0]
            assert added == expected_rows, keyed
            removed = [n for n, d in got if d < 0]
            assert removed == ([n - 1 for n in range(999, total, 1000)] if keyed else [])
            counts = [offset["received"] for offset in handle.offsets]  # type: ignore[index]
            assert counts == sorted(counts)
            assert counts[-1] == total + len(removed)
            assert handle.errors == []
    finally:
        sys.setswitchinterval(switch)


def test_a_restart_skips_the_rows_delivered_before_across_flushes():
    for keyed in (False, True):
        first, first_handle = _source(keyed)
        for n in range(10):
            first.subject.next(n=n, s=str(n))
            if n in (3, 6):
                first.subject.commit()
        assert first_handle.offsets[-1] == {"received": 7}
        # The run restarts from the offset of its last commit: the subject sends everything
        # again, and only what follows the 7 rows delivered before is delivered.
        second, handle = _source(keyed)
        second.resume({"received": 7})
        for n in range(4):
            second.subject.next(n=n, s=str(n))
        second.subject.commit()  # all of them replayed: nothing delivered, offset kept
        assert handle.batches == [] and handle.offsets == [{"received": 7}]
        for n in range(4, 12):
            second.subject.next(n=n, s=str(n))
            if n == 8:
                second.subject.commit()
        second.subject.commit()
        assert _delivered(handle) == list(range(7, 12))
        assert [o["received"] for o in handle.offsets] == [7, 9, 12]  # type: ignore[index]
        if not keyed:  # (row ids are numbered per source: a new one in this process)
            continue
        # Ids are those of an uninterrupted run.
        whole, whole_handle = _source(keyed)
        for n in range(12):
            whole.subject.next(n=n, s=str(n))
        whole.subject.commit()
        ids = {n: i for b in whole_handle.batches
               for n, i in zip(b["n"].to_list(), b["_id"].to_list(), strict=True)}
        assert all(
            ids[n] == i for b in handle.batches
            for n, i in zip(b["n"].to_list(), b["_id"].to_list(), strict=True)
        )
