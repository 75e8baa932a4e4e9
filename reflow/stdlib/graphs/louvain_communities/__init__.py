"""Louvain community detection (``pw.stdlib.graphs.louvain_communities``): the functions of
``impl``, also reachable here."""

from reflow.stdlib.graphs.louvain_communities import impl
from reflow.stdlib.graphs.louvain_communities.impl import (
    exact_modularity,
    louvain_communities_fixed_iterations,
    louvain_level,
)

__all__ = ["exact_modularity", "impl", "louvain_communities_fixed_iterations", "louvain_level"]
