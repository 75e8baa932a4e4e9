"""Checkpoints in one process: restart after a clean end, a changed pipeline, damaged files."""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest

import reflow as pw


class Numbers(pw.io.python.ConnectorSubject):
    def __init__(self, values: list[int]) -> None:
        super().__init__()
        self.values = values

    def run(self) -> None:
        for value in self.values:
            self.next(x=value)
            self.commit()


class X(pw.Schema):
    x: int


def _run(state: Path, out: Path, values: list[int], *, doubled: bool = False) -> None:
    table = pw.io.python.read(Numbers(values), schema=X, name="numbers")
    if doubled:
        table = table.select(x=pw.this.x * 2)
    sums = table.reduce(total=pw.reducers.sum(pw.this.x), n=pw.reducers.count())
    pw.io.csv.write(sums, out, name="sums")
    pw.run(persistence_config=pw.persistence.Config(
        pw.persistence.Backend.filesystem(state), snapshot_interval_ms=0
    ))


def _final(out: Path) -> list[str]:
    lines = out.read_text().splitlines()
    return [line.rsplit(",", 2)[0] for line in lines[1:] if line.endswith(',"1"')]


def test_restart_continues_from_the_checkpoint(tmp_path: Path) -> None:
    out = tmp_path / "out.csv"
    _run(tmp_path / "state", out, [1, 2, 3])
    assert _final(out)[-1] == '"6","3"'
    # The subject replays its first three rows (skipped), then sends two new ones.
    _run(tmp_path / "state", out, [1, 2, 3, 10, 20])
    assert _final(out)[-1] == '"36","5"'
    assert out.read_text().count('"total","n"') == 1


def test_changed_pipeline_is_refused(tmp_path: Path) -> None:
    _run(tmp_path / "state", tmp_path / "out.csv", [1, 2])
    with pytest.raises(pw.persistence.PersistenceError, match=r"pipeline changed.*delete"):
        _run(tmp_path / "state", tmp_path / "out.csv", [1, 2], doubled=True)


_PROGRAM = """
import reflow as pw
from tests.persistence.test_checkpoints import Numbers, X
# COMMENT
table = pw.io.python.read(Numbers(VALUES), schema=X, name="numbers")
sums = table.select(x=pw.this.x * FACTOR).reduce(total=pw.reducers.sum(pw.this.x))
pw.io.csv.write(sums, OUT, name="sums")
pw.run(persistence_config=pw.persistence.Config(
    pw.persistence.Backend.filesystem(STATE), snapshot_interval_ms=0
))
"""


def _run_program(tmp: Path, values: list[int], comment: str = "", factor: int = 2) -> None:
    """Run ``_PROGRAM`` from a file of its own, as a user's script (``comment``: lines of
    comments above the pipeline; ``factor``: a constant of its expression)."""
    text = (_PROGRAM.replace("# COMMENT", comment or "# a pipeline")
            .replace("VALUES", repr(values)).replace("FACTOR", str(factor))
            .replace("OUT", repr(str(tmp / "out.csv"))).replace("STATE", repr(str(tmp / "s"))))
    script = tmp / "program.py"
    script.write_text(text)
    runpy.run_path(str(script))


def test_editing_code_around_the_pipeline_keeps_the_checkpoint(tmp_path: Path) -> None:
    _run_program(tmp_path, [1, 2])
    # Lines added above move every operator of the pipeline to another line.
    _run_program(tmp_path, [1, 2, 3], comment="# totals\n# of the numbers,\n# doubled")
    assert _final(tmp_path / "out.csv")[-1] == '"12"'


def test_a_changed_expression_is_refused_naming_the_operator(tmp_path: Path) -> None:
    _run_program(tmp_path, [1, 2])
    with pytest.raises(pw.persistence.PersistenceError,
                       match=r"computes differently.*program.py:\d+.*delete"):
        _run_program(tmp_path, [1, 2], factor=3)


def test_damaged_newest_checkpoint_falls_back_to_the_previous(tmp_path: Path) -> None:
    state = tmp_path / "state"
    out = tmp_path / "out.csv"
    _run(state, out, [1, 2, 3])
    files = sorted(state.glob("checkpoint-*.bin"))
    assert len(files) == 2
    files[-1].write_bytes(files[-1].read_bytes()[:-10])  # truncated
    _run(state, out, [1, 2, 3, 4])
    assert _final(out)[-1] == '"10","4"'


def test_all_checkpoints_damaged_is_an_error_naming_the_file(tmp_path: Path) -> None:
    state = tmp_path / "state"
    _run(state, tmp_path / "out.csv", [1])
    for file in state.glob("checkpoint-*.bin"):
        file.write_bytes(b"garbage")
    with pytest.raises(pw.persistence.PersistenceError, match=r"checkpoint-\d+\.bin"):
        _run(state, tmp_path / "out.csv", [1])


def test_udf_caching_mode_does_not_call_again_after_a_restart(tmp_path: Path) -> None:
    calls = []

    @pw.udf(cache_strategy=pw.udfs.DiskCache())
    def expensive(x: int) -> int:
        calls.append(x)
        return x * 10

    for _ in range(2):
        table = pw.io.python.read(Numbers([1, 2, 3]), schema=X, name="numbers")
        pw.io.csv.write(table.select(y=expensive(pw.this.x)), tmp_path / "out.csv")
        pw.run(persistence_config=pw.persistence.Config(
            pw.persistence.Backend.filesystem(tmp_path / "state"),
            persistence_mode=pw.PersistenceMode.UDF_CACHING,
        ))
    assert sorted(calls) == [1, 2, 3]
    assert (tmp_path / "state" / "udf-cache").is_dir()


