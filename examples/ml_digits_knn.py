"""KNN classification revised as the model learns (scikit-learn's bundled digits).

A fixed set of query images is classified by its nearest training images while training
images stream in, a few hundred per commit. Every prediction is revised when a newer training
image enters its neighbourhood, so the predictions of the *early* queries change and the
accuracy table rises commit by commit. Deleting a query withdraws its decision.

Run: ``.venv/bin/python examples/ml_digits_knn.py``
"""

from __future__ import annotations

import numpy as np
from sklearn.datasets import load_digits

import reflow as pw


class Image(pw.Schema):
    key: int = pw.column_definition(primary_key=True)
    data: np.ndarray
    label: int


COMMITS = (30, 300, 1200)  # training images available after each commit
N_QUERIES = 150


def digit_streams(deleted_query: int = 0) -> tuple[pw.Table, pw.Table]:
    """Training images arriving at times 2, 4, 6, and the queries (held-out images) at time 2;
    query ``deleted_query`` is deleted at time 8."""
    digits = load_digits()
    vectors, labels = digits.data.astype(np.float64), digits.target
    train_rows, start = [], 0
    for n, end in enumerate(COMMITS):
        train_rows += [(i, vectors[i], int(labels[i]), 2 * (n + 1), 1) for i in range(start, end)]
        start = end
    held_out = range(len(labels) - N_QUERIES, len(labels))
    query_rows = [(i, vectors[i], int(labels[i]), 2, 1) for i in held_out]
    gone = len(labels) - N_QUERIES + deleted_query
    query_rows.append((gone, vectors[gone], int(labels[gone]), 8, -1))
    train = pw.debug.table_from_rows(Image, train_rows, is_stream=True)
    queries = pw.debug.table_from_rows(Image, query_rows, is_stream=True)
    return train, queries


def classify(train: pw.Table, queries: pw.Table, k: int = 3) -> tuple[pw.Table, pw.Table]:
    """Predictions per query (``predicted_label``, ``label``) and the accuracy table."""
    model = pw.ml.classifiers.knn_lsh_classifier_train(
        train.select(pw.this.data), L=16, type="euclidean", d=64, M=2, A=80.0)
    predicted = pw.ml.classifiers.knn_lsh_classify(
        model, train.select(pw.this.label), queries.select(pw.this.data), k=k)
    predictions = predicted.join(queries, predicted.id == queries.id, id=predicted.id).select(
        pw.left.predicted_label, pw.right.label)
    accuracy = predictions.reduce(
        correct=pw.reducers.sum(pw.cast(int, pw.this.predicted_label == pw.this.label)),
        total=pw.reducers.count())
    return predictions, accuracy


if __name__ == "__main__":
    predictions, accuracy = classify(*digit_streams())
    pw.debug.compute_and_print_update_stream(accuracy, include_id=False)
