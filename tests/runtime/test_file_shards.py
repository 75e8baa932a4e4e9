"""Static reads of a directory of files on several workers: each worker reads its own files
(each file read by exactly one worker), and the output is the one-worker output."""

from __future__ import annotations

import logging
import os
import random
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import reflow as pw
from reflow.io._files import list_files, share_files
from tests.runtime.test_workers import _free_ports


def _write_inputs(folder: Path, files: int = 5, seed: int = 3) -> int:
    """CSV files of words of uneven sizes (one empty, one with a bad row); returns the
    number of good rows."""
    rng = random.Random(seed)
    folder.mkdir()
    good = 0
    for index in range(files):
        lines = ["w,n"]
        for _ in range(0 if index == 1 else rng.randint(20, 400) * (index + 1)):
            lines.append(f"w{rng.randint(0, 60)},{rng.randint(-5, 9)}")
            good += 1
        if index == 3:
            lines.insert(7, "bad,notanint")
        (folder / f"part-{index}.csv").write_text("\n".join(lines) + "\n")
    return good


class Words(pw.Schema):
    w: str
    n: int


def _program(folder: Path) -> tuple[list[tuple], list[int], list[str]]:
    """Word totals, a join of every row with its word's total and the error log, each as
    the sorted (row, is_addition) changes; the logical times; the error messages."""
    t = pw.io.csv.read(folder, schema=Words, mode="static")
    totals = t.groupby(t.w).reduce(t.w, c=pw.reducers.count(), s=pw.reducers.sum(t.n))
    joined = t.join(totals, t.w == totals.w).select(t.n, totals.s)
    seen: list[tuple] = []
    times: set[int] = set()
    for name, table in (("totals", totals), ("joined", joined)):
        pw.io.subscribe(
            table,
            on_change=lambda key, row, time, is_addition, name=name: (
                seen.append((name, tuple(sorted(row.items())), is_addition)), times.add(time)
            ),
        )
    errors: list[str] = []
    pw.io.subscribe(pw.global_error_log(),
                    on_change=lambda key, row, time, is_addition: errors.append(row["message"]))
    pw.run(monitoring_level=pw.MonitoringLevel.NONE, terminate_on_error=False)
    return sorted(seen), sorted(times), sorted(errors)


def test_files_are_shared_each_to_exactly_one_worker() -> None:
    rng = random.Random(11)
    for _ in range(200):
        files = [f"f{i}" for i in range(rng.randint(0, 12))]
        sizes = {f: rng.choice([0, 1, 10, rng.randint(0, 10**6)]) for f in files}
        workers = rng.randint(1, 16)  # often more workers than files: empty shares
        shares = [share_files(files, w, workers, sizes.get) for w in range(workers)]
        assert sorted(f for share in shares for f in share) == sorted(files)
        assert all(share == [f for f in files if f in share] for share in shares)
        if len(files) >= workers and len(set(sizes.values())) == 1:
            assert all(share for share in shares)  # even files: nobody left out


