"""Whole programs on several workers (threads of one process, processes started by
``reflow spawn``) give the same output as on one worker; sinks write through one writer."""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import reflow as pw
from reflow.runtime.exchange import decode_batch, encode_batch
from reflow.runtime.workers import WorkerConfig

# One hot key ("a": most rows), a few cold ones, and a join against the per-key totals.
PROGRAM = textwrap.dedent('''
    import sys
    import reflow as pw

    rows = "\\n".join(
        f"{'a' if i % 5 else 'k' + str(i % 7)} | {i} | {i // 10}" for i in range(120)
    )
    t = pw.debug.table_from_markdown("w | n | __time__\\n" + rows)
    totals = t.groupby(t.w).reduce(t.w, s=pw.reducers.sum(t.n), c=pw.reducers.count())
    joined = totals.join(t, totals.w == t.w).select(t.n, totals.s, totals.c)
    pw.io.csv.write(joined, sys.argv[1])
    pw.run()
''')


def _free_ports(count: int) -> int:
    """A first port with ``count`` free ports after it."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            first = probe.getsockname()[1]
        if first + count >= 65535:
            continue
        try:
            held = []
            for port in range(first, first + count):
                s = socket.socket()
                held.append(s)
                s.bind(("127.0.0.1", port))
            return first
        except OSError:
            continue
        finally:
            for s in held:
                s.close()
    raise RuntimeError("no free ports")


def _canonical(path: Path) -> list[str]:
    lines = path.read_text().splitlines()
    return [lines[0], *sorted(lines[1:])]


def _spawn(tmp_path: Path, processes: int, launcher: str = "reflow.cli") -> list[str]:
    program = tmp_path / "main.py"
    program.write_text(PROGRAM)
    out = tmp_path / f"out{processes}.csv"
    subprocess.run(
        [sys.executable, "-m", launcher, "spawn", "--processes", str(processes),
         "--first-port", str(_free_ports(processes)), sys.executable, str(program), str(out)],
        check=True, timeout=120,
    )
    return _canonical(out)


def test_spawned_processes_write_the_single_process_output(tmp_path: Path) -> None:
    one = _spawn(tmp_path, 1)
    assert len(one) > 100
    assert _spawn(tmp_path, 2) == one
    assert _spawn(tmp_path, 4) == one


def test_the_launcher_starts_the_workers_without_importing_reflow(tmp_path: Path) -> None:
    one = _spawn(tmp_path, 1)
    assert _spawn(tmp_path, 2, launcher="reflow_cli") == one
    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, reflow_cli; "
         "print(sorted(m for m in sys.modules if m.split('.')[0] == 'reflow'))"],
        capture_output=True, text=True, check=True, timeout=60,
    )
    assert loaded.stdout.strip() == "[]"


def test_a_failing_worker_process_fails_the_spawn(tmp_path: Path) -> None:
    program = tmp_path / "main.py"
    program.write_text("import os, sys\nsys.exit(3 if os.environ['PATHWAY_PROCESS_ID'] == '1' "
                       "else 0)\n")
    done = subprocess.run([sys.executable, "-m", "reflow.cli", "spawn", "-n", "2",
                           sys.executable, str(program)], timeout=60)
    assert done.returncode == 3


def test_spawned_processes_share_the_polars_threads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    program = tmp_path / "main.py"
    # Each process writes its own file: two processes printing to one pipe may interleave.
    program.write_text(
        "import os, pathlib\n"
        f"out = pathlib.Path({str(tmp_path)!r}) / ('threads-' + os.environ['PATHWAY_PROCESS_ID'])\n"
        "out.write_text(os.environ['POLARS_MAX_THREADS'])\n"
    )
    command = [sys.executable, "-m", "reflow.cli", "spawn", "-n", "2", sys.executable,
               str(program)]

    def shares() -> list[str]:
        subprocess.run(command, timeout=60, check=True)
        return [(tmp_path / f"threads-{i}").read_text() for i in range(2)]

    monkeypatch.delenv("POLARS_MAX_THREADS", raising=False)
    share = str(max(1, (os.cpu_count() or 1) // 2))
    assert shares() == [share, share]
    monkeypatch.setenv("POLARS_MAX_THREADS", "7")  # a user's setting is kept
    assert shares() == ["7", "7"]


@pytest.mark.parametrize("threads", [2, 4])
def test_worker_threads_give_the_one_worker_updates(
    threads: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    def run() -> list[tuple]:
        t = pw.debug.table_from_markdown('''
            w | n | __time__ | __diff__
            a | 1 | 0        | 1
            a | 2 | 0        | 1
            a | 3 | 2        | 1
            b | 4 | 2        | 1
            a | 1 | 4        | -1
        ''')
        r = t.groupby(t.w).reduce(t.w, s=pw.reducers.sum(t.n))
        seen: list[tuple] = []
        times: list[int] = []
        pw.io.subscribe(r, on_change=lambda key, row, time, is_addition: seen.append(
            (time, row["w"], row["s"], is_addition)), on_time_end=times.append)
        pw.run()
        return sorted(seen), times

    expected = run()
    monkeypatch.setenv("PATHWAY_THREADS", str(threads))
    # Two keys over up to four workers: some workers own no key at all.
    assert run() == expected
    assert expected[1] == [0, 2, 4]


def test_bad_worker_settings_are_named() -> None:
    with pytest.raises(ValueError, match="PATHWAY_THREADS must be an integer, not 'two'"):
        WorkerConfig.from_env({"PATHWAY_THREADS": "two"})
    with pytest.raises(ValueError, match="PATHWAY_PROCESS_ID 2 is out of range"):
        WorkerConfig.from_env({"PATHWAY_PROCESSES": "2", "PATHWAY_PROCESS_ID": "2"})


def test_batches_of_python_objects_cross_the_exchange() -> None:
    import polars as pl

    frame = pl.DataFrame({"o": pl.Series([(1, 2), None], dtype=pl.Object), "x": [1, 2]})
    back = decode_batch(encode_batch(frame))
    assert back is not None and back["o"].to_list() == [(1, 2), None]
    assert back.schema == frame.schema


def test_counts_and_int_sums_cross_the_exchange_once_per_key_and_worker() -> None:
    import pandas as pd

    from reflow.engine.operator import RunContext
    from reflow.runtime.runner import build, clear_outputs, registered_outputs
    from reflow.runtime.workers import run_threads

    def program() -> list[tuple]:
        # 10 keys, 4,000 rows over 4 logical times; half of the rows of time 0 are
        # retracted at time 6, so some groups shrink and totals go down.
        frame = pd.DataFrame({
            "w": [f"k{i % 10}" for i in range(4000)],
            "n": [i - 1000 for i in range(4000)],
            "__time__": [2 * (i // 1000) for i in range(4000)],
            "__diff__": [1] * 4000,
        })
        gone = frame[frame["__time__"] == 0].iloc[::2].assign(__time__=6, __diff__=-1)
        t = pw.debug.table_from_pandas(pd.concat([frame, gone], ignore_index=False))
        r = t.groupby(t.w).reduce(t.w, c=pw.reducers.count(), s=pw.reducers.sum(t.n))
        seen: list[tuple] = []
        pw.io.subscribe(r, on_change=lambda key, row, time, is_addition: seen.append(
            (time, row["w"], row["c"], row["s"], is_addition)))
        return seen

    one = program()
    pw.run()
    two = program()
    outputs = registered_outputs()
    clear_outputs()
    shards = run_threads(lambda: build(outputs, RunContext()), 2)
    assert sorted(two) == sorted(one)
    assert len({time for time, *_ in one}) == 4
    # Each worker sends the other at most one row per key and time (its share of the
    # groups' sums), plus the writer's sink rows: not one row per input row.
    assert sum(shard.rows_sent for shard in shards) <= 2 * 10 * 4 + 2 * 10 * 4


# Tables from pandas large enough to be converted per worker (each worker converts its share).
PANDAS_PROGRAM = textwrap.dedent('''
    import sys
    import numpy as np
    import pandas as pd
    import reflow as pw

    n = 120_000
    rng = np.random.default_rng(3)
    frame = pd.DataFrame(
        {"w": np.char.add("w", rng.integers(0, 500, n).astype(str)).astype(object),
         "x": rng.integers(0, 100, n), "f": rng.random(n)},
        index=rng.permutation(n) * 7,
    )
    t = pw.debug.table_from_pandas(frame)
    keyed = pw.debug.table_from_pandas(frame.assign(k=frame.index.astype(str)), id_from=["k"])
    pw.io.csv.write(t.select(t.w, t.x, t.f, i=t.id), sys.argv[1] + ".rows")
    pw.io.csv.write(keyed.select(keyed.k, keyed.x, i=keyed.id), sys.argv[1] + ".keyed")
    counts = t.groupby(t.w).reduce(t.w, c=pw.reducers.count(), s=pw.reducers.sum(t.x))
    pw.io.csv.write(counts, sys.argv[1] + ".counts")
    pw.run()
''')


def test_pandas_inputs_give_the_one_worker_output_on_threads_and_processes(
    tmp_path: Path,
) -> None:
    import os

    program = tmp_path / "main.py"
    program.write_text(PANDAS_PROGRAM)
    env = dict(os.environ, PATHWAY_THREADS="1", PATHWAY_PROCESSES="1")

    def outputs(name: str, command: list[str], **extra: str) -> list[list[str]]:
        out = tmp_path / name
        subprocess.run([*command, str(out)], env=dict(env, **extra), check=True, timeout=180)
        return [_canonical(Path(f"{out}.{part}")) for part in ("rows", "keyed", "counts")]

    python = [sys.executable, str(program)]
    one = outputs("one", python)
    assert [len(part) for part in one] == [120_001, 120_001, 501]
    assert outputs("threads", python, PATHWAY_THREADS="2") == one
    spawn = [sys.executable, "-m", "reflow.cli", "spawn", "-n", "2",
             "--first-port", str(_free_ports(2))]
    assert outputs("processes", [*spawn, *python]) == one


# Many groups (more per worker than a reduce state's first 1,024 slots), one hot key with half
# of the rows, groups emptied and refilled, new groups taking freed slots, and reduces whose
# single group leaves the other worker's shard empty.
GROUPS_PROGRAM = textwrap.dedent('''
    import sys
    import numpy as np
    import pandas as pd
    import reflow as pw

    n = 30_000
    rng = np.random.default_rng(5)
    keys = np.where(rng.random(n) < 0.5, 0, rng.integers(1, 3000, n))
    frame = pd.DataFrame({"k": keys, "x": rng.integers(-50, 50, n),
                          "__time__": 2 * (np.arange(n) // 10_000), "__diff__": 1})
    gone = frame[(frame.k >= 1) & (frame.k < 1500)].assign(__time__=6, __diff__=-1)
    back = frame[(frame.k >= 1) & (frame.k < 500)].assign(__time__=8, __diff__=1)
    new = pd.DataFrame({"k": 3000 + np.arange(4000) % 1500, "x": 1, "__time__": 8,
                        "__diff__": 1}, index=n + np.arange(4000))
    t = pw.debug.table_from_pandas(pd.concat([frame, gone, back, new]))
    sums = t.groupby(t.k).reduce(t.k, c=pw.reducers.count(), s=pw.reducers.sum(t.x))
    means = t.groupby(t.k).reduce(t.k, m=pw.reducers.avg(t.x))
    total = t.reduce(c=pw.reducers.count(), s=pw.reducers.sum(t.x))
    hot = t.filter(t.k == 0)
    hot = hot.groupby(hot.k).reduce(hot.k, c=pw.reducers.count())
    for name, table in (("sums", sums), ("means", means), ("total", total), ("hot", hot)):
        pw.io.csv.write(table, sys.argv[1] + "." + name)
    pw.run()
''')


def test_many_groups_skewed_keys_and_empty_shards_give_the_one_worker_updates(
    tmp_path: Path,
) -> None:
    import os

    program = tmp_path / "main.py"
    program.write_text(GROUPS_PROGRAM)
    env = dict(os.environ, PATHWAY_THREADS="1", PATHWAY_PROCESSES="1")
    parts = ("sums", "means", "total", "hot")

    def outputs(name: str, command: list[str], **extra: str) -> list[list[str]]:
        out = tmp_path / name
        subprocess.run([*command, str(out)], env=dict(env, **extra), check=True, timeout=300)
        return [_canonical(Path(f"{out}.{part}")) for part in parts]

    python = [sys.executable, str(program)]
    one = outputs("one", python)
    # Every group of the 3,000 + 1,500 keys at some time, retractions at times 6 and 8.
    assert len(one[0]) > 4500 and any(line.endswith('"6","-1"') for line in one[0])
    assert len(one[2]) == 1 + 1 + 2 * 4  # the total: inserted once, then changed at each time
    assert outputs("threads", python, PATHWAY_THREADS="2") == one
    spawn = [sys.executable, "-m", "reflow.cli", "spawn", "-n", "2",
             "--first-port", str(_free_ports(2))]
    assert outputs("processes", [*spawn, *python]) == one
