"""Workload 1: static wordcount — read a CSV of words, count each word, write a CSV.

reflow and Pathway run the same pipeline (``pw.io.csv.read`` in static mode, ``groupby`` +
``reducers.count``, ``pw.io.csv.write``); Polars runs ``read_csv`` + ``group_by().len()`` +
``write_csv`` (the lower bound); Bytewax reads the file line by line and uses ``count_final``.
The runner measures the whole process (wall time, peak RSS); the script reports
``compute_s``, the time from building the pipeline to the output file being written.
The digest is taken from the output file after the clock stops.
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
    digest_rows,
    emit,
    final_rows_from_update_csv,
    not_available,
    words_file,
    workload_arguments,
)

WORKLOAD = "static_wordcount"
FULL_SIZE = 5_000_000
QUICK_SIZE = 20_000


def run_table_api(pw, source: Path, out: Path) -> None:
    """The pipeline, written once against the shared ``pw`` API (reflow or Pathway)."""

    class Words(pw.Schema):
        word: str

    words = pw.io.csv.read(str(source), schema=Words, mode="static")
    counts = words.groupby(pw.this.word).reduce(pw.this.word, count=pw.reducers.count())
    pw.io.csv.write(counts, str(out))
    pw.run(monitoring_level=pw.MonitoringLevel.NONE)


def run_polars(source: Path, out: Path) -> None:
    import polars as pl

    pl.read_csv(source).group_by("word").len(name="count").write_csv(out)


def run_bytewax(source: Path, out: Path) -> None:
    import bytewax.operators as op
    from bytewax.connectors.files import FileSink, FileSource
    from bytewax.dataflow import Dataflow
    from bytewax.testing import run_main

    out.touch()
    flow = Dataflow("static_wordcount")
    lines = op.input("read", flow, FileSource(source))
    words = op.filter("skip_header", lines, lambda line: line != "word")
    counts = op.count_final("count", words, lambda word: word)
    rows = op.map("format", counts, lambda kv: ("out", f"{kv[0]},{kv[1]}"))
    op.output("write", rows, FileSink(out))
    run_main(flow)
    out.write_text("word,count\n" + out.read_text())


def main() -> None:
    args = workload_arguments(__doc__).parse_args()
    n = args.size or (QUICK_SIZE if args.quick else FULL_SIZE)
    source = words_file(args.data_dir, n)
    if args.prepare:
        return
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "counts.csv"
        start = time.perf_counter()
        try:
            if args.engine == "polars":
                run_polars(source, out)
            elif args.engine == "bytewax":
                run_bytewax(source, out)
            else:
                import importlib

                pw = importlib.import_module(args.engine)
                start = time.perf_counter()
                run_table_api(pw, source, out)
        except (AttributeError, ImportError, NotImplementedError) as exc:
            emit(WORKLOAD, args.engine, NOT_IMPLEMENTED, note=not_available(exc), size=n)
            return
        compute = time.perf_counter() - start
        digest = digest_rows(final_rows_from_update_csv(out, ["word", "count"]))
    emit(
        WORKLOAD,
        args.engine,
        OK,
        {"compute_s": compute, "words_per_s": n / compute},
        digest,
        size=n,
    )


if __name__ == "__main__":
    main()