def test_parts_of_a_directory_add_up_to_the_whole_read(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    good = _write_inputs(folder)
    source = pw.io.csv.read(folder, schema=Words, mode="static", with_metadata=True)._node.source
    assert source.splits_by_file()
    whole, whole_errors = source.read_part(0, 1)
    assert whole is not None and whole.height == good and len(whole_errors) == 1
    for workers in (2, 3, 7):
        parts = [source.read_part(w, workers) for w in range(workers)]
        frames = [frame for frame, _ in parts if frame is not None]
        paths = [{meta.value["path"] for meta in frame["_metadata"]} for frame in frames]
        assert sum(map(len, paths)) == len(set().union(*paths))  # no file in two parts
        assert sorted(row for frame in frames for row in frame.drop("_metadata").rows()) == \
            sorted(whole.drop("_metadata").rows())
        assert sorted(e for _, errors in parts for e in errors) == whole_errors
    # A primary key makes rows of one file replace those of another: read whole.
    class Keyed(pw.Schema):
        w: str = pw.column_definition(primary_key=True)
        n: int

    assert not pw.io.csv.read(folder, schema=Keyed, mode="static")._node.source.splits_by_file()
    assert not pw.io.csv.read(folder, schema=Words)._node.source.splits_by_file()


@pytest.mark.parametrize("threads", [2, 7])
def test_worker_threads_read_their_own_files_and_give_the_one_worker_output(
    tmp_path: Path, threads: int, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    folder = tmp_path / "in"
    _write_inputs(folder)
    expected = _program(folder)
    assert len(expected[1]) == 1 and len(expected[2]) == 1  # one time, one bad row
    monkeypatch.setenv("PATHWAY_THREADS", str(threads))
    with caplog.at_level(logging.DEBUG, logger="reflow"):
        got = _program(folder)
    assert got[0] == expected[0] and got[2] == expected[2] and len(got[1]) == 1
    reads = [r.args for r in caplog.records if "reads %d file(s)" in r.msg]
    assert sorted(worker for _, worker, _, _ in reads) == list(range(threads))
    assert sum(count for *_, count in reads) == len(list_files(str(folder)))


PROGRAM = textwrap.dedent('''
    import sys
    import reflow as pw

    class Words(pw.Schema):
        w: str
        n: int

    t = pw.io.csv.read(sys.argv[1], schema=Words, mode="static")
    totals = t.groupby(t.w).reduce(t.w, c=pw.reducers.count(), s=pw.reducers.sum(t.n))
    pw.io.csv.write(totals, sys.argv[2])
    pw.io.csv.write(t.join(totals, t.w == totals.w).select(t.n, totals.s), sys.argv[2] + ".j")
    pw.run(monitoring_level=pw.MonitoringLevel.NONE, terminate_on_error=False)
''')


def test_worker_processes_read_a_directory_into_the_one_worker_output(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    _write_inputs(folder)
    program = tmp_path / "main.py"
    program.write_text(PROGRAM)
    env = dict(os.environ, PATHWAY_THREADS="1", PATHWAY_PROCESSES="1")

    def run(processes: int) -> list[list[str]]:
        out = tmp_path / f"out{processes}.csv"
        command = [sys.executable, str(program), str(folder), str(out)]
        if processes > 1:
            command = [sys.executable, "-m", "reflow.cli", "spawn", "-n", str(processes),
                       "--first-port", str(_free_ports(processes)), *command]
        subprocess.run(command, env=env, check=True, timeout=180)
        outputs = []
        for path in (out, Path(f"{out}.j")):
            lines = path.read_text().splitlines()
            # the time column (wall-clock milliseconds) differs between runs
            times = {line.rsplit(",", 2)[1] for line in lines[1:]}
            assert len(times) == 1
            outputs.append([lines[0], *sorted(line.rsplit(",", 2)[0] + "," +
                                              line.rsplit(",", 1)[1] for line in lines[1:])])
        return outputs

    one = run(1)
    assert len(one[0]) > 50 and len(one[1]) > 1000
    assert run(2) == one


def test_rows_of_other_workers_arrive_when_worker_0_reads_no_row(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.csv").write_text("w,n\n" + "\n" * 5000)  # the largest file: worker 0's, no row
    (folder / "b.csv").write_text("w,n\nx,1\ny,2\nx,3\n")
    assert share_files(list_files(str(folder)), 0, 2) == [str(folder / "a.csv")]

    def run() -> list[tuple]:
        t = pw.io.csv.read(folder, schema=Words, mode="static")
        sums = t.groupby(t.w).reduce(t.w, s=pw.reducers.sum(t.n))
        seen: list[tuple] = []
        pw.io.subscribe(sums, on_change=lambda key, row, time, is_addition: seen.append(
            (row["w"], row["s"], is_addition)))
        pw.run(monitoring_level=pw.MonitoringLevel.NONE)
        return sorted(seen)

    assert run() == [("x", 4, True), ("y", 2, True)]
    monkeypatch.setenv("PATHWAY_THREADS", "2")
    assert run() == [("x", 4, True), ("y", 2, True)]
