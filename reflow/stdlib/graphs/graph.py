"""Graphs as a pair of tables: vertices and edges."""

from __future__ import annotations

from dataclasses import dataclass

from reflow.api.table import Table


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


@dataclass
class WeightedGraph(Graph):
    """A graph whose edges ``WE`` also have a ``weight`` column (``E`` is ``WE`` without
    weights)."""

    WE: Table

    @staticmethod
    def from_vertices_and_weighted_edges(V: Table, WE: Table) -> WeightedGraph:
        """A weighted graph of the vertices ``V`` and the weighted edges ``WE``."""
        return WeightedGraph(V, WE.select(WE.u, WE.v), WE)

    def without_self_loops(self) -> WeightedGraph:
        kept = self.WE.filter(self.WE.u != self.WE.v)
        return WeightedGraph(self.V, kept.select(kept.u, kept.v), kept)
