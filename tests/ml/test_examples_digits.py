"""Pattern 1: KNN classification of the digits, revised as training images stream in."""

from __future__ import annotations

from collections import defaultdict

from examples.ml_digits_knn import N_QUERIES, classify, digit_streams
from reflow.debug.output import collect_updates


def test_accuracy_rises_early_predictions_change_and_a_deleted_query_is_withdrawn() -> None:
    predictions, accuracy = classify(*digit_streams(deleted_query=0))
    acc_updates = collect_updates(accuracy)
    by_time = {t: r for t, _, r, d in acc_updates if d > 0}
    assert sorted(by_time) == [2, 4, 6, 8]
    ratios = [by_time[t]["correct"] / by_time[t]["total"] for t in (2, 4, 6)]
    assert ratios[0] < ratios[1] < ratios[2], ratios
    assert ratios[2] > 0.9, ratios
    assert by_time[8]["total"] == N_QUERIES - 1  # the deleted query no longer counts

    history: dict = defaultdict(list)
    for time, row_id, row, diff in sorted(collect_updates(predictions), key=lambda u: u[0]):
        history[row_id].append((time, row["predicted_label"], diff))
    # queries answered at time 2 were re-answered later: their first decision was retracted
    revised = [h for h in history.values() if any(t > 2 and d < 0 for t, _, d in h)]
    assert len(revised) > N_QUERIES // 4
    assert all(h[0][0] == 2 and h[0][2] == 1 for h in revised)
    # exactly one query's decision is withdrawn at 8 without a replacement
    withdrawn = [h for h in history.values() if h[-1][0] == 8]
    assert len(withdrawn) == 1 and withdrawn[0][-1][2] == -1
    assert sum(d for _, _, d in withdrawn[0]) == 0
