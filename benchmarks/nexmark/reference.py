"""From-scratch Polars computations of the final result of each Nexmark query: the
reference the streaming engines are checked against."""

from __future__ import annotations

import polars as pl

from .generator import AUCTION_COLUMNS, BID_COLUMNS, PERSON_COLUMNS, Events
from .queries import (
    DOLLAR_TO_EURO,
    Q2_MODULUS,
    Q3_CATEGORY,
    Q3_STATES,
    Q5_HOP_MS,
    Q5_WINDOW_MS,
    Q6_LAST_AUCTIONS,
    Q7_WINDOW_MS,
    Q8_WINDOW_MS,
)


def frames(events: Events) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """``(persons, auctions, bids)`` as Polars frames."""
    def frame(rows: list[tuple], columns: tuple[str, ...]) -> pl.DataFrame:
        return pl.DataFrame(rows, schema=list(columns), orient="row")
    return (frame(events.persons, PERSON_COLUMNS), frame(events.auctions, AUCTION_COLUMNS),
            frame(events.bids, BID_COLUMNS))


def _winning(auctions: pl.DataFrame, bids: pl.DataFrame, above_reserve: bool) -> pl.DataFrame:
    joined = auctions.join(bids, left_on="auction_id", right_on="auction", suffix="_bid")
    keep = pl.col("date_time_bid").is_between(pl.col("date_time"), pl.col("expires"))
    if above_reserve:
        keep = keep & (pl.col("price") >= pl.col("reserve"))
    return joined.filter(keep).group_by("auction_id", "category", "seller", "expires").agg(
        final=pl.col("price").max()
    )


def compute(query: str, events: Events) -> pl.DataFrame:
    """The final result of ``query`` over ``events``."""
    persons, auctions, bids = frames(events)
    if query == "q0":
        return bids.select("auction", "bidder", "price", "date_time")
    if query == "q1":
        return bids.select("auction", "bidder", pl.col("price") * DOLLAR_TO_EURO, "date_time")
    if query == "q2":
        return bids.filter(pl.col("auction") % Q2_MODULUS == 0).select("auction", "price")
    if query == "q3":
        local = persons.filter(pl.col("state").is_in(Q3_STATES))
        return auctions.filter(pl.col("category") == Q3_CATEGORY).join(
            local, left_on="seller", right_on="person_id", suffix="_p"
        ).select("name", "city", "state", "auction_id")
    if query == "q4":
        return _winning(auctions, bids, False).group_by("category").agg(
            average=pl.col("final").mean()
        )
    if query == "q5":
        # A bid at t lies in the windows starting at the hops in (t - duration, t].
        per_window = Q5_WINDOW_MS // Q5_HOP_MS
        placed = bids.select(
            "auction",
            start=pl.concat_list(
                [pl.col("date_time") - pl.col("date_time") % Q5_HOP_MS - i * Q5_HOP_MS
                 for i in range(per_window)]
            ),
        ).explode("start")
        counts = placed.group_by("auction", "start").agg(num=pl.len())
        most = counts.group_by("start").agg(most=pl.col("num").max())
        return counts.join(most, on="start").filter(pl.col("num") >= pl.col("most")).select(
            "auction", "start", "num"
        )
    if query == "q6":
        won = _winning(auctions, bids, True).sort("expires", "auction_id")
        return won.group_by("seller").agg(
            average=pl.col("final").tail(Q6_LAST_AUCTIONS).mean()
        )
    if query == "q7":
        placed = bids.with_columns(start=pl.col("date_time") - pl.col("date_time") % Q7_WINDOW_MS)
        top = placed.group_by("start").agg(top=pl.col("price").max())
        return placed.join(top, on="start").filter(pl.col("price") == pl.col("top")).select(
            "auction", "price", "bidder", "date_time"
        )
    if query == "q8":
        def windowed(frame: pl.DataFrame) -> pl.DataFrame:
            start = pl.col("date_time") - pl.col("date_time") % Q8_WINDOW_MS
            return frame.with_columns(start=start)
        return windowed(persons).join(
            windowed(auctions), left_on=["person_id", "start"], right_on=["seller", "start"]
        ).select("person_id", "name", "start").unique()
    raise ValueError(f"unknown Nexmark query {query!r}")
