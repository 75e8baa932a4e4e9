"""Connected components of an undirected graph
(``pw.stdlib.graphs.connected_components``)."""

from __future__ import annotations

from reflow.api import reducers
from reflow.api.functions import if_else
from reflow.api.iterate import iterate
from reflow.api.table import Table


def connected_components(edges: Table) -> Table:
    """For every vertex that has an edge (``u`` - ``v``, in either direction), the smallest
    vertex id of its connected component, as column ``component``; rows are keyed by the
    vertex id. Deleting the edge that joined two parts splits the component again.

    >>> import reflow as pw
    >>> V = pw.debug.table_from_markdown('''
    ... name
    ... a
    ... b
    ... c
    ... d
    ... ''').with_id_from(pw.this.name)
    >>> E = pw.debug.table_from_markdown('''
    ... a | b
    ... a | b
    ... c | d
    ... ''').select(u=V.pointer_from(pw.this.a), v=V.pointer_from(pw.this.b))
    >>> cc = pw.stdlib.graphs.connected_components(E)
    >>> named = cc.join(V, cc.id == V.id).select(V.name, c=cc.component)
    >>> pw.debug.compute_and_print(
    ...     named.groupby(named.c).reduce(members=pw.reducers.sorted_tuple(named.name)),
    ...     include_id=False)
    members
    ('a', 'b')
    ('c', 'd')
    """
    both = edges.select(u=edges.u, v=edges.v).concat_reindex(
        edges.select(u=edges.v, v=edges.u)
    )
    labels = both.groupby(id=both.u).reduce(component=reducers.min(both.u))

    def spread(labels: Table, both: Table) -> dict[str, Table]:
        offers = both.join(labels, both.u == labels.id).select(v=both.v, c=labels.component)
        best = offers.groupby(id=offers.v).reduce(c=reducers.min(offers.c))
        offered = best.ix(labels.id).c
        return dict(labels=labels.select(
            component=if_else(offered < labels.component, offered, labels.component)
        ))

    return iterate(spread, labels=labels, both=both).labels
