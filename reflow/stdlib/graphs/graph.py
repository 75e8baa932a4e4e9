"""Graphs as a pair of tables: vertices and edges."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from reflow.api.functions import coalesce
from reflow.api.table import Table


def _full_clustering(V: Table, clustering: Table) -> Table:
    """Column ``c`` for every vertex of ``V``: its cluster, or itself when ``clustering`` has
    no row for it."""
    return V.select(c=coalesce(clustering.ix(V.id, allow_misses=True).c, V.id))


def _clusters(full: Table) -> Table:
    return full.groupby(id=full.c).reduce()


@dataclass
class Graph:
    """An undirected, unweighted multigraph: vertices ``V`` and edges ``E`` (columns ``u``,
    ``v`` pointing to rows of ``V``).

    >>> import reflow as pw
    >>> V = pw.debug.table_from_markdown('''
    ... name
    ... a
    ... b
    ... ''').with_id_from(pw.this.name)
    >>> E = pw.debug.table_from_markdown('''
    ... a | b
    ... a | b
    ... ''').select(u=V.pointer_from(pw.this.a), v=V.pointer_from(pw.this.b))
    >>> g = pw.stdlib.graphs.Graph(V, E)
    >>> pw.debug.compute_and_print(g.E.select(same=pw.this.u == pw.this.v), include_id=False)
    same
    False
    """

    V: Table
    E: Table

    def without_self_loops(self) -> Graph:
        """The same graph without the edges from a vertex to itself."""
        return Graph(self.V, self.E.filter(self.E.u != self.E.v))

    def contracted_to_multi_graph(self, clustering: Table) -> Graph:
        """The graph of the clusters of ``clustering`` (column ``c`` per vertex; a vertex
        without a row is a cluster of its own): one edge per edge of this graph, between the
        clusters of its ends (internal edges become self-loops)."""
        full = _full_clustering(self.V, clustering)
        E = self.E.with_columns(u=full.ix(self.E.u).c, v=full.ix(self.E.v).c)
        return Graph(_clusters(full), E.select(E.u, E.v))

    def contracted_to_unweighted_simple_graph(
        self, clustering: Table, **reducer_expressions: Any
    ) -> Graph:
        """``contracted_to_multi_graph`` with parallel edges merged into one."""
        multi = self.contracted_to_multi_graph(clustering)
        E = multi.E.groupby(multi.E.u, multi.E.v).reduce(multi.E.u, multi.E.v,
                                                          **reducer_expressions)
        return Graph(multi.V, E)

    def contracted_to_weighted_simple_graph(
        self, clustering: Table, **reducer_expressions: Any
    ) -> WeightedGraph:
        """``contracted_to_multi_graph`` with parallel edges merged into one edge whose
        columns are ``reducer_expressions`` over the merged edges (e.g.
        ``weight=pw.reducers.count()``).

        >>> import reflow as pw
        >>> V = pw.debug.table_from_markdown('''
        ... name | group
        ... a    | 1
        ... b    | 1
        ... c    | 2
        ... ''').with_id_from(pw.this.name)
        >>> E = pw.debug.table_from_markdown('''
        ... a | b
        ... a | b
        ... b | c
        ... a | c
        ... ''').select(u=V.pointer_from(pw.this.a), v=V.pointer_from(pw.this.b))
        >>> C = V.select(c=V.pointer_from(V.group))
        >>> H = pw.stdlib.graphs.Graph(V, E).contracted_to_weighted_simple_graph(
        ...     C, weight=pw.reducers.count())
        >>> pw.debug.compute_and_print(H.WE.select(loop=pw.this.u == pw.this.v, w=pw.this.weight),
        ...                            include_id=False)
        loop  | w
        False | 2
        True  | 1
        """
        multi = self.contracted_to_multi_graph(clustering)
        WE = multi.E.groupby(multi.E.u, multi.E.v).reduce(multi.E.u, multi.E.v,
                                                           **reducer_expressions)
        return WeightedGraph.from_vertices_and_weighted_edges(multi.V, WE)


@dataclass
class WeightedGraph(Graph):
    """A graph whose edges ``WE`` also have a ``weight`` column (``E`` is ``WE`` without
    weights)."""

    WE: Table

    @staticmethod
    def from_vertices_and_weighted_edges(V: Table, WE: Table) -> WeightedGraph:
        """A weighted graph of the vertices ``V`` and the weighted edges ``WE``."""
        return WeightedGraph(V, WE.select(WE.u, WE.v), WE)

    def contracted_to_multi_graph(self, clustering: Table) -> WeightedGraph:
        """The graph of the clusters of ``clustering``, keeping every weighted edge."""
        full = _full_clustering(self.V, clustering)
        WE = self.WE.with_columns(u=full.ix(self.WE.u).c, v=full.ix(self.WE.v).c)
        return WeightedGraph.from_vertices_and_weighted_edges(_clusters(full), WE)

    def contracted_to_weighted_simple_graph(
        self, clustering: Table, **reducer_expressions: Any
    ) -> WeightedGraph:
        """The weighted graph of the clusters: parallel edges merged into one whose columns are
        ``reducer_expressions`` over the merged edges (e.g. ``weight=pw.reducers.sum(
        pw.this.weight)``)."""
        multi = self.contracted_to_multi_graph(clustering)
        WE = multi.WE.groupby(multi.WE.u, multi.WE.v).reduce(multi.WE.u, multi.WE.v,
                                                             **reducer_expressions)
        return WeightedGraph.from_vertices_and_weighted_edges(multi.V, WE)

    def without_self_loops(self) -> WeightedGraph:
        kept = self.WE.filter(self.WE.u != self.WE.v)
        return WeightedGraph(self.V, kept.select(kept.u, kept.v), kept)
