"""Human-in-the-loop matching of two supplier registries.

The purchasing registry and the accounts-payable registry name the same suppliers
differently. ``smart_fuzzy_match`` pairs them automatically; a reviewer's corrections table
confirms or rejects pairs (a negative weight rejects). Invoices are booked against the
accounts-payable names and totalled per purchasing supplier through the matches, so each
correction re-derives the matches and the totals that depended on it, and nothing else.

Run: ``.venv/bin/python examples/ml_supplier_matching.py``
"""

from __future__ import annotations

import reflow as pw

PURCHASING = """
   | name
 1 | Acme Tools Ltd
 2 | Globex Steel
 3 | Initech Office Supplies
 4 | Umbrella Chemicals
"""

PAYABLE = """
    | name
 11 | ACME TOOLS
 12 | Globex Steel Works
 13 | Initech Supplies
 14 | Umbrella Corp Chemicals
 15 | Office Partners
 16 | Globex
"""

INVOICES = """
   | payee | amount
 1 | 11    | 100
 2 | 12    | 250
 3 | 13    | 40
 4 | 14    | 75
 5 | 15    | 30
 6 | 16    | 60
"""

# time 4: the reviewer rejects Globex Steel <-> Globex Steel Works (another company);
# time 6: confirms Initech Office Supplies <-> Office Partners; time 8: withdraws the
# rejection of time 4.
CORRECTIONS = """
   | left | right | weight | __time__ | __diff__
 1 | 2    | 12    | -1.0   | 4        | 1
 2 | 3    | 15    | 1.0    | 6        | 1
 1 | 2    | 12    | -1.0   | 8        | -1
"""


def registries() -> tuple[pw.Table, pw.Table, pw.Table, pw.Table]:
    """The purchasing and payable registries, the invoices and the reviewer's corrections
    (``left``/``right`` refer to registry rows by their ids)."""
    purchasing = pw.debug.table_from_markdown(PURCHASING)
    payable = pw.debug.table_from_markdown(PAYABLE)
    invoices = pw.debug.table_from_markdown(INVOICES).select(
        payee=payable.pointer_from(pw.this.payee), amount=pw.this.amount)
    corrections = pw.debug.table_from_markdown(CORRECTIONS).select(
        left=purchasing.pointer_from(pw.this.left), right=payable.pointer_from(pw.this.right),
        weight=pw.this.weight)
    return purchasing, payable, invoices, corrections


def match_and_total(purchasing: pw.Table, payable: pw.Table, invoices: pw.Table,
                    corrections: pw.Table) -> tuple[pw.Table, pw.Table]:
    """The matches (purchasing name, payable name) and the invoiced total per purchasing
    supplier."""
    matches = pw.ml.smart_table_ops.smart_fuzzy_match(
        purchasing.name, payable.name, by_hand_match=corrections)
    named = matches.select(
        supplier=purchasing.ix(matches.left).name, payee_name=payable.ix(matches.right).name,
        payee=matches.right)
    booked = invoices.join(named, invoices.payee == named.payee).select(
        pw.right.supplier, pw.left.amount)
    totals = booked.groupby(pw.this.supplier).reduce(
        pw.this.supplier, total=pw.reducers.sum(pw.this.amount))
    return named.select(pw.this.supplier, pw.this.payee_name), totals


if __name__ == "__main__":
    matches, totals = match_and_total(*registries())
    pw.debug.compute_and_print_update_stream(matches, include_id=False)
    pw.debug.compute_and_print_update_stream(totals, include_id=False)
