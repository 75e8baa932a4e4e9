"""Graph algorithms over tables of vertices and edges (``pw.stdlib.graphs``).

Every algorithm is a pipeline: its results are revised exactly when edges or vertices are
inserted or deleted (they are built on ``pw.iterate``).
"""

from reflow.stdlib.graphs import bellman_ford, louvain_communities, pagerank
from reflow.stdlib.graphs.common import Edge, Vertex, Weight
from reflow.stdlib.graphs.components import connected_components
from reflow.stdlib.graphs.graph import Graph, WeightedGraph

__all__ = [
    "Edge",
    "Graph",
    "Vertex",
    "Weight",
    "WeightedGraph",
    "bellman_ford",
    "connected_components",
    "louvain_communities",
    "pagerank",
]
