"""A live pipeline whose earlier answer is revised when an input row changes.

Orders arrive over three logical times; at time 4 the order of row 2 is corrected. reflow
retracts the decision it took for that order and publishes the new one; the other orders'
decisions are left alone.
"""

import reflow as pw

orders = pw.debug.table_from_markdown(
    """
      | customer | amount | __time__
    1 | alice    | 120    | 2
    2 | bob      | 40     | 2
    3 | carol    | 75     | 2
    2 | bob      | 400    | 4
    4 | dave     | 10     | 6
    """
)

decisions = orders.select(
    pw.this.customer,
    pw.this.amount,
    review=pw.if_else(pw.this.amount > 100, "manual review", "auto-approve"),
)


def show(key, row, time, is_addition):
    sign = "+" if is_addition else "-"
    print(f"t={time}  {sign} {row['customer']:<6} {row['amount']:>4}  {row['review']}")


pw.io.subscribe(decisions, on_change=show)
pw.run()
