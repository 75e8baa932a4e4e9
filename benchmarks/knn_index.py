"""Nearest-neighbour index maintenance: reflow against Pathway 0.33 in the same run.

    .venv/bin/python benchmarks/knn_index.py [--data 100000] [--queries 10000]
        [--updates 10000] [--commit 100] [--dims 384] [--k 3]

Each measurement runs in its own process with the same pipeline code (written against the
shared ``pw`` API; reflow from this checkout, Pathway from ``benchmarks/.venvs/pathway``):

- **revised**: ``--data`` random vectors and ``--queries`` standing queries are loaded, then
  ``--updates`` data rows get a new vector, ``--commit`` per commit. Reported: updates/s over
  the update phase and the query answers re-emitted per update (answers inserted by the sink
  during the update phase / updates). reflow runs ``DataIndex`` + ``BruteForceKnn`` (exact)
  and ``KNNIndex`` (LSH, default parameters); Pathway runs ``KNNIndex`` (its ``BruteForceKnn``
  has no revised mode).
- **as of now**: the data is loaded, then ``--queries`` queries arrive, ``--commit`` per commit,
  answered by ``query_as_of_now`` over ``BruteForceKnn`` and by ``KNNIndex``'s
  ``get_nearest_items_asof_now`` (LSH, default parameters). Reported: queries/s.

Data and queries come from one ``pw.io.python`` source (a column tells them apart), each
commit its own logical time; an update is a deletion of the old row and an insertion of the
new one. Every case runs twice, in fresh processes: the loads alone, then the loads followed
by the measured commits; the measured phase costs the difference of the two ``pw.run()``
wall times (and its answers the difference of the answer rows inserted). The CPU time of
the process (all its threads) is reported the same way: on a machine shared with other jobs
it is the steadier figure. Vectors are
standard normal (seeded), the same for every process.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
PATHWAY_PYTHON = ROOT / "benchmarks" / ".venvs" / "pathway" / "bin" / "python"


def _vectors(n: int, dims: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, dims)).astype(np.float64)


def run_case(pw, case: str, args: argparse.Namespace) -> dict:
    """Run one measurement with the ``pw`` module given; returns its figures."""
    data_vectors = _vectors(args.data, args.dims, 1)
    query_vectors = _vectors(args.queries, args.dims, 2)
    new_vectors = _vectors(min(args.updates, args.data), args.dims, 3)

    state = {"inserted": 0}

    def commits(keys, vectors) -> list[list[tuple[int, np.ndarray]]]:
        return [[(int(k), vectors[i]) for i, k in enumerate(keys[start:start + args.commit],
                                                              start)]
                for start in range(0, len(keys), args.commit)]

    class Row(pw.Schema):
        key: int = pw.column_definition(primary_key=True)
        vec: np.ndarray
        side: str

    class Feed(pw.io.python.ConnectorSubject):
        """Sends ``plan`` (a list of (side, rows) commits)."""

        def __init__(self, plan) -> None:
            super().__init__()
            self.plan = plan
            self.current: dict[int, dict] = {}

        def run(self) -> None:
            for side, rows in self.plan:
                for key, vec in rows:
                    old = self.current.get(key)
                    if old is not None:  # an update: the old row goes, the new one comes
                        self.delete(**old)
                    self.current[key] = {"key": key, "vec": vec, "side": side}
                    self.next(**self.current[key])
                self.commit()

    load_data = [("d", [(int(k), data_vectors[k]) for k in range(args.data)])]
    query_keys = np.arange(args.queries) + 10_000_000
    if "asof" in case:
        measured_commits = [("q", rows) for rows in commits(query_keys, query_vectors)]
        plan, measured = load_data, args.queries
    else:
        if args.updates > args.data:
            raise SystemExit(f"--updates ({args.updates}) must not exceed --data ({args.data})")
        updated_keys = np.random.default_rng(4).choice(args.data, size=args.updates,
                                                       replace=False)
        load_queries = [(int(k), query_vectors[i]) for i, k in enumerate(query_keys)]
        plan = [*load_data, ("q", load_queries)]
        measured_commits = [("d", rows) for rows in commits(updated_keys, new_vectors)]
        measured = args.updates
    if args.phase == "all":
        plan = plan + measured_commits
    rows = pw.io.python.read(Feed(plan), schema=Row, autocommit_duration_ms=None)
    # re-keyed by the row key: each side gets a universe of its own
    data = rows.filter(pw.this.side == "d").with_id_from(pw.this.key).select(pw.this.vec)
    queries = rows.filter(pw.this.side == "q").with_id_from(pw.this.key).select(pw.this.vec)
    brute_force = pw.indexing.DataIndex(data, pw.indexing.BruteForceKnn(
        data.vec, None, dimensions=args.dims, reserved_space=args.data,
        metric=pw.indexing.BruteForceKnnMetricKind.L2SQ)) if "lsh" not in case else None
    if case == "reflow_revised":
        answers = brute_force.query(queries.vec, number_of_matches=args.k).select(
            n=pw.right._pw_index_reply_score)
    elif brute_force is not None:  # as of now
        answers = brute_force.query_as_of_now(queries.vec, number_of_matches=args.k).select(
            n=pw.right._pw_index_reply_score)
    else:  # KNNIndex (LSH), default parameters
        import importlib

        knn_index = importlib.import_module(pw.__name__ + ".stdlib.ml.index").KNNIndex
        from_ml = knn_index(data.vec, data, n_dimensions=args.dims)
        nearest = (from_ml.get_nearest_items_asof_now if case.endswith("lsh_asof")
                   else from_ml.get_nearest_items)
        answers = nearest(queries.vec, k=args.k, with_distances=True).select(n=pw.this.dist)

    def on_change(key, row, time, is_addition) -> None:
        if is_addition:
            state["inserted"] += 1

    pw.io.subscribe(answers, on_change=on_change)
    started, cpu_started = time.perf_counter(), time.process_time()
    pw.run(monitoring_level=pw.MonitoringLevel.NONE)
    return {"case": case, "phase": args.phase, "measured": measured,
            "seconds": time.perf_counter() - started,
            "cpu_seconds": time.process_time() - cpu_started, "inserted": state["inserted"]}


CASES = {
    "revised": [("reflow", "reflow_revised"), ("reflow", "reflow_lsh"),
                ("pathway", "pathway_lsh")],
    "asof": [("reflow", "reflow_asof"), ("pathway", "pathway_asof"),
             ("reflow", "reflow_lsh_asof"), ("pathway", "pathway_lsh_asof")],
}


def _child(args: argparse.Namespace) -> None:
    if args.case.startswith("pathway"):
        import pathway as pw
    else:
        sys.path.insert(0, str(ROOT))
        import reflow as pw
    print(json.dumps(run_case(pw, args.case, args)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=10_000)
    parser.add_argument("--updates", type=int, default=10_000)
    parser.add_argument("--commit", type=int, default=100)
    parser.add_argument("--dims", type=int, default=384)
    parser.add_argument("--k", type=int, default=3)
    parser.add_argument("--modes", default="revised,asof")
    parser.add_argument("--engines", default="reflow,pathway")
    parser.add_argument("--only", help="comma-separated case names (e.g. pathway_lsh_asof)")
    parser.add_argument("--timeout", type=float, default=1800,
                        help="seconds allowed to one process; a case that exceeds it is "
                        "reported as timed out")
    parser.add_argument("--case", help=argparse.SUPPRESS)
    parser.add_argument("--phase", default="all", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        _child(args)
        return
    sizes = [f"--{n}={getattr(args, n)}" for n in ("data", "queries", "updates", "commit",
                                                      "dims", "k")]
    results = []
    for mode in args.modes.split(","):
        for engine, case in CASES[mode]:
            if engine not in args.engines.split(",") or (
                    args.only and case not in args.only.split(",")):
                continue
            python = sys.executable if engine == "reflow" else str(PATHWAY_PYTHON)
            env = dict(os.environ, PATHWAY_THREADS="1")
            runs = {}
            for phase in ("load", "all"):
                try:
                    done = subprocess.run(
                        [python, __file__, f"--case={case}", f"--phase={phase}", *sizes],
                        env=env, capture_output=True, text=True, timeout=args.timeout)
                except subprocess.TimeoutExpired:
                    print(json.dumps({"case": case, "phase": phase,
                                      "timed_out_after_s": args.timeout}), flush=True)
                    break
                lines = [ln for ln in done.stdout.splitlines() if ln.startswith("{")]
                if done.returncode or not lines:
                    print(f"{case} ({phase}): failed\n{done.stderr[-2000:]}", flush=True)
                    break
                runs[phase] = json.loads(lines[-1])
            if len(runs) < 2:
                continue
            seconds = runs["all"]["seconds"] - runs["load"]["seconds"]
            cpu = runs["all"]["cpu_seconds"] - runs["load"]["cpu_seconds"]
            result = {"case": case, "measured": runs["all"]["measured"],
                      "seconds": seconds, "per_second": runs["all"]["measured"] / seconds,
                      "cpu_seconds": cpu, "per_cpu_second": runs["all"]["measured"] / cpu,
                      "load_average": os.getloadavg()[0],
                      "answers_per_change": (runs["all"]["inserted"] - runs["load"]["inserted"])
                      / runs["all"]["measured"],
                      "load_seconds": runs["load"]["seconds"],
                      "load_cpu_seconds": runs["load"]["cpu_seconds"]}
            results.append(result)
            print(json.dumps(result), flush=True)
    print(json.dumps({"args": vars(args), "results": results}))


if __name__ == "__main__":
    main()
