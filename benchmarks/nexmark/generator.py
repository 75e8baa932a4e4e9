"""A deterministic, seeded Nexmark event generator.

The logic follows the public Nexmark specification and its reference generator (see
``docs/nexmark.md``): out of every 50 events 1 is a person, 3 are auctions and 46 are bids
(2:6:92); a person or auction id is derived from the event number, so ids are dense and
increasing; bids and sellers mostly point at "hot" auctions and people (the most recent
multiple of 100), otherwise at a random recent one within the in-flight window; prices are
log-uniform between 1.00 and 1,000,000.00 (in cents); event timestamps advance by a fixed
inter-event delay (10,000 events per second, so 0.1 ms per event).

>>> events = generate(100, seed=1)
>>> len(events.persons), len(events.auctions), len(events.bids)
(2, 6, 92)
>>> events.persons[0][0], events.auctions[0][0]
(1000, 1000)
>>> generate(100, seed=1) == events
True
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

PERSON_PROPORTION = 1
AUCTION_PROPORTION = 3
BID_PROPORTION = 46
PROPORTION_DENOMINATOR = PERSON_PROPORTION + AUCTION_PROPORTION + BID_PROPORTION

FIRST_PERSON_ID = 1000
FIRST_AUCTION_ID = 1000
FIRST_CATEGORY_ID = 10
NUM_CATEGORIES = 5
NUM_ACTIVE_PEOPLE = 1000
NUM_IN_FLIGHT_AUCTIONS = 100
PERSON_ID_LEAD = 10
AUCTION_ID_LEAD = 10
HOT_AUCTION_RATIO = 2
HOT_SELLER_RATIO = 4
HOT_BIDDER_RATIO = 4
HOT_ID_STEP = 100
EVENTS_PER_SECOND = 10_000
INTER_EVENT_DELAY_US = 1_000_000 // EVENTS_PER_SECOND
BASE_TIME_MS = 1_700_000_000_000

FIRST_NAMES = ("Peter", "Paul", "Luke", "John", "Saul", "Vicky", "Kate", "Julie", "Sarah",
               "Deiter", "Walter")
LAST_NAMES = ("Shultz", "Abrams", "Spencer", "White", "Bartels", "Walton", "Smith", "Jones",
              "Noris")
CITIES = ("Phoenix", "Los Angeles", "San Francisco", "Boise", "Portland", "Bend", "Redmond",
          "Seattle", "Kent", "Cheyenne")
STATES = ("AZ", "CA", "ID", "OR", "WA", "WY")
CHANNELS = ("Google", "Facebook", "Baidu", "Apple")

# Column names of the three streams, in tuple order.
PERSON_COLUMNS = ("person_id", "name", "email_address", "city", "state", "date_time")
AUCTION_COLUMNS = ("auction_id", "item_name", "initial_bid", "reserve", "date_time", "expires",
                   "seller", "category")
BID_COLUMNS = ("auction", "bidder", "price", "channel", "date_time")


@dataclass
class Events:
    """The generated streams, each a list of tuples in event order (see ``*_COLUMNS``);
    ``order`` lists ``(stream, index)`` for every event, the interleaving of the three."""

    persons: list[tuple] = field(default_factory=list)
    auctions: list[tuple] = field(default_factory=list)
    bids: list[tuple] = field(default_factory=list)
    order: list[tuple[str, int]] = field(default_factory=list)


def timestamp_ms(event_number: int, delay_us: int = INTER_EVENT_DELAY_US) -> int:
    """Event time of the ``event_number``-th event, in milliseconds."""
    return BASE_TIME_MS + event_number * delay_us // 1000


def last_person_id(event_id: int) -> int:
    """0-based id of the newest person created at or before ``event_id``."""
    epoch, offset = divmod(event_id, PROPORTION_DENOMINATOR)
    offset = min(offset, PERSON_PROPORTION - 1)
    return epoch * PERSON_PROPORTION + offset


def last_auction_id(event_id: int) -> int:
    """0-based id of the newest auction created at or before ``event_id``."""
    epoch, offset = divmod(event_id, PROPORTION_DENOMINATOR)
    if offset < PERSON_PROPORTION:
        epoch -= 1
        offset = AUCTION_PROPORTION - 1
    elif offset >= PERSON_PROPORTION + AUCTION_PROPORTION:
        offset = AUCTION_PROPORTION - 1
    else:
        offset -= PERSON_PROPORTION
    return epoch * AUCTION_PROPORTION + offset


def _random_person(event_id: int, rng: random.Random) -> int:
    """A random recent person (may run a little ahead of the newest, as in the reference)."""
    people = last_person_id(event_id) + 1
    active = min(people, NUM_ACTIVE_PEOPLE)
    return people - active + rng.randrange(active + PERSON_ID_LEAD)


def _random_auction(event_id: int, rng: random.Random) -> int:
    """A random auction among those in flight (may run a little ahead of the newest)."""
    newest = last_auction_id(event_id)
    oldest = max(newest - NUM_IN_FLIGHT_AUCTIONS, 0)
    return oldest + rng.randrange(newest - oldest + 1 + AUCTION_ID_LEAD)


def _price(rng: random.Random) -> int:
    return round(10.0 ** (rng.random() * 6.0) * 100.0)


def _auction_length_ms(event_number: int, now_ms: int, delay_us: int, rng: random.Random) -> int:
    # Auctions last about as long as it takes to create NUM_IN_FLIGHT_AUCTIONS more of them.
    events_ahead = NUM_IN_FLIGHT_AUCTIONS * PROPORTION_DENOMINATOR // AUCTION_PROPORTION
    horizon = timestamp_ms(event_number + events_ahead, delay_us) - now_ms
    return 1 + rng.randrange(max(horizon * 2, 1))


def generate(count: int, seed: int = 0, events_per_second: int = EVENTS_PER_SECOND) -> Events:
    """The first ``count`` events of the stream seeded with ``seed``; event time advances
    by ``1 / events_per_second`` per event."""
    delay_us = 1_000_000 // events_per_second
    rng = random.Random(seed)
    events = Events()
    for event_id in range(count):
        now = timestamp_ms(event_id, delay_us)
        kind = event_id % PROPORTION_DENOMINATOR
        if kind < PERSON_PROPORTION:
            person_id = last_person_id(event_id) + FIRST_PERSON_ID
            name = f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
            email = f"p{person_id}@example.com"
            events.order.append(("person", len(events.persons)))
            city, state = rng.choice(CITIES), rng.choice(STATES)
            events.persons.append((person_id, name, email, city, state, now))
        elif kind < PERSON_PROPORTION + AUCTION_PROPORTION:
            auction_id = last_auction_id(event_id) + FIRST_AUCTION_ID
            if rng.randrange(HOT_SELLER_RATIO) > 0:
                seller = last_person_id(event_id) // HOT_ID_STEP * HOT_ID_STEP
            else:
                seller = _random_person(event_id, rng)
            category = FIRST_CATEGORY_ID + rng.randrange(NUM_CATEGORIES)
            initial_bid = _price(rng)
            expires = now + _auction_length_ms(event_id, now, delay_us, rng)
            reserve = initial_bid + _price(rng)
            events.order.append(("auction", len(events.auctions)))
            events.auctions.append(
                (auction_id, f"item{auction_id}", initial_bid, reserve, now, expires,
                 seller + FIRST_PERSON_ID, category)
            )
        else:
            if rng.randrange(HOT_AUCTION_RATIO) > 0:
                auction = last_auction_id(event_id) // HOT_ID_STEP * HOT_ID_STEP
            else:
                auction = _random_auction(event_id, rng)
            if rng.randrange(HOT_BIDDER_RATIO) > 0:
                bidder = last_person_id(event_id) // HOT_ID_STEP * HOT_ID_STEP + 1
            else:
                bidder = _random_person(event_id, rng)
            events.order.append(("bid", len(events.bids)))
            events.bids.append(
                (auction + FIRST_AUCTION_ID, bidder + FIRST_PERSON_ID, _price(rng),
                 rng.choice(CHANNELS), now)
            )
    return events
