"""Machine learning on tables whose answers follow the data (``pw.ml`` / ``pw.stdlib.ml``):
nearest-neighbour indexes, KNN classifiers, fuzzy matching. See ``docs/ml.md``."""

from reflow.stdlib.ml import classifiers, index, smart_table_ops

__all__ = ["classifiers", "index", "smart_table_ops"]
