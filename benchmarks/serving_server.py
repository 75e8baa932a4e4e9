"""The served side of ``benchmarks/serving.py``; run under reflow's or Pathway's interpreter.

``--mode rest``: a query-answering pipeline, the same code for both engines: each request
``{"key": k}`` is joined (left join, keeping the query's id) against a static table of
``--size`` rows ``(key, value)`` read from CSV, and answered with the value.

``--mode sse`` (reflow only): a table served with ``pw.io.http.serve_table``; once
``--subscribers`` clients follow its event stream, ``--revisions`` commits each update one
row, every ``--interval-ms``.
"""

from __future__ import annotations

import argparse
import sys
import time


def rest(pw, args) -> None:
    class Row(pw.Schema):
        key: int
        value: int

    class Query(pw.Schema):
        key: int

    data = pw.io.csv.read(args.data, schema=Row, mode="static")
    webserver = pw.io.http.PathwayWebserver(host="127.0.0.1", port=args.port)
    queries, respond = pw.io.http.rest_connector(
        webserver=webserver, route="/lookup", schema=Query,
        autocommit_duration_ms=args.autocommit_ms, delete_completed_queries=True,
    )
    answers = queries.join_left(data, pw.left.key == pw.right.key, id=pw.left.id).select(
        result=pw.right.value
    )
    respond(answers)
    print("SERVER-STARTING", flush=True)
    pw.run(monitoring_level=pw.MonitoringLevel.NONE)


def sse(pw, args) -> None:
    class Score(pw.Schema):
        player: int = pw.column_definition(primary_key=True)
        points: int

    webserver = pw.io.http.PathwayWebserver(host="127.0.0.1", port=args.port)

    class Feed(pw.io.python.ConnectorSubject):
        def run(self):
            for player in range(10):
                self.next(player=player, points=0)
            self.commit()
            while sum(len(q) for q in live.subscribers.values()) < args.subscribers:
                time.sleep(0.05)
            print("SUBSCRIBED", flush=True)
            for revision in range(1, args.revisions + 1):
                time.sleep(args.interval_ms / 1000)
                self.next(player=revision % 10, points=revision)
                self.commit()
            # Serve until every client has read every revision and left (or 5 minutes).
            deadline = time.monotonic() + 300
            while live.subscribers and time.monotonic() < deadline:
                if not sum(len(q) for q in live.subscribers.values()):
                    break
                time.sleep(0.1)

    scores = pw.io.python.read(Feed(), schema=Score, autocommit_duration_ms=None)
    live = pw.io.http.serve_table(scores, webserver=webserver, route="/scores")
    print("SERVER-STARTING", flush=True)
    pw.run(monitoring_level=pw.MonitoringLevel.NONE)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--engine", choices=["reflow", "pathway"], required=True)
    parser.add_argument("--mode", choices=["rest", "sse"], default="rest")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--data")
    parser.add_argument("--autocommit-ms", type=int, default=10)
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument("--revisions", type=int, default=50)
    parser.add_argument("--interval-ms", type=int, default=100)
    args = parser.parse_args()
    if args.engine == "pathway":
        import pathway as pw
    else:
        import reflow as pw
    {"rest": rest, "sse": sse}[args.mode](pw, args)


if __name__ == "__main__":
    sys.exit(main())
