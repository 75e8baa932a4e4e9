"""Louvain community detection (``pw.stdlib.graphs.louvain_communities``).

Graphs follow the convention of ``WeightedGraph``: an undirected edge ``{u, v}`` of weight
``w`` is the two rows ``u -> v`` and ``v -> u`` of ``WE``, each of weight ``w``; a self-loop
of weight ``w`` is one row of weight ``2 * w`` (what contracting a cluster gives its internal
edges). A vertex's degree is the weight of its rows in ``WE``, the total weight ``T`` is
the weight of all rows, and the modularity of a clustering is
``sum over clusters C of internal(C) / T - (degree(C) / T) ** 2``, with ``internal(C)`` the
weight of the rows with both ends in ``C`` (networkx's modularity of the undirected graph).

One *level* is a ``pw.iterate`` loop of local moves. A step computes, for every vertex ``i``
of cluster ``A`` and every cluster ``D`` next to it, the gain of moving ``i`` to ``D``
(``w(i, D) - k_i * tot(D) / T`` against ``w(i, A - i) - k_i * (tot(A) - k_i) / T``, in units
of ``T / 2`` modularity). The vertices whose best gain is positive are candidates; a
candidate moves when it has the highest priority (gain, then vertex id) among the
candidates leaving or entering its source cluster and its target cluster. The clusters of
the moves of one step are then pairwise disjoint, so their gains add up exactly: modularity
grows at every step, the loop cannot cycle, and it stops at a clustering where no single
vertex move improves modularity. Each step moves at least the best candidate.

Weights are summed as integers (multiples of ``2 ** -20``): sums of floats kept up to date
under insertions and deletions can differ from a fresh sum in the last bits, and the
decisions of the loop must not. The gains are then computed in floating point from exact
integers, so the result at every time equals the from-scratch result, bit for bit.
"""

from __future__ import annotations

import math
import warnings

from reflow.api import reducers
from reflow.api.functions import apply_with_type, cast, coalesce, if_else, make_tuple
from reflow.api.iterate import iterate
from reflow.api.table import Table
from reflow.api.this import this
from reflow.stdlib.graphs.graph import WeightedGraph

# One unit of weight is 2**-20: a total weight up to ~8.8e12 fits in an int64.
_SCALE = 1 << 20
# A move must gain more than this fraction of the vertex's degree (in the loop's units):
# float rounding of the gains is far below it, so a "gain" of rounding noise never moves.
_MIN_GAIN = 1e-9


def _weight_units(weight: float) -> int:
    if not isinstance(weight, float | int) or not math.isfinite(weight) or weight < 0:
        raise ValueError("Louvain: an edge weight (column 'weight' of G.WE) must be a finite "
                         f"number >= 0, got {weight!r}")
    return round(weight * _SCALE)


def _unit_edges(G: WeightedGraph) -> Table:
    """``G.WE`` as rows ``u``, ``v``, ``w`` with integer weights (units of ``2 ** -20``)."""
    return G.WE.select(G.WE.u, G.WE.v, w=apply_with_type(_weight_units, int, G.WE.weight))


def _local_moves(vertices: Table, edges: Table) -> Table:
    """One Louvain level: for every row of ``vertices``, column ``c``, the id of a vertex of its
    cluster (each vertex starts alone, named by itself). ``edges`` has ``u``, ``v``, ``w``
    (int)."""
    degree = edges.groupby(id=edges.u).reduce(k=reducers.sum(edges.w))
    total = edges.reduce(t=reducers.sum(edges.w))
    info = vertices.select(
        k=coalesce(degree.ix(vertices.id, allow_misses=True).k, 0),
        t=coalesce(total.ix_ref(optional=True).t, 0),
    )
    links = edges.filter(edges.u != edges.v)
    start = vertices.select(c=vertices.id)

    def step(clustering: Table, info: Table, links: Table) -> dict[str, Table]:
        members = clustering.select(c=clustering.c, k=info.ix(clustering.id).k)
        tot = members.groupby(id=members.c).reduce(tot=reducers.sum(members.k))
        # every vertex is next to its own cluster, even with no edge into it
        own = clustering.select(u=clustering.id, d=clustering.c, w=0)
        to = links.select(u=links.u, d=clustering.ix(links.v).c, w=links.w)
        near = own.concat_reindex(to)
        weights = near.groupby(near.u, near.d).reduce(
            near.u, near.d, w=reducers.sum(near.w)
        )
        at = clustering.ix(weights.u).c
        vertex = info.ix(weights.u)
        stay = weights.d == at
        others = tot.ix(weights.d).tot - if_else(stay, vertex.k, 0)
        scored = weights.select(
            weights.u,
            weights.d,
            stay=stay,
            k=vertex.k,
            score=if_else(
                vertex.t > 0,
                cast(float, weights.w)
                - cast(float, vertex.k) * cast(float, others) / cast(float, vertex.t),
                0.0,
            ),
        )
        staying = scored.filter(scored.stay)
        leaving = scored.filter(~scored.stay)
        stay_score = staying.groupby(id=staying.u).reduce(s=reducers.max(staying.score))
        best = leaving.groupby(id=leaving.u).reduce(
            d=reducers.argmax(leaving.score, leaving.d),
            s=reducers.max(leaving.score),
            k=reducers.max(leaving.k),
        )
        gain = best.s - stay_score.ix(best.id).s
        proposals = best.select(
            a=clustering.ix(best.id).c,
            d=best.d,
            p=make_tuple(gain, best.id),
            better=gain > _MIN_GAIN * cast(float, best.k),
        )
        candidates = proposals.filter(proposals.better)
        touched = candidates.select(x=candidates.a, p=candidates.p).concat_reindex(
            candidates.select(x=candidates.d, p=candidates.p)
        )
        top = touched.groupby(id=touched.x).reduce(p=reducers.max(touched.p))
        wins = candidates.select(
            candidates.d,
            won=(top.ix(candidates.a).p == candidates.p)
            & (top.ix(candidates.d).p == candidates.p),
        )
        moves = wins.filter(wins.won)
        return dict(clustering=clustering.update_rows(
            moves.select(c=moves.d)
        ).with_universe_of(clustering))

    return iterate(step, clustering=start, info=info, links=links.select(
        links.u, links.v, links.w)).clustering


