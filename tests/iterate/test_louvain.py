"""pw.stdlib.graphs.louvain_communities against networkx (modularity, Louvain) on generated
graphs, and incremental runs over edge streams with deletions against fresh runs."""

from __future__ import annotations

import random

import networkx as nx
import pandas as pd
import pytest

import reflow as pw
from tests.iterate.test_graphs import edge_stream
from tests.stateful.streams import states
from tests.utils import T, rows_by_id

louvain = pw.stdlib.graphs.louvain_communities


def weighted_graph(vertices: pw.Table, pairs: pw.Table) -> pw.stdlib.graphs.WeightedGraph:
    """The undirected graph of ``pairs`` (columns ``a``, ``b``, ``w``): both directions of
    every edge, one row of twice the weight for a self-loop."""
    back = pairs.select(a=pairs.b, b=pairs.a, w=pairs.w)
    both = pairs.concat_reindex(back)
    WE = both.select(u=vertices.pointer_from(both.a), v=vertices.pointer_from(both.b),
                     weight=both.w)
    return pw.stdlib.graphs.WeightedGraph.from_vertices_and_weighted_edges(vertices, WE)


def static_graph(graph: nx.Graph) -> tuple[pw.stdlib.graphs.WeightedGraph, pw.Table]:
    rows = [(a, b, float(d.get("weight", 1.0))) for a, b, d in graph.edges(data=True)]
    vertices = pw.debug.table_from_pandas(pd.DataFrame({"name": sorted(graph.nodes)}))
    vertices = vertices.with_id_from(pw.this.name)
    pairs = pw.debug.table_from_pandas(pd.DataFrame(rows, columns=["a", "b", "w"]))
    return weighted_graph(vertices, pairs), vertices


def partition(clustering: dict, vertex_names: dict) -> list[set]:
    parts: dict = {}
    for vertex, (cluster,) in clustering.items():
        parts.setdefault(cluster, set()).add(vertex_names[vertex])
    return list(parts.values())


def is_local_optimum(graph: nx.Graph, parts: list[set]) -> bool:
    """No vertex can move to a neighbouring cluster (or a cluster of its own) and increase
    networkx's modularity."""
    base = nx.community.modularity(graph, parts)
    where = {x: i for i, part in enumerate(parts) for x in part}
    for x in graph.nodes:
        targets = {where[y] for y in graph[x] if y != x} - {where[x]}
        for target in [*targets, None]:
            moved = [set(p) for p in parts] + [set()]
            moved[where[x]].discard(x)
            moved[len(parts) if target is None else target].add(x)
            if nx.community.modularity(graph, [p for p in moved if p]) > base + 1e-9:
                return False
    return True


def top_clustering(result, levels: int) -> pw.Table:
    top = result.clustering_levels.filter(pw.this.level == levels)
    return top.with_id(top.v).select(pw.this.c)


@pytest.mark.parametrize("seed", range(4))
def test_louvain_modularity_is_networkx_louvain_modularity(seed):
    graph = nx.planted_partition_graph(6, 12, 0.5, 0.05, seed=seed)
    G, _ = static_graph(graph)
    result = louvain.louvain_communities_fixed_iterations(G, 0.1, 3)
    clustering = top_clustering(result, 3)
    names = {pw.pointer_from(x): x for x in graph.nodes}
    parts = partition(rows_by_id(clustering), names)
    ours = nx.community.modularity(graph, parts)
    theirs = nx.community.modularity(graph, nx.community.louvain_communities(graph, seed=seed))
    assert ours >= theirs - 0.02
    assert set().union(*parts) == set(graph.nodes)
    (reported,) = rows_by_id(louvain.exact_modularity(G, clustering)).values()
    assert reported[0] == pytest.approx(ours, abs=1e-12)


@pytest.mark.parametrize("seed", range(3))
def test_exact_modularity_is_networkx_modularity(seed):
    rng = random.Random(seed)
    graph = nx.gnm_random_graph(25, 60, seed=seed)
    for a, b in graph.edges:
        graph[a][b]["weight"] = rng.choice([0.5, 1.0, 2.25, 3.0])
    graph.add_edge(3, 3, weight=1.5)
    G, vertices = static_graph(graph)
    groups = {x: rng.randrange(4) for x in graph.nodes}
    C = vertices.select(c=vertices.pointer_from(
        pw.apply_with_type(groups.__getitem__, int, vertices.name)))
    (got,) = rows_by_id(louvain.exact_modularity(G, C)).values()
    parts = [{x for x in graph.nodes if groups[x] == g} for g in range(4)]
    assert got[0] == pytest.approx(nx.community.modularity(graph, [p for p in parts if p]),
                                   abs=1e-12)


