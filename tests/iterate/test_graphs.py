"""pw.stdlib.graphs against networkx on generated graphs, at every time of update streams
with deletions."""

from __future__ import annotations

import math
import random

import networkx as nx
import numpy as np
import pytest

import reflow as pw
from tests.stateful.streams import states
from tests.utils import T

graphs = pw.stdlib.graphs


def edge_stream(seed: int, vertices: int, times: int, weighted: bool = False):
    """Markdown of a random stream of edges ``a -> b`` (label = edge), and the live edges
    after each time. Edges are inserted, deleted, and re-inserted with other endpoints."""
    rng = random.Random(seed)
    live: dict[int, tuple] = {}
    lines = ["  | a | b | w | __time__ | __diff__"]
    snapshots = {}
    next_label = 1
    for step in range(times):
        time = 2 * (step + 1)
        for _ in range(rng.randint(1, 6) if step else 3 * vertices // 2):
            if live and rng.random() < 0.35:
                label = rng.choice(sorted(live))
                a, b, w = live.pop(label)
                lines.append(f"{label} | {a} | {b} | {w} | {time} | -1")
            else:
                a, b = rng.sample(range(vertices), 2)
                w = float(rng.randint(1, 9))
                live[next_label] = (a, b, w)
                lines.append(f"{next_label} | {a} | {b} | {w} | {time} | 1")
                next_label += 1
        snapshots[time] = dict(live)
    return "\n".join(lines), snapshots


def pointer_edges(stream: str) -> pw.Table:
    edges = T(stream)
    return edges.select(u=edges.pointer_from(edges.a), v=edges.pointer_from(edges.b),
                        dist=edges.w)


def names(vertices: int) -> dict[pw.Pointer, int]:
    return {pw.pointer_from(x): x for x in range(vertices)}


@pytest.mark.parametrize("seed", range(4))
def test_connected_components_match_networkx_at_every_time(seed):
    stream, snapshots = edge_stream(seed, vertices=14, times=8)
    edges = pointer_edges(stream)
    result = graphs.connected_components(edges.select(edges.u, edges.v))
    name = names(14)
    for time, state in states(result, list(snapshots)).items():
        graph = nx.Graph()
        graph.add_edges_from((a, b) for a, b, _ in snapshots[time].values())
        expected = {frozenset(c) for c in nx.connected_components(graph)}
        got: dict = {}
        for vertex, (component,) in state.items():
            got.setdefault(component, set()).add(name[vertex])
        assert {frozenset(c) for c in got.values()} == expected, f"time {time}"
        for component, members in got.items():  # labelled by their smallest vertex id
            assert component == min(pw.pointer_from(x) for x in members)


@pytest.mark.parametrize("seed", range(4))
def test_bellman_ford_matches_networkx_at_every_time(seed):
    stream, snapshots = edge_stream(seed, vertices=12, times=8, weighted=True)
    vertices = T("\n".join(["  | name | is_source"]
                           + [f"{x} | {x} | {x == 0}" for x in range(12)]))
    vertices = vertices.with_id_from(pw.this.name).select(pw.this.is_source)
    result = graphs.bellman_ford.bellman_ford(vertices, pointer_edges(stream))
    name = names(12)
    for time, state in states(result, list(snapshots)).items():
        graph = nx.DiGraph()
        graph.add_nodes_from(range(12))
        for a, b, w in snapshots[time].values():
            if not graph.has_edge(a, b) or graph[a][b]["weight"] > w:
                graph.add_edge(a, b, weight=w)
        reach = nx.single_source_dijkstra_path_length(graph, 0)
        got = {name[vertex]: dist for vertex, (dist,) in state.items()}
        assert got == {x: reach.get(x, math.inf) for x in range(12)}, f"time {time}"


def integer_pagerank(edges: list[tuple[int, int]], steps: int) -> dict[int, int]:
    """The integer PageRank of pw.stdlib.graphs, computed directly."""
    vertices = {x for e in edges for x in e}
    degree = {x: sum(1 for a, _ in edges if a == x) for x in vertices}
    rank = dict.fromkeys(vertices, 6000)
    for _ in range(steps):
        share = {x: rank[x] * 5 // (degree[x] * 6) if degree[x] else 0 for x in vertices}
        new = dict.fromkeys(vertices, 1000)
        for a, b in edges:
            new[b] += share[a]
        rank = new
    return rank


@pytest.mark.parametrize("seed", range(3))
def test_pagerank_equals_its_definition_at_every_time(seed):
    stream, snapshots = edge_stream(seed, vertices=10, times=6)
    edges = pointer_edges(stream)
    result = graphs.pagerank.pagerank(edges.select(edges.u, edges.v), steps=4)
    name = names(10)
    for time, state in states(result, list(snapshots)).items():
        expected = integer_pagerank([(a, b) for a, b, _ in snapshots[time].values()], 4)
        assert {name[v]: rank for v, (rank,) in state.items()} == expected, f"time {time}"


def test_pagerank_converges_to_networkx_pagerank():
    rng = random.Random(3)
    pairs = {(a, (a + 1) % 30) for a in range(30)}  # a cycle: every vertex has out-edges
    pairs |= {tuple(rng.sample(range(30), 2)) for _ in range(60)}
    stream = "\n".join(["  | a | b | w"] + [f"{i} | {a} | {b} | 1.0"
                                            for i, (a, b) in enumerate(sorted(pairs))])
    edges = pointer_edges(stream)
    result = graphs.pagerank.pagerank(edges.select(edges.u, edges.v), steps=80)
    (state,) = states(result, [0]).values()
    total = sum(rank for (rank,) in state.values())
    graph = nx.DiGraph(sorted(pairs))
    google = nx.google_matrix(graph, alpha=5 / 6, nodelist=range(30))  # numpy, no scipy
    stationary = np.full(30, 1 / 30)
    for _ in range(500):
        stationary = stationary @ google
    name = names(30)
    for vertex, (rank,) in state.items():
        assert rank / total == pytest.approx(stationary[name[vertex]], rel=0.02)


def test_graph_types_keep_their_tables():
    stream, _ = edge_stream(0, vertices=5, times=1)
    edges = pointer_edges(stream)
    vertices = edges.groupby(id=edges.u).reduce()
    weighted = graphs.WeightedGraph.from_vertices_and_weighted_edges(
        vertices, edges.select(edges.u, edges.v, weight=edges.dist))
    assert weighted.E.column_names() == ["u", "v"]
    assert weighted.WE.column_names() == ["u", "v", "weight"]
    assert isinstance(weighted, graphs.Graph)


def test_graphs_are_reachable_as_in_pathway():
    assert pw.graphs is pw.stdlib.graphs
    assert callable(pw.stdlib.graphs.pagerank.pagerank)
    assert callable(pw.stdlib.graphs.bellman_ford.bellman_ford)
