"""Graph algorithms on ``pw.iterate``: reflow against Pathway 0.33 and networkx, in one run.

1. PageRank (5 steps, integer ranks as ``pw.stdlib.graphs.pagerank``) on a power-law graph
   of ``--edges`` edges: wall time of loading the edges and computing the ranks, and the
   peak RSS of the process, for reflow, Pathway (the same pipeline code) and networkx
   (``nx.pagerank``, scipy-backed, to convergence). Each system runs in its own process.
2. Incremental: after the graph is loaded, ``--changes`` single-edge changes (deletions of
   an existing edge and insertions of a new one, alternating), each its own logical time,
   through connected components and single-source shortest paths (Bellman-Ford). Reported:
   median and p99 time per change (and the median CPU time of the process, which a shared
   machine disturbs less), against recomputing from scratch on the final graph;
   the final result is checked against networkx. Pathway runs the same pipelines with its
   Python connector, one commit per change.

3. Louvain (``pw.stdlib.graphs.louvain_communities``, 2 levels) on a planted-partition
   graph of ``--louvain-vertices`` vertices: wall time, peak RSS and the modularity of the
   result (computed by networkx for every system) for reflow, Pathway and networkx's
   ``louvain_communities``.

Usage: ``python benchmarks/graphs.py [--edges N] [--changes C] [--skip-pathway]
[--only pagerank|incremental|louvain] [--louvain-vertices N]``
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
PATHWAY_PYTHON = HERE / ".venvs" / "pathway" / "bin" / "python"
SEED = 17


# --- data (numpy only: it runs in every environment) ------------------------------------------
def make_graph(edges: int, seed: int = SEED):
    """A directed power-law multigraph: endpoints drawn with probability ~ 1/rank^0.9 over
    ``edges // 10`` vertices; no self-loops. Returns (u, v, dist) numpy arrays."""
    import numpy as np

    rng = np.random.default_rng(seed)
    n = max(10, edges // 10)
    weights = 1.0 / np.arange(1, n + 1) ** 0.9
    weights /= weights.sum()
    u = rng.choice(n, size=edges * 11 // 10, p=weights)
    v = rng.integers(0, n, size=u.size)
    keep = u != v
    u, v = u[keep][:edges], v[keep][:edges]
    dist = rng.integers(1, 100, size=u.size).astype(np.float64)
    return u.astype(np.int64), v.astype(np.int64), dist


def make_changes(edges: int, changes: int, seed: int = SEED):
    """Alternating deletions (of an edge present at that moment) and insertions (of a new
    edge): a list of (edge key, u, v, dist, diff)."""
    import numpy as np

    u, v, dist = make_graph(edges, seed)
    rng = np.random.default_rng(seed + 1)
    n = max(10, edges // 10)
    alive = set(range(u.size))
    out = []
    next_key = u.size
    for step in range(changes):
        if step % 2 == 0:
            key = int(rng.integers(0, u.size))
            while key not in alive:
                key = int(rng.integers(0, u.size))
            alive.discard(key)
            out.append((key, int(u[key]), int(v[key]), float(dist[key]), -1))
        else:
            a, b = (int(x) for x in rng.integers(0, n, size=2))
            b = b if b != a else (a + 1) % n
            out.append((next_key, a, b, float(rng.integers(1, 100)), 1))
            next_key += 1
    return out


def summarize(latencies: list[float]) -> dict[str, float]:
    ordered = sorted(latencies)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return {"median_ms": statistics.median(ordered) * 1e3, "p99_ms": p99 * 1e3}


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --- the pipelines, the same code for reflow and Pathway ---------------------------------------
def pagerank_pipeline(pw, edges):
    """Integer PageRank, 5 steps: the formula of ``pw.stdlib.graphs.pagerank``."""
    out_degree = edges.groupby(id=edges.u).reduce(degree=pw.reducers.count())
    sinks = edges.groupby(id=edges.v).reduce(degree=0)
    degrees = sinks.update_rows(out_degree)
    ranks = degrees.select(rank=6_000)

    def step(ranks, degrees, edges):
        share = degrees.select(
            share=pw.if_else(degrees.degree == 0, 0, (ranks.rank * 5) // (degrees.degree * 6))
        )
        flows = edges.join(share, edges.u == share.id).select(v=edges.v, flow=share.share)
        inflow = flows.groupby(id=flows.v).reduce(total=pw.reducers.sum(flows.flow))
        received = inflow.ix(ranks.id, allow_misses=True).total
        return dict(ranks=ranks.select(rank=1_000 + pw.coalesce(received, 0)))

    return pw.iterate(step, iteration_limit=5, ranks=ranks, degrees=degrees, edges=edges).ranks


def components_pipeline(pw, edges):
    both = edges.select(u=edges.u, v=edges.v).concat_reindex(
        edges.select(u=edges.v, v=edges.u)
    )
    labels = both.groupby(id=both.u).reduce(component=pw.reducers.min(both.u))

    def spread(labels, both):
        offers = both.join(labels, both.u == labels.id).select(v=both.v, c=labels.component)
        best = offers.groupby(id=offers.v).reduce(c=pw.reducers.min(offers.c))
        offered = best.ix(labels.id).c
        return dict(labels=labels.select(
            component=pw.if_else(offered < labels.component, offered, labels.component)
        ))

    return pw.iterate(spread, labels=labels, both=both).labels


def shortest_paths_pipeline(pw, edges, source):
    nodes = edges.select(n=edges.u).concat_reindex(edges.select(n=edges.v))
    vertices = nodes.groupby(id=nodes.n).reduce(
        dist_from_source=pw.if_else(pw.reducers.min(nodes.n) == source, 0.0, float("inf"))
    )

    def relax(dist, edges):
        offers = edges.join(dist, edges.u == dist.id).select(
            v=edges.v, d=dist.dist_from_source + edges.dist)
        best = offers.groupby(id=offers.v).reduce(d=pw.reducers.min(offers.d))
        offered = pw.coalesce(best.ix(dist.id, allow_misses=True).d, float("inf"))
        return dict(dist=dist.select(dist_from_source=pw.if_else(
            offered < dist.dist_from_source, offered, dist.dist_from_source)))

    return pw.iterate(relax, dist=vertices, edges=edges).dist


def _edges_csv(edges: int) -> Path:
    """The graph as a CSV file (written once per size), read by every system the same way."""
    path = HERE / "data" / f"graph_{edges}.csv"
    if not path.exists():
        import numpy as np

        u, v, dist = make_graph(edges)
        path.parent.mkdir(exist_ok=True)
        partial = path.with_suffix(".partial")
        with partial.open("w") as out:
            out.write("a,b,dist\n")
            np.savetxt(out, np.column_stack([u, v, dist]), fmt="%d,%d,%.1f")
        partial.rename(path)
    return path


def _pointer_edges(pw, table):
    return table.select(u=table.pointer_from(table.a), v=table.pointer_from(table.b),
                        dist=table.dist)


# --- static PageRank workers -------------------------------------------------------------------
def pagerank_worker(system: str, edges: int) -> None:
    path = _edges_csv(edges)
    start = time.perf_counter()
    if system == "networkx":
        import networkx as nx
        import pandas as pd

        frame = pd.read_csv(path)
        graph = nx.MultiDiGraph()
        graph.add_edges_from(zip(frame["a"].tolist(), frame["b"].tolist(), strict=True))
        ranks = nx.pagerank(graph, alpha=5 / 6)
        result = {"vertices": len(ranks)}
    else:
        if system == "reflow":
            import reflow as pw
        else:
            import pathway as pw

        class Edges(pw.Schema):
            a: int
            b: int
            dist: float

        table = pw.io.csv.read(str(path), schema=Edges, mode="static")
        frame = pw.debug.table_to_pandas(
            pagerank_pipeline(pw, _pointer_edges(pw, table).select(pw.this.u, pw.this.v)),
            include_id=False,
        )
        result = {"vertices": len(frame), "rank_sum": int(frame["rank"].sum()),
                  "rank_max": int(frame["rank"].max())}
    wall = time.perf_counter() - start
    print(json.dumps({"wall_s": wall, "peak_rss_mb": peak_rss_mb(), **result}))


# --- Louvain workers ---------------------------------------------------------------------------
def louvain_graph(vertices: int):
    """A planted-partition graph: groups of 50 vertices, ~10 edges per vertex inside its
    group and ~1 to other groups."""
    import networkx as nx

    groups = max(2, vertices // 50)
    return nx.planted_partition_graph(groups, 50, 10 / 49, 1 / (50 * groups - 50), seed=SEED)


def louvain_worker(system: str, vertices: int) -> None:
    import networkx as nx

    graph = louvain_graph(vertices)
    pairs = list(graph.edges)
    start = time.perf_counter()
    if system == "networkx":
        parts = nx.community.louvain_communities(graph, seed=SEED)
    else:
        import pandas as pd

        if system == "reflow":
            import reflow as pw
        else:
            import pathway as pw
        import importlib

        louvain = importlib.import_module(f"{pw.__name__}.stdlib.graphs.louvain_communities.impl")
        both = pd.DataFrame(pairs + [(b, a) for a, b in pairs], columns=["a", "b"])
        names = pw.debug.table_from_pandas(pd.DataFrame({"name": list(graph.nodes)}))
        V = names.with_id_from(names.name)
        E = pw.debug.table_from_pandas(both)
        WE = E.select(u=V.pointer_from(E.a), v=V.pointer_from(E.b), weight=1.0)
        G = pw.stdlib.graphs.WeightedGraph.from_vertices_and_weighted_edges(V, WE)
        levels = louvain.louvain_communities_fixed_iterations(G, 0.1, 2).clustering_levels
        top = levels.filter(levels.level == 2)
        named = top.join(V, top.v == V.id).select(V.name, top.c)
        frame = pw.debug.table_to_pandas(named, include_id=False)
        grouped: dict = {}
        for name, cluster in zip(frame["name"].tolist(), frame["c"].tolist(), strict=True):
            grouped.setdefault(cluster, set()).add(name)
        parts = list(grouped.values())
    wall = time.perf_counter() - start
    print(json.dumps({"wall_s": wall, "peak_rss_mb": peak_rss_mb(), "clusters": len(parts),
                      "modularity": nx.community.modularity(graph, parts)}))


# --- incremental workers ------------------------------------------------------------------------
def reflow_incremental(algorithm: str, edges: int, changes: int) -> dict:
    import networkx as nx
    import polars as pl

    import reflow as pw
    from reflow.engine.batch import DIFF, ID
    from reflow.engine.ids import hash_columns
    from reflow.engine.operator import RunContext
    from reflow.engine.operators.stateless import OutputOperator
    from reflow.runtime.runner import OutputSpec, build

    u, v, dist = make_graph(edges)
    plan = make_changes(edges, changes)
    source_vertex = 0
    table = pw.Table.empty(key=int, a=int, b=int, dist=float)
    pointers = _pointer_edges(pw, table)
    if algorithm == "components":
        result = components_pipeline(pw, pointers.select(pw.this.u, pw.this.v))
    else:
        result = shortest_paths_pipeline(pw, pointers, pw.pointer_from(source_vertex))

    def batch(frame: pl.DataFrame, diff) -> pl.DataFrame:
        return frame.select(hash_columns(frame, ["key"]).alias(ID), pl.all(),
                            pl.Series(DIFF, diff, dtype=pl.Int64))

    def new_dataflow(sink):
        spec = OutputSpec(result._node,
                          lambda lowering, op: lowering.add(OutputOperator(op, "sink", sink)))
        lowering = build([spec], RunContext())
        return lowering.dataflow, lowering.lower(table._node)

    seen = []
    flow, source = new_dataflow(lambda t, d: seen.append(d))
    initial = pl.DataFrame({"key": range(u.size), "a": u, "b": v, "dist": dist})
    start = time.perf_counter()
    flow.run_time(0, {source: batch(initial, [1] * u.size)})
    load = time.perf_counter() - start
    latencies, cpu = [], []
    for n, (key, a, b, d, diff) in enumerate(plan):
        change = pl.DataFrame({"key": [key], "a": [a], "b": [b], "dist": [d]})
        entered, entered_cpu = time.perf_counter(), time.process_time()
        flow.run_time(n + 1, {source: batch(change, [diff])})
        latencies.append(time.perf_counter() - entered)
        cpu.append(time.process_time() - entered_cpu)

    final = {k: (a, b, d) for k, a, b, d in zip(range(u.size), u.tolist(), v.tolist(),
                                                 dist.tolist(), strict=True)}
    for key, a, b, d, diff in plan:
        if diff > 0:
            final[key] = (a, b, d)
        else:
            del final[key]
    state = pl.concat(seen).group_by(pl.all().exclude(DIFF)).agg(pl.col(DIFF).sum()).filter(
        pl.col(DIFF) != 0)
    vertices = sorted({x for e in final.values() for x in e[:2]})
    pointers = hash_columns(pl.DataFrame({"x": vertices}), ["x"]).to_list()
    names = dict(zip(pointers, vertices, strict=True))
    pointer_of = dict(zip(vertices, pointers, strict=True))
    if algorithm == "components":
        graph = nx.Graph()
        graph.add_edges_from((a, b) for a, b, _ in final.values())
        expected = {}
        for c in nx.connected_components(graph):
            smallest = min(c, key=pointer_of.__getitem__)  # once per component, not per vertex
            expected.update(dict.fromkeys(c, smallest))
        got = {names[i]: names[c] for i, c in zip(state[ID].to_list(),
                                                  state["component"].to_list(), strict=True)}
    else:
        graph = nx.DiGraph()
        for a, b, d in final.values():
            if not graph.has_edge(a, b) or graph[a][b]["weight"] > d:
                graph.add_edge(a, b, weight=d)
        reach = nx.single_source_dijkstra_path_length(graph, source_vertex)
        expected = {x: reach.get(x, float("inf")) for x in graph.nodes}
        got = dict(zip((names[i] for i in state[ID].to_list()),
                       state["dist_from_source"].to_list(), strict=True))
    if got != expected or (state[DIFF] != 1).any():
        raise AssertionError(f"reflow's incremental {algorithm} differs from networkx")
    del flow, state  # the incremental run's memory is not needed from here on
    seen.clear()

    keys = list(final)
    final_frame = pl.DataFrame({"key": keys, "a": [final[k][0] for k in keys],
                                "b": [final[k][1] for k in keys],
                                "dist": [final[k][2] for k in keys]})
    flow2, source2 = new_dataflow(lambda t, d: None)
    start = time.perf_counter()
    flow2.run_time(0, {source2: batch(final_frame, [1] * len(keys))})
    scratch = time.perf_counter() - start
    stats = summarize(latencies)
    stats["cpu_median_ms"] = summarize(cpu)["median_ms"]
    stats["cpu_p99_ms"] = summarize(cpu)["p99_ms"]
    return {"initial_load_s": load, "recompute_s": scratch, **stats, "peak_rss_mb": peak_rss_mb(),
            "recompute_over_median": scratch / (stats["median_ms"] / 1e3), "checked": True}


def pathway_incremental(algorithm: str, edges: int, changes: int) -> None:
    import threading

    import pathway as pw

    u, v, dist = make_graph(edges)
    plan = make_changes(edges, changes)

    class Edges(pw.Schema):
        key: int = pw.column_definition(primary_key=True)
        a: int
        b: int
        dist: float

    lock = threading.Condition()
    state = {"times": 0, "at": 0.0, "cpu": 0.0}

    def on_time_end(t):
        with lock:
            state["times"] += 1
            state["at"] = time.perf_counter()
            state["cpu"] = time.process_time()
            lock.notify_all()

    results: dict = {}

    class Subject(pw.io.python.ConnectorSubject):
        def run(self):
            start = time.perf_counter()
            for key, a, b, d in zip(range(u.size), u.tolist(), v.tolist(), dist.tolist(),
                                    strict=True):
                self.next(key=key, a=a, b=b, dist=d)
            self.commit()
            with lock:
                lock.wait_for(lambda: state["times"] >= 1, 3600)
            results["initial_load_s"] = time.perf_counter() - start
            latencies, cpu = [], []
            for key, a, b, d, diff in plan:
                with lock:
                    before = state["times"]
                entered, entered_cpu = time.perf_counter(), time.process_time()
                if diff > 0:
                    self.next(key=key, a=a, b=b, dist=d)
                else:
                    self._remove_inner(None, dict(key=key, a=a, b=b, dist=d))
                self.commit()
                with lock:
                    if not lock.wait_for(lambda b=before: state["times"] > b, 600):
                        raise TimeoutError("no time ended after a change")
                    latencies.append(state["at"] - entered)
                    cpu.append(state["cpu"] - entered_cpu)
            results["latencies"] = latencies
            results["cpu"] = cpu

    table = pw.io.python.read(Subject(), schema=Edges, autocommit_duration_ms=None)
    pointers = _pointer_edges(pw, table)
    if algorithm == "components":
        result = components_pipeline(pw, pointers.select(pw.this.u, pw.this.v))
    else:
        result = shortest_paths_pipeline(pw, pointers, pointers.pointer_from(0))
    # Pathway ends a time for a subscriber only when its table changed. The edge count
    # changes with every commit, and joining it with a count of the result makes the time end
    # only once the loop has finished that time too.
    edge_count = table.reduce(n=pw.reducers.count())
    result_count = result.reduce(m=pw.reducers.count())
    marker = edge_count.join(result_count, edge_count.id == result_count.id).select(
        edge_count.n, result_count.m)
    pw.io.subscribe(marker, on_change=lambda **kw: None, on_time_end=on_time_end)
    pw.run(monitoring_level=pw.MonitoringLevel.NONE)
    print(json.dumps({"initial_load_s": results["initial_load_s"],
                      **summarize(results["latencies"]),
                      "cpu_median_ms": summarize(results["cpu"])["median_ms"],
                      "cpu_p99_ms": summarize(results["cpu"])["p99_ms"],
                      "peak_rss_mb": peak_rss_mb()}))


# --- driver ---------------------------------------------------------------------------------
def _subprocess(python: Path | str, *args: str, timeout: float = 3600) -> dict | None:
    command = [str(python), str(Path(__file__).resolve()), *args]
    env = dict(os.environ, PATHWAY_THREADS="1", PYTHONPATH=str(HERE.parent))
    try:
        done = subprocess.run(command, capture_output=True, text=True, env=env,
                              timeout=timeout)
    except subprocess.TimeoutExpired:
        print(f"  {' '.join(args)}: timed out after {timeout:.0f} s")
        return None
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        print(f"  {' '.join(args)} failed:")
        print("\n".join((done.stdout + done.stderr).splitlines()[-12:]))
        return None
    return json.loads(lines[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--edges", type=int, default=1_000_000)
    parser.add_argument("--changes", type=int, default=1000)
    parser.add_argument("--skip-pathway", action="store_true")
    parser.add_argument("--only", choices=["pagerank", "incremental", "louvain"])
    parser.add_argument("--louvain-vertices", type=int, default=2000)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        kind, system = args.worker.split(":")
        if kind == "pagerank":
            pagerank_worker(system, args.edges)
        elif kind == "louvain":
            louvain_worker(system, args.louvain_vertices)
        elif system == "pathway":
            pathway_incremental(kind, args.edges, args.changes)
        else:
            print(json.dumps(reflow_incremental(kind, args.edges, args.changes)))
        return

    have_pathway = not args.skip_pathway and PATHWAY_PYTHON.exists()
    if args.only != "louvain":
        print(f"power-law graph: {args.edges:,} edges over {max(10, args.edges // 10):,} "
              "vertices")
    if args.only in (None, "pagerank"):
        runs = {"reflow": sys.executable}
        if have_pathway:
            runs.update(pathway=PATHWAY_PYTHON, networkx=PATHWAY_PYTHON)
        figures = {}
        for system, python in runs.items():
            figures[system] = _subprocess(python, "--worker", f"pagerank:{system}",
                                          "--edges", str(args.edges))
            if figures[system]:
                f = figures[system]
                print(f"pagerank  {system:8}: {f['wall_s']:7.2f} s, peak RSS "
                      f"{f['peak_rss_mb']:7.0f} MB ({f['vertices']:,} vertices)")
        ours, theirs = figures.get("reflow"), figures.get("pathway")
        if ours and theirs:
            same = ours["rank_sum"] == theirs["rank_sum"] and ours["rank_max"] == theirs[
                "rank_max"]
            print(f"pagerank  reflow / Pathway: wall {ours['wall_s'] / theirs['wall_s']:.2f}x, "
                  f"peak RSS {ours['peak_rss_mb'] / theirs['peak_rss_mb']:.2f}x; same ranks: "
                  f"{same}")
    if args.only in (None, "louvain"):
        runs = {"reflow": sys.executable}
        if have_pathway:
            runs.update(pathway=PATHWAY_PYTHON, networkx=PATHWAY_PYTHON)
        for system, python in runs.items():
            f = _subprocess(python, "--worker", f"louvain:{system}", "--louvain-vertices",
                            str(args.louvain_vertices))
            if f:
                print(f"louvain   {system:8}: {f['wall_s']:7.2f} s, peak RSS "
                      f"{f['peak_rss_mb']:7.0f} MB, {f['clusters']} clusters, modularity "
                      f"{f['modularity']:.4f}")
    if args.only in (None, "incremental"):
        for algorithm in ("components", "shortest_paths"):
            ours = _subprocess(sys.executable, "--worker", f"{algorithm}:reflow",
                               "--edges", str(args.edges), "--changes", str(args.changes))
            if ours:
                print(f"{algorithm:15} reflow : load {ours['initial_load_s']:.2f} s; per change "
                      f"median {ours['median_ms']:.2f} ms (CPU {ours['cpu_median_ms']:.2f} "
                      f"ms), p99 {ours['p99_ms']:.2f} ms; from scratch "
                      f"{ours['recompute_s']:.2f} s = "
                      f"{ours['recompute_over_median']:,.0f}x the median; peak RSS "
                      f"{ours['peak_rss_mb']:.0f} MB; checked against networkx")
            if have_pathway:
                theirs = _subprocess(PATHWAY_PYTHON, "--worker", f"{algorithm}:pathway",
                                     "--edges", str(args.edges), "--changes",
                                     str(args.changes))
                if theirs:
                    print(f"{algorithm:15} Pathway: load {theirs['initial_load_s']:.2f} s; per "
                          f"change median {theirs['median_ms']:.2f} ms (CPU "
                          f"{theirs['cpu_median_ms']:.2f} ms), p99 {theirs['p99_ms']:.2f} ms; "
                          f"peak RSS {theirs['peak_rss_mb']:.0f} MB")
                    if ours:
                        print(f"{algorithm:15} reflow / Pathway median: wall "
                              f"{ours['median_ms'] / theirs['median_ms']:.2f}x, CPU "
                              f"{ours['cpu_median_ms'] / theirs['cpu_median_ms']:.2f}x")


if __name__ == "__main__":
    main()
