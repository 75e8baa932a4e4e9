"""PageRank with a fixed number of steps (``pw.stdlib.graphs.pagerank.pagerank``)."""

from __future__ import annotations

from reflow.api import reducers
from reflow.api.functions import coalesce, if_else
from reflow.api.iterate import iterate
from reflow.api.schema import Schema
from reflow.api.table import Table

# Ranks are integers: every vertex starts with ``_START``, and a step gives each vertex
# ``_BASE`` plus 5/6 of the rank of each vertex pointing to it, split evenly among that
# vertex's out-edges (a damping factor of 5/6).
_START = 6_000
_BASE = 1_000


class Result(Schema):
    """The rank of a vertex (row ids are the vertices' ids)."""

    rank: int


def pagerank(edges: Table, steps: int = 5) -> Table:
    """The PageRank of every vertex of the directed graph ``edges`` (columns ``u`` -> ``v``)
    after ``steps`` steps, as an integer ``rank`` per vertex id.

    >>> import reflow as pw
    >>> V = pw.debug.table_from_markdown('''
    ... name
    ... a
    ... b
    ... c
    ... ''').with_id_from(pw.this.name)
    >>> E = pw.debug.table_from_markdown('''
    ... a | b
    ... a | b
    ... b | c
    ... c | a
    ... a | c
    ... ''').select(u=V.pointer_from(pw.this.a), v=V.pointer_from(pw.this.b))
    >>> ranks = pw.stdlib.graphs.pagerank.pagerank(E, steps=3)
    >>> pw.debug.compute_and_print(ranks.join(V, ranks.id == V.id).select(V.name, ranks.rank),
    ...                            include_id=False)
    name | rank
    a    | 6346
    b    | 4367
    c    | 7283
    """
    out_degree = edges.groupby(id=edges.u).reduce(degree=reducers.count())
    sinks = edges.groupby(id=edges.v).reduce(degree=0)
    degrees = sinks.update_rows(out_degree)
    ranks = degrees.select(rank=_START)
    if steps <= 0:
        return ranks

    def step(ranks: Table, degrees: Table, edges: Table) -> dict[str, Table]:
        share = degrees.select(
            share=if_else(
                degrees.degree == 0, 0, (ranks.rank * 5) // (degrees.degree * 6)
            )
        )
        # a plain join (ids from the pair) is cheaper than ``ix`` on the big edge table
        flows = edges.join(share, edges.u == share.id).select(v=edges.v, flow=share.share)
        inflow = flows.groupby(id=flows.v).reduce(total=reducers.sum(flows.flow))
        received = inflow.ix(ranks.id, allow_misses=True).total
        return dict(ranks=ranks.select(rank=_BASE + coalesce(received, 0)))

    return iterate(step, iteration_limit=steps, ranks=ranks, degrees=degrees,
                      edges=edges.select(edges.u, edges.v)).ranks
