"""Workload 2: streaming wordcount — words pushed through the Python source, one commit
every 1,000 words, counts kept up to date and every change written to a CSV file.

reflow and Pathway run the same pipeline: a ``pw.io.python.ConnectorSubject`` that calls
``next(word=...)`` and ``commit()`` every ``COMMIT`` rows, ``groupby`` + ``reducers.count``,
``pw.io.csv.write``. Bytewax runs ``TestingSource`` (batches of ``COMMIT``) + ``key_on`` +
a running-count ``stateful_map`` + ``FileSink``, emitting every updated count as it goes.
Throughput is words per second over the whole run (``pw.run()`` / ``run_main``); the words
are read into memory before the clock starts. The digest is the final count of every word.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import (
    NOT_IMPLEMENTED,
    OK,
    UNSUPPORTED,
    digest_rows,
    emit,
    final_rows_from_update_csv,
    not_available,
    read_words,
    words_file,
    workload_arguments,
)

WORKLOAD = "streaming_wordcount"
FULL_SIZE = 1_000_000
QUICK_SIZE = 20_000
COMMIT = 1_000


def run_table_api(pw, words: list[str], out: Path, commit: int = COMMIT) -> None:
    """The pipeline, written once against the shared ``pw`` API (reflow or Pathway)."""

    class Words(pw.Schema):
        word: str

    class WordSubject(pw.io.python.ConnectorSubject):
        def run(self) -> None:
            for start in range(0, len(words), commit):
                for word in words[start : start + commit]:
                    self.next(word=word)
                self.commit()

    table = pw.io.python.read(WordSubject(), schema=Words, autocommit_duration_ms=None)
    counts = table.groupby(pw.this.word).reduce(pw.this.word, count=pw.reducers.count())
    pw.io.csv.write(counts, str(out))
    pw.run(monitoring_level=pw.MonitoringLevel.NONE)


def run_bytewax(words: list[str], out: Path, commit: int = COMMIT) -> float:
    import bytewax.operators as op
    from bytewax.connectors.files import FileSink
    from bytewax.dataflow import Dataflow
    from bytewax.testing import TestingSource, run_main

    def running_count(state: int | None, _word: str) -> tuple[int, int]:
        state = (state or 0) + 1
        return state, state

    out.touch()
    flow = Dataflow("streaming_wordcount")
    stream = op.input("read", flow, TestingSource(words, batch_size=commit))
    keyed = op.key_on("key", stream, lambda word: word)
    counts = op.stateful_map("count", keyed, running_count)
    rows = op.map("format", counts, lambda kv: ("out", f"{kv[0]},{kv[1]}"))
    op.output("write", rows, FileSink(out))
    start = time.perf_counter()
    run_main(flow)
    elapsed = time.perf_counter() - start
    latest: dict[str, str] = {}
    for line in out.read_text().splitlines():
        word, count = line.rsplit(",", 1)
        latest[word] = count
    out.write_text("word,count\n" + "".join(f"{w},{c}\n" for w, c in latest.items()))
    return elapsed


def main() -> None:
    args = workload_arguments(__doc__).parse_args()
    commit = args.commit or COMMIT
    n = args.size or (QUICK_SIZE if args.quick else FULL_SIZE)
    source = words_file(args.data_dir, n)
    if args.prepare:
        return
    if args.engine == "polars":
        emit(WORKLOAD, args.engine, UNSUPPORTED, note="Polars has no streaming updates", size=n)
        return
    words = read_words(source)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "counts.csv"
        try:
            if args.engine == "bytewax":
                elapsed = run_bytewax(words, out, commit)
            else:
                import importlib

                pw = importlib.import_module(args.engine)
                start = time.perf_counter()
                run_table_api(pw, words, out, commit)
                elapsed = time.perf_counter() - start
        except (AttributeError, ImportError, NotImplementedError) as exc:
            emit(WORKLOAD, args.engine, NOT_IMPLEMENTED, note=not_available(exc), size=n)
            return
        digest = digest_rows(final_rows_from_update_csv(out, ["word", "count"]))
    emit(
        WORKLOAD,
        args.engine,
        OK,
        {"run_s": elapsed, "words_per_s": n / elapsed},
        digest,
        size=n,
        commit=commit,
    )


if __name__ == "__main__":
    main()
