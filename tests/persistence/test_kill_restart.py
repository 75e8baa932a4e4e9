"""A persistent pipeline killed with SIGKILL at random instants and restarted each time ends
with the same output as a run that was never interrupted."""

from __future__ import annotations

import json
import random
import signal
import time
from collections import Counter
from pathlib import Path

from tests.persistence.harness import (
    checkpointed_since,
    net_json_rows,
    net_rows,
    run_with_kills,
    start,
)

WORDS = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta"]


def _file_feeder(directory: Path, files: int, seed: int):
    rng = random.Random(seed)
    contents = [
        "word\n" + "".join(rng.choice(WORDS) + "\n" for _ in range(rng.randint(1, 30)))
        for _ in range(files)
    ]

    def feed(step: int, last_run: bool) -> bool:
        # The last file waits for the last run: it is what makes the pipeline reach its end.
        if step >= files or (step == files - 1 and not last_run):
            return False
        target = directory / f"part-{step:04d}.csv"
        temporary = directory / f".part-{step:04d}.tmp"
        temporary.write_text(contents[step])
        temporary.rename(target)
        return True

    rows = sum(text.count("\n") - 1 for text in contents)
    return feed, rows


def _wordcount(tmp: Path, kills: int, seed: int) -> str:
    tmp.mkdir()
    (tmp / "in").mkdir()
    feed, rows = _file_feeder(tmp / "in", files=60, seed=7)
    out = tmp / "out.csv"
    run_with_kills(
        "pipeline_files.py", [str(tmp / "in"), str(out), str(tmp / "state"), str(rows)],
        feed, kills=kills, seed=seed,
    )
    return out.read_text()


def test_file_groupby_csv_survives_kill_9(tmp_path: Path) -> None:
    reference = _wordcount(tmp_path / "reference", kills=0, seed=1)
    killed = _wordcount(tmp_path / "killed", kills=10, seed=2)
    expected = net_rows(reference)
    assert expected and all(v == 1 for v in expected.values())
    assert net_rows(killed) == expected
    assert killed.count('"word","count"') == 1  # restarts appended after the checkpoint


def _windows(tmp: Path, kills: int, seed: int) -> str:
    tmp.mkdir()
    out = tmp / "out.jsonl"
    run_with_kills(
        "pipeline_subject.py", [str(out), str(tmp / "state"), "600"],
        lambda step, last_run: False, kills=kills, seed=seed, window=(1.0, 3.5),
    )
    return out.read_text()


def test_subject_join_windows_jsonlines_survives_kill_9(tmp_path: Path) -> None:
    reference = _windows(tmp_path / "reference", kills=0, seed=1)
    killed = _windows(tmp_path / "killed", kills=10, seed=3)
    expected = net_json_rows(reference)
    assert len(expected) == 5 * 24  # five labels, 600 rows in windows of 25
    assert all(v == 1 for v in expected.values())
    assert net_json_rows(killed) == expected


def test_kafka_reduce_postgres_snapshot_survives_kill_9(tmp_path: Path, kafka, pg) -> None:
    rng = random.Random(11)
    shops = ["north", "south", "east", "west", "centre"]
    batches = [
        [{"shop": rng.choice(shops), "amount": rng.randint(1, 100)} for _ in range(20)]
        for _ in range(40)
    ]
    topic = kafka.create_topic()
    out_topic = kafka.create_topic(partitions=2)
    table, changes = pg.table_name(), pg.table_name()

    feed = _PacedKafkaFeed(kafka, topic, batches, every=0.3)

    checkpointed = checkpointed_since(tmp_path / "state")

    def step_done(since: float) -> bool:
        # While input comes, a kill waits for the restarted pipeline to checkpoint anew.
        return feed.sent >= len(batches) - 1 or checkpointed(since)

    rows = sum(len(batch) for batch in batches)
    run_with_kills(
        "pipeline_kafka.py",
        [kafka.address, topic, table, changes, str(tmp_path / "state"), str(rows), out_topic],
        feed, kills=10, seed=5, window=(0.2, 1.5), ready=step_done,
    )
    final = _shop_totals(batches)
    assert pg.rows(f'SELECT shop, total, n FROM "{table}"') == final
    # The change stream: each change once (no time repeated by a restart), summing to the
    # final rows.
    net = pg.rows(f'SELECT shop, total, n, SUM(diff) FROM "{changes}" GROUP BY shop, total, n '
                  "HAVING SUM(diff) <> 0")
    assert net == [(*row, 1) for row in final]
    assert pg.rows(f'SELECT shop, time, COUNT(*) FROM "{changes}" GROUP BY shop, time '
                   "HAVING COUNT(*) > 2") == []
    _check_kafka_totals(kafka, out_topic, final)


