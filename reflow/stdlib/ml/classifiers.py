"""k-nearest-neighbour classification whose labels follow the training data.

``knn_lsh_classifier_train`` prepares a model over a table of training vectors (a column
``data``); ``knn_lsh_classify`` labels each query row with the most common label among its
``k`` nearest training rows. When training rows stream in, are corrected or deleted, the
labels of exactly the queries whose neighbourhood changed are retracted and published again.

>>> import reflow as pw
>>> import numpy as np
>>> train = pw.debug.table_from_markdown('''
...   | x | label | __time__
... 1 | 0 | small | 2
... 2 | 9 | big   | 4
... 3 | 8 | big   | 4
... ''').select(pw.this.label, data=pw.apply_with_type(lambda x: np.array([float(x)]),
...                                                     np.ndarray, pw.this.x))
>>> queries = pw.debug.table_from_markdown('''
... x | __time__
... 7 | 2
... ''').select(data=pw.apply_with_type(lambda x: np.array([float(x)]), np.ndarray, pw.this.x))
>>> model = knn_lsh_classifier_train(train.select(pw.this.data), L=10, type="euclidean",
...                                  d=1, M=2, A=100.0)
>>> labels = knn_lsh_classify(model, train.select(pw.this.label), queries, k=2)
>>> pw.debug.compute_and_print_update_stream(labels, include_id=False)
predicted_label | __time__ | __diff__
small           | 2        | 1
small           | 4        | -1
big             | 4        | 1
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any, Literal

DistanceTypes = Literal["euclidean", "cosine"]


@dataclass
class KnnLshModel:
    """A trained (that is, indexed) KNN model: the training table and its LSH settings."""

    data: Any
    dimensions: int
    n_or: int
    n_and: int
    bucket_length: float
    distance_type: DistanceTypes

    def __call__(self, queries: Any, k: Any = 3, with_distances: bool = False) -> Any:
        """The ``k`` nearest training rows of each query (columns as tuples)."""
        return self.index(self.data).get_nearest_items(queries.data, k=k,
                                                       with_distances=with_distances)

    def index(self, data: Any) -> Any:
        from reflow.stdlib.ml.index import KNNIndex

        return KNNIndex(data.data, data, n_dimensions=self.dimensions, n_or=self.n_or,
                        n_and=self.n_and, bucket_length=self.bucket_length,
                        distance_type=self.distance_type)


def knn_lsh_classifier_train(data: Any, L: int, type: DistanceTypes = "euclidean",
                             **kwargs: Any) -> KnnLshModel:
    """Index ``data`` (a table with a vector column ``data``) for KNN classification.

    ``L`` is the number of LSH bucketings; ``kwargs``: ``d`` (dimensions), ``M`` (projections
    per bucketing) and, for ``"euclidean"``, ``A`` (bucket width).
    """
    if type not in ("euclidean", "cosine"):
        raise ValueError(f"type must be 'euclidean' or 'cosine', got {type!r}")
    if "d" not in kwargs:
        raise TypeError("knn_lsh_classifier_train needs d= (the number of dimensions)")
    return KnnLshModel(data, int(kwargs["d"]), L, int(kwargs.get("M", 10)),
                       float(kwargs.get("A", 10.0)), type)


def knn_lsh_euclidean_classifier_train(data: Any, d: int, M: int, L: int, A: float
                                       ) -> KnnLshModel:
    """``knn_lsh_classifier_train`` with Euclidean distance."""
    return knn_lsh_classifier_train(data, L, "euclidean", d=d, M=M, A=A)


def knn_lsh_train(data: Any, L: int, type: DistanceTypes = "euclidean",
                  **kwargs: Any) -> KnnLshModel:
    """Another name of ``knn_lsh_classifier_train``."""
    return knn_lsh_classifier_train(data, L, type, **kwargs)


def _majority(labels: tuple) -> Any:
    if not labels:
        return None
    counts = Counter(labels)
    best = max(counts.values())
    return next(label for label in labels if counts[label] == best)  # nearest wins ties


def knn_lsh_classify(knn_model: KnnLshModel, data_labels: Any, queries: Any, k: Any) -> Any:
    """The most common ``label`` of ``data_labels`` (keyed like the training table) among the
    ``k`` nearest training rows of each query, in ``predicted_label`` (ties: the label of the
    nearest row among the tied ones); one row per query, keyed by the query's id."""
    from reflow.stdlib import _names as pw

    labelled = knn_model.data.with_columns(label=data_labels.label)
    nearest = knn_model.index(labelled).get_nearest_items(queries.data, k=k)
    return nearest.select(predicted_label=pw.apply(_majority, nearest.label))
