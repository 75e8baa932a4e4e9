"""Single-source shortest paths (``pw.stdlib.graphs.bellman_ford.bellman_ford``)."""

from __future__ import annotations

import math

from reflow.api import reducers
from reflow.api.functions import coalesce, if_else
from reflow.api.iterate import iterate
from reflow.api.schema import Schema
from reflow.api.table import Table


class Vertex(Schema):
    """A vertex, and whether paths start from it."""

    is_source: bool


class DistFromSource(Schema):
    """The length of a shortest path from any source to the row's vertex."""

    dist_from_source: float


def bellman_ford(vertices: Table, edges: Table) -> Table:
    """Length of the shortest path from a source vertex (``is_source``) to every vertex, over
    the directed edges ``u`` -> ``v`` of length ``dist``; ``inf`` where no path leads.

    >>> import reflow as pw
    >>> V = pw.debug.table_from_markdown('''
    ... name | is_source
    ... a    | True
    ... b    | False
    ... c    | False
    ... d    | False
    ... ''').with_id_from(pw.this.name)
    >>> E = pw.debug.table_from_markdown('''
    ... a | b | dist
    ... a | b | 1.5
    ... b | c | 2.0
    ... a | c | 4.0
    ... ''').select(u=V.pointer_from(pw.this.a), v=V.pointer_from(pw.this.b), dist=pw.this.dist)
    >>> d = pw.stdlib.graphs.bellman_ford.bellman_ford(V.select(V.is_source), E)
    >>> pw.debug.compute_and_print(d.join(V, d.id == V.id).select(V.name, d.dist_from_source),
    ...                            include_id=False)
    name | dist_from_source
    a    | 0.0
    b    | 1.5
    c    | 3.5
    d    | inf
    """
    start = vertices.select(
        dist_from_source=if_else(vertices.is_source, 0.0, math.inf)
    )

    def relax(dist: Table, edges: Table) -> dict[str, Table]:
        offers = edges.join(dist, edges.u == dist.id).select(
            v=edges.v, d=dist.dist_from_source + edges.dist
        )
        best = offers.groupby(id=offers.v).reduce(d=reducers.min(offers.d))
        offered = coalesce(best.ix(dist.id, allow_misses=True).d, math.inf)
        return dict(dist=dist.select(
            dist_from_source=if_else(
                offered < dist.dist_from_source, offered, dist.dist_from_source
            )
        ))

    return iterate(relax, dist=start, edges=edges.select(edges.u, edges.v, edges.dist)).dist
