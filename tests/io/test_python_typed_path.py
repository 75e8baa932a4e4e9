"""The Python source's typed paths, keyed and keyless (a commit of ``next`` calls built column
by column), against its general path (``exact_columns``, then row by row through
``row_from_mapping``), commit by commit."""

from __future__ import annotations

import math
import random

import polars as pl
import pytest

import reflow as pw
from reflow.io.python import ConnectorSubject, PythonSource
from reflow.plan import dtypes as dt
from reflow.runtime.sources import SourceHandle


class _Idle(ConnectorSubject):
    def run(self) -> None:  # the test feeds the source itself
        pass


class _Errors(SourceHandle):
    """A handle that keeps the bad-row reports."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    def report_error(self, message: str) -> None:
        self.errors.append(message)


def _source(dtypes: dict[str, dt.DType], key: list[str] | None, typed: bool) -> PythonSource:
    defaults = {"f": 0.5} if "f" in dtypes else {}
    source = PythonSource(_Idle(), dtypes, defaults, key, None, "test")
    source._handle = _Errors()
    if not typed:
        source._plan = None  # every commit through the general path
    return source


def _value(rng: random.Random, dtype: dt.DType, clean: bool) -> object:
    if dtype == dt.INT:
        choices: list[object] = [rng.randint(-5, 5), rng.randint(-(2**63), 2**63 - 1)]
        if not clean:
            choices += [True, 2**63, 2.0, "7"]
    elif dtype == dt.FLOAT:
        choices = [rng.random(), -0.0, float("nan"), 1e300]
        if not clean:
            choices += [3, None, "x"]
    elif dtype == dt.STR:
        choices = ["a", "b", "", "é,\"q\""]
        if not clean:
            choices += [1, None]
    else:
        choices = [True, False]
        if not clean:
            choices += [1, None]
    return rng.choice(choices)


def _commits(seed: int, dtypes: dict[str, dt.DType], key: list[str], size: int) -> list[list]:
    """Commits of ``next`` calls: new keys, keys present before, keys repeated within a
    commit, missing values (``f`` has a default) and values of another type."""
    rng = random.Random(seed)
    commits = []
    for _ in range(10):
        clean = rng.random() < 0.6  # most commits take the typed path
        rows = []
        for _ in range(rng.choice([1, size // 2, size])):
            row = {name: _value(rng, dtype, clean) for name, dtype in dtypes.items()}
            row[key[0]] = rng.randrange(3 * size) if dtypes[key[0]] == dt.INT else str(
                rng.randrange(3 * size)
            )
            if not clean and rng.random() < 0.1:
                del row[rng.choice(list(dtypes))]
            rows.append(row)
        if clean and rng.random() < 0.3:
            rows.append(dict(rows[0]))  # a key repeated within the commit
        commits.append(rows)
    return commits


def _spelled(rows: list[tuple]) -> list[tuple]:
    return [tuple("nan" if isinstance(v, float) and math.isnan(v) else v for v in r) for r in rows]


SCHEMAS = [
    ({"k": dt.INT, "x": dt.INT, "f": dt.FLOAT, "s": dt.STR, "b": dt.BOOL}, ["k"]),
    ({"k": dt.STR, "x": dt.INT}, ["k", "x"]),
    ({"k": dt.INT}, ["k"]),
    ({"k": dt.INT, "o": dt.Optional(dt.INT)}, ["k"]),  # no typed path: checks the fallback
]


@pytest.mark.parametrize(("dtypes", "key"), SCHEMAS)
@pytest.mark.parametrize(("seed", "size"), [(1, 4), (2, 100), (3, 3000)])
def test_typed_path_matches_general_path(dtypes, key, seed, size) -> None:
    typed, general = _source(dtypes, key, True), _source(dtypes, key, False)
    for number, rows in enumerate(_commits(seed, dtypes, key, size)):
        fast = typed._to_batches([dict(r) for r in rows], 0)
        slow = general._to_batches([dict(r) for r in rows], 0)
        assert [b.schema for b in fast] == [b.schema for b in slow], number
        assert [_spelled(b.rows()) for b in fast] == [_spelled(b.rows()) for b in slow], number
        assert typed._handle.errors == general._handle.errors, number
        assert typed.rows_read == general.rows_read
    assert _spelled(list(typed._state.items())) == _spelled(list(general._state.items()))


@pytest.mark.parametrize(("dtypes", "key"), SCHEMAS)
@pytest.mark.parametrize(("seed", "size"), [(4, 4), (5, 100), (6, 3000)])
def test_keyless_typed_path_matches_general_path(dtypes, key, seed, size) -> None:
    """Keyless commits: the same batches (ids, values, column types), bad-row reports, row
    counts and sequence numbers, whichever path a commit takes."""
    typed, general = _source(dtypes, None, True), _source(dtypes, None, False)
    general._id_high = typed._id_high  # the ids of both sources alike
    took_typed = 0
    for number, rows in enumerate(_commits(seed, dtypes, key, size)):
        took_typed += typed._typed_columns([dict(r) for r in rows]) is not None
        fast = typed._to_batches([dict(r) for r in rows], 0)
        slow = general._to_batches([dict(r) for r in rows], 0)
        assert [b.schema for b in fast] == [b.schema for b in slow], number
        assert [_spelled(b.rows()) for b in fast] == [_spelled(b.rows()) for b in slow], number
        assert typed._handle.errors == general._handle.errors, number
        assert typed.rows_read == general.rows_read
        assert typed._seq == general._seq
        assert all(set(b["_diff"]) == {1} for b in fast)  # additions only
    assert took_typed or any(d.is_optional for d in dtypes.values())


def test_keyless_typed_path_refuses_values_polars_would_convert() -> None:
    """A bool in an INT column, an int in a FLOAT column, an int subclass, a str subclass and
    an int beyond 64 bits each send the commit through the checking path."""

    class Flag(int):
        pass

    class Text(str):
        pass

    source = _source({"x": dt.INT, "f": dt.FLOAT, "s": dt.STR}, None, True)
    good = {"x": 1, "f": 1.5, "s": "a"}
    assert source._typed_columns([good]) is not None
    for bad in ({"x": True}, {"f": 2}, {"x": Flag(3)}, {"s": Text("b")}, {"x": 2**63},
                {"x": -(2**63) - 1}, {"f": None}):
        assert source._typed_columns([good, {**good, **bad}]) is None, bad
    assert source._typed_columns([{"x": 1, "f": 1.5}]) is None  # a missing value


def test_keyless_commits_through_a_pipeline() -> None:
    """Keyless commits of typed rows, with a bad row among them, give the rows that fit."""

    class Rows(pw.io.python.ConnectorSubject):
        def run(self) -> None:
            for commit in range(4):
                for n in range(30):
                    self.next(n=commit * 30 + n, s=str(n))
                if commit == 2:
                    self.next(n="bad", s="x")
                self.commit()

    t = pw.io.python.read(
        Rows(), schema=pw.schema_from_types(n=int, s=str), autocommit_duration_ms=None
    )
    result = pw.debug.table_to_pandas(t)
    assert sorted(result["n"].tolist()) == list(range(120))
    assert sorted(set(result["s"].tolist()), key=int) == [str(n) for n in range(30)]


def test_keyed_commits_replace_rows_through_a_pipeline() -> None:
    """Replacements of present keys, in commits that take the typed path, update the rows."""

    class Keyed(pw.Schema):
        k: int = pw.column_definition(primary_key=True)
        v: int

    class Updates(pw.io.python.ConnectorSubject):
        def run(self) -> None:
            for commit in range(5):
                for k in range(50):
                    self.next(k=k, v=commit * 100 + k)
                self.commit()

    t = pw.io.python.read(Updates(), schema=Keyed, autocommit_duration_ms=None)
    result = pw.debug.table_to_pandas(t)
    assert sorted(result["v"].tolist()) == [400 + k for k in range(50)]


def _mixed(seq: int) -> int:
    """The low half of a keyless row's id, computed with Python ints (splitmix64's mix)."""
    mask = (1 << 64) - 1
    z = seq
    z = ((z ^ (z >> 30)) * 0xBF58_476D_1CE4_E5B9) & mask
    z = ((z ^ (z >> 27)) * 0x94D0_49BB_1331_11EB) & mask
    return z ^ (z >> 31)


@pytest.mark.parametrize("sizes", [[1, 5, 128], [129, 1000, 3], [128, 129]])
def test_keyless_row_ids_of_small_and_large_commits(sizes) -> None:
    """The ids of keyless rows (built as Python ints for a small commit, from two arrays for a
    large one) are the source's high half and the mixed sequence number, in order."""
    source = _source({"x": dt.INT}, None, True)
    high = int(source._id_high) << 64
    seq = 0
    for n in sizes:
        ids = source._row_ids(n)
        assert ids.dtype == pl.UInt128
        assert ids.to_list() == [high | _mixed(s) for s in range(seq, seq + n)]
        seq += n


def test_keyless_commits_at_and_over_the_typed_size() -> None:
    """A commit of up to ``_TYPED_ROWS`` rows takes the typed path, a bigger one
    ``exact_columns``; both give the general path's batch."""
    from reflow.io.python import _TYPED_ROWS

    dtypes = {"k": dt.INT, "s": dt.STR, "f": dt.FLOAT}
    typed, general = _source(dtypes, None, True), _source(dtypes, None, False)
    general._id_high = typed._id_high
    for n in (_TYPED_ROWS, _TYPED_ROWS + 1):
        rows = [{"k": i, "s": str(i), "f": i / 3} for i in range(n)]
        assert (typed._typed_columns(rows) is not None) == (n <= _TYPED_ROWS)
        fast, slow = typed._to_batches(list(rows), 0), general._to_batches(list(rows), 0)
        assert [b.rows() for b in fast] == [b.rows() for b in slow]
        assert [b.schema for b in fast] == [b.schema for b in slow]
