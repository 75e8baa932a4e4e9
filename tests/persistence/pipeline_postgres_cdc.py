"""PostgreSQL table read by change data capture -> JSON lines, with persistence.

Run by ``test_kill_restart.py``: ``python pipeline_postgres_cdc.py TABLE OUTPUT STATE
[INTERVAL_MS]``: the changes of TABLE go to OUTPUT; it stops by itself once the row with id -1
arrives.
"""

import sys

import reflow as pw
from reflow.runtime.streaming import stop

POSTGRES = {"host": "127.0.0.1", "port": 5432, "dbname": "test", "user": "postgres"}


class Item(pw.Schema):
    id: int = pw.column_definition(primary_key=True)
    value: str


def main() -> None:
    table, output, state = sys.argv[1:4]
    interval = int(sys.argv[4]) if len(sys.argv) > 4 else 1000
    items = pw.io.postgres.read(POSTGRES, table, Item, name="items")
    pw.io.jsonlines.write(items, output, name="out")

    def on_change(key, row, time, is_addition):
        if is_addition and row["id"] == -1:
            stop()

    pw.io.subscribe(items, on_change=on_change)
    pw.run(persistence_config=pw.persistence.Config(
        pw.persistence.Backend.filesystem(state), snapshot_interval_ms=interval
    ))


if __name__ == "__main__":
    main()