class _PacedKafkaFeed:
    """``run_with_kills``' feed: one of ``batches`` to ``topic`` every ``every`` seconds, so
    the input keeps coming over several runs; the last batch waits for the last run, since
    it is what makes the pipeline reach its end."""

    def __init__(self, kafka, topic: str, batches: list[list[dict]], every: float) -> None:
        self.kafka, self.topic, self.batches, self.every = kafka, topic, batches, every
        self.sent = 0  # how many batches were sent
        self._sent_at = 0.0

    def __call__(self, step: int, last_run: bool) -> bool:
        batches = self.batches
        if step >= len(batches) or (step == len(batches) - 1 and not last_run):
            return False
        if time.monotonic() - self._sent_at < self.every:
            return False
        self.kafka.produce(self.topic, batches[step])
        self._sent_at, self.sent = time.monotonic(), step + 1
        return True


def _shop_totals(batches: list[list[dict]]) -> list[tuple[str, int, int]]:
    """The final ``(shop, total, n)`` rows of the sales in ``batches``."""
    expected: dict[str, tuple[int, int]] = {}
    for batch in batches:
        for sale in batch:
            total, n = expected.get(sale["shop"], (0, 0))
            expected[sale["shop"]] = (total + sale["amount"], n + 1)
    return sorted(((shop, t, n) for shop, (t, n) in expected.items()), key=repr)


def _check_kafka_totals(kafka, topic: str, final: list) -> None:
    """The Kafka sink's change stream, read in order, never holds a row twice nor retracts a
    row it does not hold (nothing written twice or lost by a restart), and ends with exactly
    the final rows."""
    messages = kafka.consume_to_end(topic)
    assert messages
    held: Counter = Counter()
    for message in messages:  # one shop's messages share a key, so a partition, so an order
        record = json.loads(message.value())
        row = (record["shop"], record["total"], record["n"])
        held[row] += record["diff"]
        assert held[row] in (0, 1), f"{row} held {held[row]} times after {record}"
        headers = dict(message.headers())
        assert int(headers["pathway_diff"]) == record["diff"]
        assert int(headers["pathway_time"]) == record["time"]
    assert sorted((row for row, n in held.items() if n), key=repr) == final


def test_kafka_sink_survives_kill_9_after_writes_no_checkpoint_covers(tmp_path: Path,
                                                                     kafka) -> None:
    """Kills land soon after the restarted pipeline wrote to its output topic, long before
    its next checkpoint: each restart finds messages written after the checkpoint, which its
    replay must neither repeat nor leave standing when it computes other changes."""
    rng = random.Random(17)
    shops = ["north", "south", "east", "west", "centre"]
    batches = [
        [{"shop": rng.choice(shops), "amount": rng.randint(1, 100)} for _ in range(15)]
        for _ in range(40)
    ]
    topic = kafka.create_topic()
    out_topic = kafka.create_topic(partitions=2)
    feed = _PacedKafkaFeed(kafka, topic, batches, every=0.2)

    written_at_start: dict[float, int] = {}

    def wrote_since(since: float) -> bool:
        # The output topic grew since this process started (Tansu's watermarks may lag the
        # true end by a batch, which only delays the kill).
        size = kafka.topic_size(out_topic)
        start = written_at_start.setdefault(since, size)
        return size > start

    rows = sum(len(batch) for batch in batches)
    run_with_kills(
        "pipeline_kafka_sink.py",
        [kafka.address, topic, out_topic, str(tmp_path / "state"), str(rows)],
        feed, kills=5, seed=19, window=(0.05, 0.8), ready=wrote_since,
    )
    final = _shop_totals(batches)
    _check_kafka_totals(kafka, out_topic, final)


