"""A one-worker run (``pw.run()`` without ``PATHWAY_THREADS`` / ``PATHWAY_PROCESSES`` above 1)
routes nothing: it computes no partition key, splits no batch, and loads none of the modules
that run several workers."""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

import reflow as pw
import reflow.engine.operators
from reflow.engine.operator import Operator
from reflow.engine.state import partition

REPO = Path(__file__).resolve().parents[2]


def _operator_classes() -> Iterator[type[Operator]]:
    for module in pkgutil.iter_modules(reflow.engine.operators.__path__):
        importlib.import_module(f"reflow.engine.operators.{module.name}")
    pending: list[type[Operator]] = [Operator]
    while pending:
        cls = pending.pop()
        yield cls
        pending.extend(cls.__subclasses__())


class Routed(AssertionError):
    """Raised by the patched partition functions: the run routed rows between workers."""


@pytest.fixture
def no_routing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every ``partition_key`` and the key-to-partition function raise ``Routed``."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise Routed("rows were routed")

    monkeypatch.setattr(partition, "partition_of", refuse)
    for cls in _operator_classes():
        if "partition_key" in cls.__dict__:
            monkeypatch.setattr(cls, "partition_key", refuse)


def _program() -> list[tuple[object, ...]]:
    """Groupby-reduce, join, deduplicate and sort over two logical times; the final rows."""
    t = pw.debug.table_from_markdown('''
        w | n | __time__
        a | 1 | 0
        b | 2 | 0
        a | 3 | 2
        c | 4 | 2
    ''')
    totals = t.groupby(t.w).reduce(t.w, s=pw.reducers.sum(t.n), c=pw.reducers.count())
    joined = totals.join(t, totals.w == t.w).select(t.w, t.n, totals.s)
    latest = t.deduplicate(value=t.n, instance=t.w, acceptor=lambda new, old: new > old)
    ranked = joined.sort(key=joined.n)
    final = joined.select(joined.w, joined.n, joined.s, prev=ranked.prev.is_not_none())
    final = final.join(latest, final.w == latest.w, how=pw.JoinMode.LEFT).select(
        final.w, final.n, final.s, final.prev, last=latest.n
    )
    rows: dict[object, tuple[object, ...]] = {}

    def on_change(key: object, row: dict, time: int, is_addition: bool) -> None:
        if is_addition:
            rows[key] = (row["w"], row["n"], row["s"], row["prev"], row["last"])
        else:
            rows.pop(key, None)

    pw.io.subscribe(final, on_change=on_change)
    pw.run()
    return sorted(rows.values(), key=repr)


def test_a_one_worker_run_computes_no_partition_key(
    no_routing: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PATHWAY_THREADS", raising=False)
    monkeypatch.delenv("PATHWAY_PROCESSES", raising=False)
    assert _program() == [
        ("a", 1, 4, False, 3),
        ("a", 3, 4, True, 3),
        ("b", 2, 2, True, 2),
        ("c", 4, 4, True, 4),
    ]


def test_the_guard_sees_routing_on_two_workers(
    no_routing: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The patched functions are the ones a sharded run calls: the test above is not empty."""
    monkeypatch.setenv("PATHWAY_THREADS", "2")
    with pytest.raises(Routed):
        _program()


def test_a_one_worker_run_loads_no_multi_worker_module(tmp_path: Path) -> None:
    program = textwrap.dedent('''
        import sys
        import reflow as pw

        t = pw.debug.table_from_markdown("w | n\\na | 1\\nb | 2\\na | 3")
        totals = t.groupby(t.w).reduce(t.w, s=pw.reducers.sum(t.n))
        pw.io.csv.write(totals.join(t, totals.w == t.w).select(t.n, totals.s), sys.argv[1])
        pw.run()
        print(" ".join(sorted(sys.modules)))
    ''')
    script = tmp_path / "program.py"
    script.write_text(program)
    env = {"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "out.csv")],
        capture_output=True, text=True, env=env, check=True, timeout=120,
    )
    loaded = set(done.stdout.split())
    assert "reflow.runtime.runner" in loaded
    assert (tmp_path / "out.csv").read_text().count("\n") == 4  # header and three rows
    for module in ("reflow.engine.sharding", "reflow.engine.resharding", "reflow.runtime.exchange",
                   "reflow.runtime.sharded_streaming", "reflow.runtime.ray_workers"):
        assert module not in loaded
