"""A live pipeline whose earlier answers are revised when an input row changes.

Orders stream in through a Python source, in three commits. The third commit corrects an
order that was already processed: reflow retracts the decisions that depended on the old
value (the order's review decision and its customer's total) and publishes the new ones;
nothing else is recomputed or re-sent.
"""

import time

import reflow as pw


class Order(pw.Schema):
    order_id: int = pw.column_definition(primary_key=True)
    customer: str
    amount: int


class OrderFeed(pw.io.python.ConnectorSubject):
    def run(self) -> None:
        self.next(order_id=1, customer="alice", amount=120)
        self.next(order_id=2, customer="bob", amount=40)
        self.commit()
        time.sleep(0.2)  # a live feed: the next orders arrive a little later
        self.next(order_id=3, customer="bob", amount=75)
        self.commit()
        time.sleep(0.2)
        self.next(order_id=2, customer="bob", amount=400)  # a correction of order 2
        self.commit()


orders = pw.io.python.read(OrderFeed(), schema=Order)

decisions = orders.select(
    pw.this.order_id,
    pw.this.customer,
    review=pw.if_else(pw.this.amount > 100, "manual review", "auto-approve"),
)
totals = orders.groupby(pw.this.customer).reduce(
    pw.this.customer, total=pw.reducers.sum(pw.this.amount)
)


commits: dict[int, int] = {}  # logical time -> commit number, shared by both outputs


def show(kind):
    def on_change(key, row, time, is_addition):
        commit = commits.setdefault(time, len(commits) + 1)
        sign = "+" if is_addition else "-"
        print(f"commit {commit}  {kind:<9} {sign} {row}")

    return on_change


pw.io.subscribe(decisions, on_change=show("decision"))
pw.io.subscribe(totals, on_change=show("total"))
pw.run(monitoring_level=pw.MonitoringLevel.NONE)