def test_kafka_primary_key_reduce_postgres_snapshot_survives_kill_9(
    tmp_path: Path, kafka, pg
) -> None:
    # Messages replace the reading of their sensor, often moving it to another shop: after a
    # restart, the replaced readings read before it must still be retracted from the totals.
    rng = random.Random(13)
    shops = ["north", "south", "east", "west"]
    batches = [
        [{"sensor": f"s{rng.randrange(12)}", "shop": rng.choice(shops),
          "amount": rng.randint(1, 100)} for _ in range(10)]
        for _ in range(40)
    ]
    batches.append([{"sensor": "end", "shop": "end", "amount": 0}])
    topic = kafka.create_topic()
    table = pg.table_name()
    feed = _PacedKafkaFeed(kafka, topic, batches, every=0.3)

    checkpointed = checkpointed_since(tmp_path / "state")

    def step_done(since: float) -> bool:
        return feed.sent >= len(batches) - 1 or checkpointed(since)

    run_with_kills(
        "pipeline_kafka_keyed.py",
        [kafka.address, topic, table, str(tmp_path / "state")],
        feed, kills=10, seed=7, window=(0.2, 1.5), ready=step_done,
    )
    current = {reading["sensor"]: reading for batch in batches for reading in batch}
    expected: dict[str, tuple[int, int]] = {}
    for reading in current.values():
        total, n = expected.get(reading["shop"], (0, 0))
        expected[reading["shop"]] = (total + reading["amount"], n + 1)
    final = sorted(((shop, t, n) for shop, (t, n) in expected.items()), key=repr)
    assert pg.rows(f'SELECT shop, total, n FROM "{table}"') == final


