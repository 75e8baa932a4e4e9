"""Schemas of graph tables: vertices, edges (pointers to their endpoints) and weights."""

from __future__ import annotations

from reflow.api.schema import Schema
from reflow.engine.values import Pointer


class Vertex(Schema):
    """A vertex: only its row id matters."""


class Edge(Schema):
    """An edge from vertex ``u`` to vertex ``v`` (ids of vertex rows)."""

    u: Pointer
    v: Pointer


class Weight(Schema):
    """The weight of an edge or a vertex."""

    weight: float


class Clustering(Schema):
    """Cluster membership: the row's vertex belongs to cluster ``c``."""

    c: Pointer
