"""Nexmark queries q0-q8, written once against the ``pw`` API (``reflow`` or ``pathway``).

Each query takes the ``pw`` module and the three input tables (``persons``, ``auctions``,
``bids``; columns as in ``generator.*_COLUMNS``, times in milliseconds) and returns the
result table. ``QUERIES`` maps a name to ``(function, streams it reads, output columns)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

DOLLAR_TO_EURO = 0.908
Q2_MODULUS = 123
Q3_STATES = ("OR", "ID", "CA")
Q3_CATEGORY = 10
Q5_HOP_MS = 2_000
Q5_WINDOW_MS = 10_000
Q6_LAST_AUCTIONS = 10
Q7_WINDOW_MS = 10_000
Q8_WINDOW_MS = 10_000


def q0(pw: Any, persons: Any, auctions: Any, bids: Any) -> Any:
    """Pass-through: every bid, unchanged."""
    return bids.select(pw.this.auction, pw.this.bidder, pw.this.price, pw.this.date_time)


def q1(pw: Any, persons: Any, auctions: Any, bids: Any) -> Any:
    """Currency conversion: bid prices from dollars to euros."""
    return bids.select(
        pw.this.auction, pw.this.bidder, price=pw.this.price * DOLLAR_TO_EURO,
        date_time=pw.this.date_time,
    )


def q2(pw: Any, persons: Any, auctions: Any, bids: Any) -> Any:
    """Selection: the bids on every 123rd auction."""
    return bids.filter(pw.this.auction % Q2_MODULUS == 0).select(pw.this.auction, pw.this.price)


def q3(pw: Any, persons: Any, auctions: Any, bids: Any) -> Any:
    """Local item suggestion: sellers in OR, ID or CA with auctions in category 10."""
    local = persons.filter(
        (pw.this.state == Q3_STATES[0]) | (pw.this.state == Q3_STATES[1])
        | (pw.this.state == Q3_STATES[2])
    )
    category = auctions.filter(pw.this.category == Q3_CATEGORY)
    return category.join(local, category.seller == local.person_id).select(
        name=local.name, city=local.city, state=local.state, auction_id=category.auction_id
    )


def _winning_bids(pw: Any, auctions: Any, bids: Any, *, above_reserve: bool) -> Any:
    """The highest bid of each auction among the bids made while it was open."""
    joined = auctions.join(bids, auctions.auction_id == bids.auction).select(
        auction_id=auctions.auction_id, category=auctions.category, seller=auctions.seller,
        expires=auctions.expires, reserve=auctions.reserve, opened=auctions.date_time,
        price=bids.price, bid_time=bids.date_time,
    )
    condition = (pw.this.bid_time >= pw.this.opened) & (pw.this.bid_time <= pw.this.expires)
    if above_reserve:
        condition = condition & (pw.this.price >= pw.this.reserve)
    return joined.filter(condition).groupby(
        pw.this.auction_id, pw.this.category, pw.this.seller, pw.this.expires
    ).reduce(
        pw.this.auction_id, pw.this.category, pw.this.seller, pw.this.expires,
        final=pw.reducers.max(pw.this.price),
    )


def q4(pw: Any, persons: Any, auctions: Any, bids: Any) -> Any:
    """Average price per category: the mean of the winning bids of each category."""
    winning = _winning_bids(pw, auctions, bids, above_reserve=False)
    return winning.groupby(pw.this.category).reduce(
        pw.this.category, average=pw.reducers.avg(pw.this.final)
    )


def q5(pw: Any, persons: Any, auctions: Any, bids: Any) -> Any:
    """Hot items: per 10 s window sliding by 2 s, the auctions with the most bids."""
    counts = pw.temporal.windowby(
        bids, bids.date_time,
        window=pw.temporal.sliding(hop=Q5_HOP_MS, duration=Q5_WINDOW_MS),
        instance=bids.auction,
    ).reduce(
        auction=pw.this._pw_instance, start=pw.this._pw_window_start,
        num=pw.reducers.count(),
    )
    most = counts.groupby(pw.this.start).reduce(pw.this.start, most=pw.reducers.max(pw.this.num))
    return counts.join(most, counts.start == most.start).select(
        auction=counts.auction, start=counts.start, num=counts.num, most=most.most,
    ).filter(pw.this.num >= pw.this.most).select(pw.this.auction, pw.this.start, pw.this.num)


def _mean_of_last(closed: tuple) -> float:
    """Mean price of the last ``Q6_LAST_AUCTIONS`` of ``(expires, id, price)`` tuples."""
    last = sorted(closed)[-Q6_LAST_AUCTIONS:]
    return sum(price for _, _, price in last) / len(last)


def q6(pw: Any, persons: Any, auctions: Any, bids: Any) -> Any:
    """Average selling price by seller, over each seller's last 10 sold auctions."""
    winning = _winning_bids(pw, auctions, bids, above_reserve=True)
    sold = winning.select(
        pw.this.seller, sale=pw.make_tuple(pw.this.expires, pw.this.auction_id, pw.this.final)
    )
    per_seller = sold.groupby(pw.this.seller).reduce(
        pw.this.seller, sales=pw.reducers.tuple(pw.this.sale)
    )
    return per_seller.select(
        pw.this.seller, average=pw.apply_with_type(_mean_of_last, float, pw.this.sales)
    )


def q7(pw: Any, persons: Any, auctions: Any, bids: Any) -> Any:
    """Highest bid: per 10 s tumbling window, the bids at the window's highest price."""
    highest = pw.temporal.windowby(
        bids, bids.date_time, window=pw.temporal.tumbling(duration=Q7_WINDOW_MS)
    ).reduce(start=pw.this._pw_window_start, top=pw.reducers.max(pw.this.price))
    placed = bids.select(
        pw.this.auction, pw.this.bidder, pw.this.price, pw.this.date_time,
        start=pw.this.date_time - pw.this.date_time % Q7_WINDOW_MS,
    )
    return placed.join(
        highest, placed.start == highest.start, placed.price == highest.top
    ).select(placed.auction, placed.price, placed.bidder, placed.date_time)


def q8(pw: Any, persons: Any, auctions: Any, bids: Any) -> Any:
    """New users: people who opened an auction in the 10 s window they registered in."""
    pairs = persons.window_join(
        auctions, persons.date_time, auctions.date_time,
        pw.temporal.tumbling(duration=Q8_WINDOW_MS), persons.person_id == auctions.seller,
    ).select(
        person_id=persons.person_id, name=persons.name,
        start=persons.date_time - persons.date_time % Q8_WINDOW_MS,
    )
    return pairs.groupby(pw.this.person_id, pw.this.name, pw.this.start).reduce(
        pw.this.person_id, pw.this.name, pw.this.start
    )


Query = Callable[[Any, Any, Any, Any], Any]
QUERIES: dict[str, tuple[Query, tuple[str, ...], tuple[str, ...]]] = {
    "q0": (q0, ("bid",), ("auction", "bidder", "price", "date_time")),
    "q1": (q1, ("bid",), ("auction", "bidder", "price", "date_time")),
    "q2": (q2, ("bid",), ("auction", "price")),
    "q3": (q3, ("person", "auction"), ("name", "city", "state", "auction_id")),
    "q4": (q4, ("auction", "bid"), ("category", "average")),
    "q5": (q5, ("bid",), ("auction", "start", "num")),
    "q6": (q6, ("auction", "bid"), ("seller", "average")),
    "q7": (q7, ("bid",), ("auction", "price", "bidder", "date_time")),
    "q8": (q8, ("person", "auction"), ("person_id", "name", "start")),
}