@pytest.mark.parametrize("seed", range(3))
def test_louvain_level_is_a_local_optimum_like_networkx_first_level(seed):
    graph = nx.planted_partition_graph(4, 8, 0.6, 0.08, seed=seed)
    G, _ = static_graph(graph)
    names = {pw.pointer_from(x): x for x in graph.nodes}
    parts = partition(rows_by_id(louvain.louvain_level(G)), names)
    assert is_local_optimum(graph, parts)
    first = next(iter(nx.community.louvain_partitions(graph, seed=seed)))
    assert nx.community.modularity(graph, parts) >= nx.community.modularity(
        graph, first) - 0.05


@pytest.mark.parametrize("seed", range(3))
def test_incremental_louvain_equals_fresh_runs_at_every_time(seed):
    """Edges are inserted, deleted and re-inserted: the clustering after every time equals
    that of a fresh run on the edges of that time, and is a local optimum of modularity."""
    vertices_n = 12
    stream, snapshots = edge_stream(seed, vertices=vertices_n, times=6, weighted=True)
    vertices = T("\n".join(["  | name"] + [f"{x} | {x}" for x in range(vertices_n)]))
    vertices = vertices.with_id_from(pw.this.name)
    G = weighted_graph(vertices, T(stream).select(pw.this.a, pw.this.b, pw.this.w))
    level = louvain.louvain_level(G)
    multi = top_clustering(louvain.louvain_communities_fixed_iterations(G, 0.1, 2), 2)
    names = {pw.pointer_from(x): x for x in range(vertices_n)}
    streamed_level = states(level, list(snapshots))
    streamed_multi = states(multi, list(snapshots))
    for time, live in snapshots.items():
        fresh_pairs = T("\n".join(["  | a | b | w"] + [
            f"{label} | {a} | {b} | {w}" for label, (a, b, w) in live.items()]))
        fresh_vertices = T("\n".join(["  | name"] + [f"{x} | {x}" for x in range(vertices_n)]))
        fresh_vertices = fresh_vertices.with_id_from(pw.this.name)
        fresh_G = weighted_graph(fresh_vertices, fresh_pairs)
        assert streamed_level[time] == rows_by_id(louvain.louvain_level(fresh_G)), time
        assert streamed_multi[time] == rows_by_id(top_clustering(
            louvain.louvain_communities_fixed_iterations(fresh_G, 0.1, 2), 2)), time
        graph = nx.Graph()
        graph.add_nodes_from(range(vertices_n))
        for a, b, w in live.values():  # parallel edges add up, as in the tables
            old = graph[a][b]["weight"] if graph.has_edge(a, b) else 0.0
            graph.add_edge(a, b, weight=old + w)
        assert is_local_optimum(graph, partition(streamed_level[time], names)), time


def test_negative_weight_is_reported_with_its_value():
    vertices = T("""
      | name
    1 | 1
    2 | 2
    """).with_id_from(pw.this.name)
    G = weighted_graph(vertices, T("""
      | a | b | w
    1 | 1 | 2 | -1.0
    """))
    with pytest.raises(ValueError, match=r"'weight' of G.WE\) must be a finite number >= 0, "
                                         r"got -1.0"):
        rows_by_id(louvain.louvain_level(G))


def test_louvain_is_reachable_as_in_pathway():
    assert pw.graphs.louvain_communities.impl.exact_modularity is louvain.exact_modularity
    assert callable(pw.stdlib.graphs.louvain_communities.impl.louvain_level)


@pytest.mark.parametrize("seed", range(2))
def test_contraction_sums_the_weights_between_clusters(seed):
    rng = random.Random(seed)
    graph = nx.gnm_random_graph(15, 35, seed=seed)
    for a, b in graph.edges:
        graph[a][b]["weight"] = float(rng.randint(1, 5))
    G, vertices = static_graph(graph)
    groups = {x: rng.randrange(3) for x in graph.nodes if x != 0}  # vertex 0: no row
    listed = vertices.filter(vertices.name != 0)
    C = listed.select(c=listed.pointer_from(
        pw.apply_with_type(groups.__getitem__, int, listed.name)))
    H = G.contracted_to_weighted_simple_graph(C, weight=pw.reducers.sum(pw.this.weight))
    name_of = {pw.pointer_from(x): x for x in graph.nodes}
    c_of = {name_of[v]: c for v, (c,) in rows_by_id(C).items()}
    c_of[0] = pw.pointer_from(0)  # a vertex without a row is a cluster of its own
    expected: dict = {}
    for a, b, d in graph.edges(data=True):
        for u, v in ((a, b), (b, a)):
            key = (c_of[u], c_of[v])
            expected[key] = expected.get(key, 0.0) + d["weight"]
    got = {(u, v): w for u, v, w in rows_by_id(H.WE).values()}
    assert got == expected
    assert set(rows_by_id(H.V)) == set(c_of.values())