def _wait(condition, what: str, process, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if process.poll() is not None:
            raise AssertionError(f"pipeline exited while waiting for {what}:\n"
                                 + process.communicate()[1].decode()[-3000:])
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _json_lines(path: Path) -> list[dict]:
    if not path.exists():
        return []
    # Complete lines only: the pipeline may be writing the last one.
    return [json.loads(line) for line in path.read_text().split("\n")[:-1]]


def _lsn(text: str) -> int:
    high, low = text.split("/")
    return (int(high, 16) << 32) + int(low, 16)


def _checkpointed_slot(state: Path) -> tuple[str, int] | None:
    """The replication slot and LSN of the newest checkpoint (None before the first)."""
    from reflow.runtime.persistence.backend import Backend
    from reflow.runtime.persistence.checkpoint import CheckpointStore

    for _ in range(20):  # the run may be deleting an older checkpoint meanwhile
        try:
            checkpoint = CheckpointStore(Backend.filesystem(str(state))).load_latest()
        except Exception:  # noqa: BLE001 - read again
            time.sleep(0.05)
            continue
        offset = checkpoint.sources.get("items", {}) if checkpoint is not None else {}
        offset = getattr(offset, "streams", offset)  # a source with a primary key
        if "slot" not in offset:
            return None
        return offset["slot"], _lsn(offset["lsn"])
    raise AssertionError(f"cannot read the checkpoints in {state}")


def test_postgres_cdc_survives_kill_9(tmp_path: Path, pg) -> None:
    table = pg.table_name()
    pg.execute(f'CREATE TABLE "{table}" (id INT PRIMARY KEY, value TEXT NOT NULL)')
    out, state = tmp_path / "out.jsonl", tmp_path / "state"
    checkpointed = checkpointed_since(state)
    next_id = [0]

    def insert(n: int) -> None:
        for _ in range(n):  # one transaction each
            pg.execute(f'INSERT INTO "{table}" VALUES (%s, %s)', (next_id[0], f"v{next_id[0]}"))
            next_id[0] += 1

    def confirmed(slot: str) -> int:
        (lsn,), = pg.rows("SELECT confirmed_flush_lsn::text FROM pg_replication_slots "
                          "WHERE slot_name = %s", (slot,))
        return _lsn(lsn)

    def seen(upto: int):
        return lambda: {row["id"] for row in _json_lines(out) if row["diff"] == 1} >= set(
            range(upto))

    insert(10)  # read by the snapshot of the first run
    process = None
    try:
        for _ in range(3):
            since = time.time()
            process = start("pipeline_postgres_cdc.py", table, str(out), str(state))
            _wait(seen(next_id[0]), "the rows so far", process)
            insert(5)
            _wait(seen(next_id[0]), "the new rows", process)

            def checkpoint_after_more_rows(since: float = since) -> bool:
                # A checkpoint is written after a logical time: keep changes coming.
                insert(1)
                time.sleep(0.2)
                return checkpointed(since)

            _wait(checkpoint_after_more_rows, "a checkpoint", process)
            stored = _checkpointed_slot(state)
            assert stored is not None
            _wait(lambda stored=stored: confirmed(stored[0]) >= stored[1],
                  "the slot advanced to the checkpoint", process)
            # Committed by the pipeline, likely not yet checkpointed, then not even read:
            # a restart must read them again from the slot.
            insert(5)
            _wait(seen(next_id[0]), "rows after the checkpoint", process)
            flushed = confirmed(stored[0])
            stored = _checkpointed_slot(state)
            assert stored is not None
            assert flushed <= stored[1]  # the slot never passes the stored checkpoint
            insert(3)
            process.send_signal(signal.SIGKILL)
            process.wait()
            insert(4)  # while the pipeline is down
        process = start("pipeline_postgres_cdc.py", table, str(out), str(state))
        pg.execute(f'INSERT INTO "{table}" VALUES (-1, %s)', ("end",))
        _, err = process.communicate(timeout=120)
        assert process.returncode == 0, err.decode()[-3000:]
    finally:
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()
        slot = (_checkpointed_slot(state) or (None, 0))[0]
        if slot is not None:
            pg.execute("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
                       "WHERE slot_name = %s", (slot,))
    changes = Counter(
        (row["id"], row["value"], row["diff"]) for row in _json_lines(out)
    )
    final = pg.rows(f'SELECT id, value FROM "{table}"')
    # Every insert exactly once: none lost, none read twice.
    assert len(final) == next_id[0] + 1  # the end row too
    assert sorted(changes) == sorted((id_, value, 1) for id_, value in final)
    assert all(count == 1 for count in changes.values()), changes
    assert slot is not None  # one slot, kept across the restarts


def test_postgres_cdc_updates_and_deletes_survive_kill_9(tmp_path: Path, pg) -> None:
    # Rows read before a checkpoint are updated and deleted after it, both while the pipeline
    # runs and while it is down: the restarted reader must retract their previous values.
    rng = random.Random(17)
    table = pg.table_name()
    pg.execute(f'CREATE TABLE "{table}" (id INT PRIMARY KEY, value TEXT NOT NULL)')
    out, state = tmp_path / "out.jsonl", tmp_path / "state"
    checkpointed = checkpointed_since(state)
    next_id = [0]

    def change(n: int) -> None:
        for _ in range(n):  # one transaction each
            present = [row[0] for row in pg.rows(f'SELECT id FROM "{table}"')]
            kind = rng.random()
            if not present or kind < 0.4:
                pg.execute(f'INSERT INTO "{table}" VALUES (%s, %s)',
                           (next_id[0], f"v{next_id[0]}"))
                next_id[0] += 1
            elif kind < 0.8:
                pg.execute(f'UPDATE "{table}" SET value = %s WHERE id = %s',
                           (f"u{rng.randrange(10**6)}", rng.choice(present)))
            else:
                pg.execute(f'DELETE FROM "{table}" WHERE id = %s', (rng.choice(present),))

    def table_rows() -> Counter:
        return Counter({(("id", i), ("value", v)): 1
                        for i, v in pg.rows(f'SELECT id, value FROM "{table}"')})

    def output_rows() -> Counter:
        text = out.read_text() if out.exists() else ""
        return net_json_rows(text[:text.rfind("\n") + 1])  # complete lines only

    def caught_up() -> bool:
        return output_rows() == table_rows()

    change(15)  # read by the snapshot of the first run
    process = None
    try:
        for _ in range(4):
            since = time.time()
            process = start("pipeline_postgres_cdc.py", table, str(out), str(state))
            _wait(caught_up, "the changes so far", process)
            change(10)
            _wait(caught_up, "the new changes", process)

            def checkpoint_after_more_changes(since: float = since) -> bool:
                change(1)  # a checkpoint is written after a logical time
                time.sleep(0.2)
                return checkpointed(since)

            _wait(checkpoint_after_more_changes, "a checkpoint", process)
            change(8)  # likely not checkpointed: read again after the restart
            _wait(caught_up, "changes after the checkpoint", process)
            change(3)
            process.send_signal(signal.SIGKILL)
            process.wait()
            change(6)  # while the pipeline is down
        process = start("pipeline_postgres_cdc.py", table, str(out), str(state))
        pg.execute(f'INSERT INTO "{table}" VALUES (-1, %s)', ("end",))
        _, err = process.communicate(timeout=120)
        assert process.returncode == 0, err.decode()[-3000:]
        assert "not present" not in err.decode()
    finally:
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()
        slot = (_checkpointed_slot(state) or (None, 0))[0]
        if slot is not None:
            pg.execute("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
                       "WHERE slot_name = %s", (slot,))
    assert output_rows() == table_rows()


def test_postgres_cdc_killed_before_its_first_checkpoint_leaves_no_slot(
    tmp_path: Path, pg
) -> None:
    from reflow.runtime.persistence.backend import Backend
    from reflow.runtime.persistence.run import source_scope

    table = pg.table_name()
    pg.execute(f'CREATE TABLE "{table}" (id INT PRIMARY KEY, value TEXT NOT NULL)')
    for i in range(5):
        pg.execute(f'INSERT INTO "{table}" VALUES (%s, %s)', (i, f"v{i}"))
    out, state = tmp_path / "out.jsonl", tmp_path / "state"
    # The slot of a persistent run is named after its storage and source.
    slot = f"reflow_{source_scope(Backend.filesystem(str(state)), 'items')}"

    def slots() -> list[tuple]:
        return pg.rows("SELECT slot_name FROM pg_replication_slots WHERE slot_name = %s",
                       (slot,))

    process = None
    try:
        # Checkpoints an hour apart: the kill lands before the first one.
        process = start("pipeline_postgres_cdc.py", table, str(out), str(state), "3600000")
        _wait(lambda: len(_json_lines(out)) >= 5, "the snapshot's rows", process)
        process.send_signal(signal.SIGKILL)
        process.wait()
        assert not list(state.glob("checkpoint-*.bin"))
        assert slots() == [(slot,)]  # left behind, under its stable name
        pg.execute(f'INSERT INTO "{table}" VALUES (5, %s)', ("v5",))
        # The restart starts afresh: it drops the slot left behind and creates it anew.
        process = start("pipeline_postgres_cdc.py", table, str(out), str(state), "3600000")
        _wait(lambda: len(_json_lines(out)) >= 6, "the rows", process)
        pg.execute(f'INSERT INTO "{table}" VALUES (-1, %s)', ("end",))
        _, err = process.communicate(timeout=120)
        assert process.returncode == 0, err.decode()[-3000:]
        assert slots() == [(slot,)]  # kept for a restart from the final checkpoint
        assert sorted((row["id"], row["diff"]) for row in _json_lines(out)) == [
            (i, 1) for i in range(-1, 6)]
    finally:
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()
        pg.execute("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
                   "WHERE slot_name = %s", (slot,))
    assert slots() == []
