"""Indexes over tables whose answers follow the data: ``pw.indexing``.

``DataIndex`` with a nearest-neighbour inner index (``BruteForceKnn``, ``USearchKnn``,
``LshKnn``) answers queries with revised answers (``query``) or as-of-now answers
(``query_as_of_now``). See ``docs/ml.md``.

>>> import reflow as pw
>>> sorted(n for n in dir(pw.indexing) if n[0].isupper())[:3]
['BruteForceKnn', 'BruteForceKnnMetricKind', 'DataIndex']
"""

from reflow.indexing.data_index import DataIndex
from reflow.indexing.nearest_neighbors import (
    BruteForceKnn,
    BruteForceKnnMetricKind,
    InnerIndex,
    LshKnn,
    USearchKnn,
    USearchMetricKind,
)

__all__ = [
    "BruteForceKnn",
    "BruteForceKnnMetricKind",
    "DataIndex",
    "InnerIndex",
    "LshKnn",
    "USearchKnn",
    "USearchMetricKind",
]