def _contract(vertices: Table, edges: Table, clustering: Table, level: int) -> tuple[
        Table, Table, Table]:
    """The clusters of ``clustering`` as vertices of new ids, the edges between them (weights
    summed, internal edges as self-loops), and the new cluster id of every vertex."""
    parent = clustering.select(c=clustering.pointer_from(clustering.c, level))
    ends = edges.select(u=parent.ix(edges.u).c, v=parent.ix(edges.v).c, w=edges.w)
    contracted = ends.groupby(ends.u, ends.v).reduce(ends.u, ends.v, w=reducers.sum(ends.w))
    clusters = parent.groupby(id=parent.c).reduce()
    return clusters, contracted, parent


def louvain_level(G: WeightedGraph) -> Table:
    """One level of Louvain: a clustering of ``G.V`` (column ``c``, the id of a vertex of the
    row's cluster) in which no single vertex can move to another cluster and increase the
    modularity. Revised exactly when vertices or edges change.

    >>> import reflow as pw
    >>> V = pw.debug.table_from_markdown('''
    ... name
    ... a
    ... b
    ... c
    ... x
    ... y
    ... z
    ... ''').with_id_from(pw.this.name)
    >>> pairs = pw.debug.table_from_markdown('''
    ... a | b
    ... a | b
    ... b | c
    ... a | c
    ... x | y
    ... y | z
    ... x | z
    ... c | x
    ... ''')
    >>> E = pairs.concat_reindex(pairs.select(a=pw.this.b, b=pw.this.a))
    >>> WE = E.select(u=V.pointer_from(E.a), v=V.pointer_from(E.b), weight=1.0)
    >>> G = pw.stdlib.graphs.WeightedGraph.from_vertices_and_weighted_edges(V, WE)
    >>> C = pw.stdlib.graphs.louvain_communities.louvain_level(G)
    >>> named = C.join(V, C.id == V.id).select(V.name, C.c)
    >>> pw.debug.compute_and_print(
    ...     named.groupby(named.c).reduce(members=pw.reducers.sorted_tuple(named.name)),
    ...     include_id=False)
    members
    ('a', 'b', 'c')
    ('x', 'y', 'z')
    """
    return _local_moves(G.V, _unit_edges(G))


