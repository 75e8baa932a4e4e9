"""Streaming wordcount over a directory of CSV files into a CSV file, with persistence.

Run by ``test_kill_restart.py`` in a subprocess: ``python pipeline_files.py INPUT OUTPUT STATE
EXPECTED_ROWS``; it stops by itself once EXPECTED_ROWS input rows were counted.
"""

import sys

import reflow as pw
from reflow.runtime.streaming import stop


def main() -> None:
    source, output, state, expected = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])


    class Words(pw.Schema):
        word: str


    words = pw.io.csv.read(source, schema=Words, mode="streaming", name="words")
    counts = words.groupby(pw.this.word).reduce(pw.this.word, count=pw.reducers.count())
    pw.io.csv.write(counts, output, name="counts")
    total = words.reduce(n=pw.reducers.count())


    def on_change(key, row, time, is_addition):
        if is_addition and row["n"] >= expected:
            stop()


    pw.io.subscribe(total, on_change=on_change)
    pw.run(persistence_config=pw.persistence.Config(
        pw.persistence.Backend.filesystem(state), snapshot_interval_ms=50
    ))


if __name__ == "__main__":
    main()