def test_pathway_names_of_the_persistence_api(tmp_path: Path) -> None:
    backend = pw.persistence.Backend.filesystem(tmp_path)
    with pytest.warns(DeprecationWarning, match="simple_config is deprecated"):
        config = pw.persistence.Config.simple_config(backend, snapshot_interval_ms=250)
    assert (config.snapshot_interval_ms, config.persistence_mode) == (
        250, pw.PersistenceMode.PERSISTING
    )
    with pytest.raises(NotImplementedError, match=r"Backend\.s3.*Backend\.filesystem"):
        pw.persistence.Backend.s3("s3://bucket/state", None)
    with pytest.raises(TypeError, match=r"must be a pw\.persistence\.Backend"):
        pw.persistence.Config("/tmp/state")  # type: ignore[arg-type]


class Edits(pw.io.python.ConnectorSubject):
    """Rows without a key, deletions of them by value, and a bad row, one commit each."""

    def __init__(self, steps: list[tuple[str, object]]) -> None:
        super().__init__()
        self.steps = steps

    def run(self) -> None:
        for action, value in self.steps:
            if action == "add":
                self.next(x=value)
            else:
                self.delete(x=value)
            self.commit()


class Keyed(pw.io.python.ConnectorSubject):
    def __init__(self, rows: list[tuple[str, int]]) -> None:
        super().__init__()
        self.rows = rows

    def run(self) -> None:
        for key, value in self.rows:
            self.next(k=key, v=value)
            self.commit()


class KV(pw.Schema):
    k: str = pw.column_definition(primary_key=True)
    v: int


def _run_edits(state: Path, out: Path, steps: list, keyed: list) -> list[str]:
    values = pw.io.python.read(Edits(steps), schema=X, name="edits")
    rows = pw.io.python.read(Keyed(keyed), schema=KV, name="keyed")
    pw.io.csv.write(values.reduce(total=pw.reducers.sum(pw.this.x), n=pw.reducers.count()),
                    out, name="sums")
    pw.io.csv.write(rows.reduce(total=pw.reducers.sum(pw.this.v), n=pw.reducers.count()),
                    out.with_name("keyed.csv"), name="keyed")
    errors: list[str] = []
    pw.io.subscribe(pw.global_error_log(), on_change=lambda key, row, time, is_addition:
                    errors.append(row["message"]) if is_addition else None)
    pw.run(persistence_config=pw.persistence.Config(
        pw.persistence.Backend.filesystem(state), snapshot_interval_ms=0
    ))
    return errors


def test_a_restart_rebuilds_replayed_rows_for_deletions_and_keys(tmp_path: Path) -> None:
    """The source's state (rows kept for deletions by value, the row of each key, row ids)
    is rebuilt from the subject's replay: deleting or updating a row sent before the restart
    retracts it, and a bad row is reported only when it is first delivered."""
    first = [("add", 1), ("add", 2), ("add", "bad"), ("add", 2)]
    keyed = [("a", 1), ("b", 2)]
    state, out = tmp_path / "state", tmp_path / "out.csv"
    errors = _run_edits(state, out, first, keyed)
    assert len(errors) == 1 and "bad" in errors[0]
    assert _final(out)[-1] == '"5","3"'
    errors = _run_edits(state, out, [*first, ("remove", 2), ("add", 30)],
                        [*keyed, ("a", 10), ("c", 5)])
    assert errors == []
    assert _final(out)[-1] == '"33","3"'
    assert _final(tmp_path / "keyed.csv")[-1] == '"17","3"'


class Event(pw.Schema):
    k: int
    t: int


def _run_window_join(state: Path, out: Path) -> None:
    left = pw.debug.table_from_markdown("k | t\n1 | 3\n2 | 12")
    right = pw.io.python.read(Numbers([1, 2]), schema=X, name="numbers").select(
        k=pw.this.x, t=pw.this.x * 5
    )
    pairs = left.window_join(
        right, left.t, right.t, pw.temporal.tumbling(duration=10), left.k == right.k
    ).select(k=pw.left.k)
    pw.io.csv.write(pairs, out, name="pairs")
    pw.run(persistence_config=pw.persistence.Config(
        pw.persistence.Backend.filesystem(state), snapshot_interval_ms=0
    ))


def test_window_join_keys_of_another_scheme_are_refused(tmp_path: Path, monkeypatch) -> None:
    # A checkpoint's join keys were computed by the code that wrote it: restoring them under
    # another scheme would pair rows wrongly, so it must be refused, not mixed.
    from reflow.temporal import windows

    out = tmp_path / "out.csv"
    _run_window_join(tmp_path / "state", out)
    assert sorted(_final(out)) == ['"1"', '"2"']
    _run_window_join(tmp_path / "state", out)  # the same scheme: restored, nothing new
    assert sorted(_final(out)) == ['"1"', '"2"']
    monkeypatch.setattr(windows, "WINDOW_JOIN_KEY_SCHEME", windows.WINDOW_JOIN_KEY_SCHEME + 1)
    with pytest.raises(pw.persistence.PersistenceError, match=r"pipeline changed.*delete"):
        _run_window_join(tmp_path / "state", out)