class louvain_communities_fixed_iterations:
    """Louvain community detection with ``levels`` levels: a level clusters the vertices
    (``louvain_level``), and the next one clusters the graph whose vertices are those
    clusters. ``apx`` is accepted for compatibility and unused: the total weight is exact.

    - ``clustering_levels``: one row per vertex and level ``0..levels`` (ids from the pair),
      columns ``v`` (the vertex), ``c`` (its cluster at that level; itself at level 0) and
      ``level``.
    - ``hierarchical_clustering``: the tree of clusters: the vertices of ``G.V`` (level 0,
      ``c`` = themselves) updated with, for every cluster of a level, the cluster of the next
      level containing it (``c``) and that ``level``.

    >>> import reflow as pw
    >>> V = pw.debug.table_from_markdown('''
    ... name
    ... a
    ... b
    ... c
    ... x
    ... y
    ... z
    ... ''').with_id_from(pw.this.name)
    >>> pairs = pw.debug.table_from_markdown('''
    ... a | b
    ... a | b
    ... b | c
    ... a | c
    ... x | y
    ... y | z
    ... x | z
    ... c | x
    ... ''')
    >>> E = pairs.concat_reindex(pairs.select(a=pw.this.b, b=pw.this.a))
    >>> WE = E.select(u=V.pointer_from(E.a), v=V.pointer_from(E.b), weight=1.0)
    >>> G = pw.stdlib.graphs.WeightedGraph.from_vertices_and_weighted_edges(V, WE)
    >>> louvain = pw.stdlib.graphs.louvain_communities.louvain_communities_fixed_iterations(
    ...     G, 0.1, 2)
    >>> top = louvain.clustering_levels.filter(pw.this.level == 2)
    >>> named = top.join(V, top.v == V.id).select(V.name, top.c)
    >>> pw.debug.compute_and_print(
    ...     named.groupby(named.c).reduce(members=pw.reducers.sorted_tuple(named.name)),
    ...     include_id=False)
    members
    ('a', 'b', 'c')
    ('x', 'y', 'z')
    """

    hierarchical_clustering: Table
    clustering_levels: Table
    levels: int
    G: WeightedGraph

    def __init__(self, G: WeightedGraph, apx: float, levels: int) -> None:
        self.G = G
        self.levels = levels
        initial = G.V.select(c=G.V.id, level=0)
        self.hierarchical_clustering = initial
        self.clustering_levels = initial.select(
            v=initial.id, c=initial.c, level=initial.level
        ).with_id_from(this.v, this.level)
        current = initial.select(c=initial.c)  # every vertex's cluster at the last level
        vertices, edges = G.V, _unit_edges(G)
        for level in range(1, levels + 1):
            clustering = _local_moves(vertices, edges)
            vertices, edges, parent = _contract(vertices, edges, clustering, level)
            self.hierarchical_clustering = _updated(
                self.hierarchical_clustering, parent.select(parent.c, level=level)
            )
            current = current.select(c=parent.ix(current.c).c)
            self.clustering_levels = _updated(
                self.clustering_levels,
                current.select(v=current.id, c=current.c, level=level).with_id_from(
                    this.v, this.level
                ),
            )


def exact_modularity(G: WeightedGraph, C: Table, round_digits: int = 16) -> Table:
    """The modularity of the clustering ``C`` (column ``c`` per vertex of ``G``), as a one-row
    table with column ``modularity``, rounded to ``round_digits`` decimal places.

    >>> import reflow as pw
    >>> V = pw.debug.table_from_markdown('''
    ... name | group
    ... a    | 1
    ... b    | 1
    ... c    | 2
    ... d    | 2
    ... ''').with_id_from(pw.this.name)
    >>> pairs = pw.debug.table_from_markdown('''
    ... a | b
    ... a | b
    ... c | d
    ... b | c
    ... ''')
    >>> E = pairs.concat_reindex(pairs.select(a=pw.this.b, b=pw.this.a))
    >>> WE = E.select(u=V.pointer_from(E.a), v=V.pointer_from(E.b), weight=1.0)
    >>> G = pw.stdlib.graphs.WeightedGraph.from_vertices_and_weighted_edges(V, WE)
    >>> C = V.select(c=V.pointer_from(V.group))
    >>> pw.debug.compute_and_print(
    ...     pw.stdlib.graphs.louvain_communities.exact_modularity(G, C, round_digits=6),
    ...     include_id=False)
    modularity
    0.166667
    """
    edges = _unit_edges(G)
    ends = edges.select(cu=C.ix(edges.u).c, cv=C.ix(edges.v).c, w=edges.w)
    degree = ends.groupby(id=ends.cu).reduce(d=reducers.sum(ends.w))
    inside = ends.filter(ends.cu == ends.cv)
    internal = inside.reduce(i=reducers.sum(inside.w))
    total = edges.reduce(t=reducers.sum(edges.w))
    # exact integers up to here; the squares of cluster degrees overflow int64, so they are
    # summed as floats of the exact degrees
    squares = degree.reduce(s=reducers.sum(cast(float, degree.d) * cast(float, degree.d)))
    t = cast(float, total.t)
    score = total.select(
        modularity=if_else(
            total.t > 0,
            cast(float, coalesce(internal.ix_ref(optional=True).i, 0)) / t
            - coalesce(squares.ix_ref(optional=True).s, 0.0) / (t * t),
            0.0,
        )
    )
    return score.select(modularity=apply_with_type(
        lambda q: round(q, round_digits), float, score.modularity))


def _updated(table: Table, update: Table) -> Table:
    """``table.update_rows(update)`` without the warning for an update that covers every row
    of ``table``: at the first level every vertex gets a cluster, which is intended here."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="the ids of the updated table are a subset")
        return table.update_rows(update)
