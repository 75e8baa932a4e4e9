"""A seeded, offline generator of a social stream: posts, reposts and replies as JSON lines.

- Authors post with Zipf-distributed activity and have log-normal follower counts.
- Their free-text locations vary in quality: ``Paris``, ``paris, France``, ``Brazil`` (too
  vague), ``the moon``, ambiguous names, nothing at all. A few *pretenders* claim a far-away
  small city: their reposters live near their real home, so the place is not credible.
- Hashtags trend and fade (each has a peak and a width in event time) and have a mood that
  colours the words of their posts.
- Reposts and replies mostly come from people living near the author's real home.
- A share of records arrives late (event time minutes behind the stream) and out of order;
  a few are malformed (for the pipeline's error log).

>>> stream = SocialStream(seed=1)
>>> first = json.loads(next(stream.lines(10, posts_per_second=100)))
>>> sorted(first)
['author', 'followers', 'id', 'kind', 'location', 'parent', 'text', 'topic', 'ts']
"""

from __future__ import annotations

import collections
import heapq
import itertools
import json
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from .gazetteer import REGIONS, City, Gazetteer, fold

LOCAL_KM = 1500.0  # most reposters live this close to the author's real home
START = 1_796_000_000.0  # event time of the first record (epoch seconds)

TOPICS = [
    # hashtag, home region ("" = everywhere), mood in [-1, 1], peak (s after start), width (s)
    ("#worldcup", "", 0.5, 240, 400), ("#election", "NA", -0.3, 600, 500),
    ("#heatwave", "EU", -0.6, 120, 300), ("#monsoon", "AS", -0.2, 420, 400),
    ("#newphone", "", 0.4, 900, 600), ("#festival", "SA", 0.8, 300, 250),
    ("#marathon", "AF", 0.6, 480, 300), ("#bushfire", "OC", -0.8, 200, 350),
    ("#strike", "EU", -0.5, 700, 300), ("#eclipse", "", 0.7, 1100, 200),
    ("#ai", "", 0.1, 0, 5000), ("#traffic", "", -0.4, 0, 5000),
    ("#cricket", "AS", 0.3, 800, 500), ("#kpop", "AS", 0.7, 1000, 700),
    ("#oscars", "NA", 0.2, 1300, 300), ("#derby", "EU", 0.3, 1500, 300),
]
POSITIVE = ["love", "great", "amazing", "happy", "win", "awesome", "good", "beautiful", "fun"]
NEGATIVE = ["hate", "terrible", "sad", "awful", "angry", "lost", "bad", "horrible", "worst"]
NEUTRAL = ["today", "news", "watching", "update", "people", "thing", "city", "again", "now"]
JOKES = ["the moon", "Mars", "everywhere", "in your heart", "the internet", ""]


@dataclass
class Author:
    name: str
    followers: int
    home: City
    location: str
    pretender: bool


class SocialStream:
    """Records of one simulated network; ``lines`` yields them in arrival order."""

    def __init__(
        self,
        seed: int = 7,
        authors: int = 3000,
        start: float = START,
        late_share: float = 0.03,
        bad_share: float = 0.002,
        pretender_share: float = 0.03,
    ) -> None:
        self.rng = random.Random(seed)
        self.start = start
        self.late_share = late_share
        self.bad_share = bad_share
        gazetteer = Gazetteer.load()
        big = sorted(gazetteer.cities, key=lambda c: -c.population)[:400]
        small = [c for c in gazetteer.cities if 20_000 < c.population < 40_000
                 and len(gazetteer.by_name[fold(c.name)]) == 1]
        self.decoys = self.rng.sample(small, 12)
        self.country_names = gazetteer.country_names
        weights = [math.sqrt(c.population) for c in big]
        self.authors = [
            self._author(i, self.rng.choices(big, weights)[0], pretender_share)
            for i in range(authors)
        ]
        self.by_region: dict[str, list[Author]] = collections.defaultdict(list)
        at_home: dict[City, list[Author]] = collections.defaultdict(list)
        for author in self.authors:
            self.by_region[author.home.region].append(author)
            at_home[author.home].append(author)
        homes = list(at_home)
        lat = np.radians([c.lat for c in homes])
        lon = np.radians([c.lon for c in homes])
        a = (np.sin((lat[:, None] - lat[None, :]) / 2) ** 2 + np.cos(lat[:, None])
             * np.cos(lat[None, :]) * np.sin((lon[:, None] - lon[None, :]) / 2) ** 2)
        near = 2 * 6371.0 * np.arcsin(np.minimum(1.0, np.sqrt(a))) < LOCAL_KM
        self.neighbours = {
            city: [author for j in np.flatnonzero(near[i]) for author in at_home[homes[j]]]
            for i, city in enumerate(homes)
        }
        self.activity = list(itertools.accumulate(1.0 / (rank + 1) ** 1.1
                                                  for rank in range(authors)))
        self.topic_second = -1
        self.topic_weights: list[float] = []
        self.recent: dict[str, collections.deque] = collections.defaultdict(
            lambda: collections.deque(maxlen=300)
        )
        self.count = 0

    def _author(self, i: int, home: City, pretender_share: float) -> Author:
        rng = self.rng
        pretender = rng.random() < pretender_share
        if pretender:
            decoy = rng.choice([d for d in self.decoys if d.region != home.region])
            location = f"{decoy.name}, {self.country_names[decoy.country]}"
        else:
            roll = rng.random()
            if roll < 0.45:
                location = home.name
            elif roll < 0.70:
                location = f"{home.name}, {self.country_names[home.country]}"
            elif roll < 0.80:
                location = self.country_names[home.country]
            elif roll < 0.87:
                location = home.name.lower() + " "
            else:
                location = rng.choice(JOKES)
        followers = int(rng.lognormvariate(5, 1.8))
        return Author(f"u{i}", followers, home, location, pretender)

    def _weight(self, topic: tuple, t: float) -> float:
        _, _, _, peak, width = topic
        return 0.05 + math.exp(-(((t - peak) / width) ** 2))

    def _text(self, topic: str, mood: float) -> str:
        rng = self.rng
        words = [topic]
        for _ in range(rng.randint(3, 7)):
            roll = rng.random()
            if roll < 0.3 + 0.3 * mood:
                words.append(rng.choice(POSITIVE))
            elif roll < 0.6:
                words.append(rng.choice(NEGATIVE))
            else:
                words.append(rng.choice(NEUTRAL))
        return " ".join(words)

    def record(self, ts: float) -> dict:
        """The next record, at event time ``ts``."""
        rng = self.rng
        self.count += 1
        t = ts - self.start
        if int(t) != self.topic_second:  # the trends move slowly: weigh them once a second
            self.topic_second = int(t)
            self.topic_weights = list(itertools.accumulate(self._weight(tp, t) for tp in TOPICS))
        topic = rng.choices(TOPICS, cum_weights=self.topic_weights)[0]
        tag, region, mood = topic[0], topic[1], topic[2]
        recent = self.recent[tag]
        roll = rng.random()
        if recent and roll < 0.55:
            parent, parent_author = rng.choice(recent)
            local = self.neighbours[parent_author.home]
            who = rng.choice(local) if rng.random() < 0.9 else rng.choice(self.authors)
            kind = "repost" if roll < 0.42 else "reply"
            text = self._text(tag, mood) if kind == "reply" else ""
        else:
            pool = self.by_region.get(region) if region and rng.random() < 0.7 else None
            if pool:
                who = rng.choice(pool)
            else:
                who = rng.choices(self.authors, cum_weights=self.activity)[0]
            kind, parent, text = "post", None, self._text(tag, mood)
        record_id = f"r{self.count}"
        if kind == "post":
            recent.append((record_id, who))
        return {
            "id": record_id, "kind": kind, "author": who.name, "followers": who.followers,
            "location": who.location, "topic": tag, "text": text, "ts": round(ts, 3),
            "parent": parent,
        }

    def _malformed(self, record: dict) -> str:
        broken = dict(record)
        roll = self.rng.random()
        if roll < 0.25:
            return json.dumps(record)[:-7]
        if roll < 0.5:
            del broken["author"]
        elif roll < 0.75:
            broken["ts"] = "yesterday"
        else:
            broken["kind"] = "like"
        return json.dumps(broken)

    def lines(self, count: int, posts_per_second: float) -> Iterator[str]:
        """``count`` records as JSON lines in arrival order: event times advance by
        ``1 / posts_per_second``; late records arrive 20 s to 3 min of stream after their
        event time."""
        held: list[tuple[float, int, str]] = []
        step = 1.0 / posts_per_second
        for i in range(count):
            ts = self.start + i * step
            while held and held[0][0] <= ts:
                yield heapq.heappop(held)[2]
            record = self.record(ts)
            line = (
                self._malformed(record) if self.rng.random() < self.bad_share
                else json.dumps(record)
            )
            if self.rng.random() < self.late_share:
                heapq.heappush(held, (ts + self.rng.uniform(20, 180), i, line))
            else:
                yield line
        while held:
            yield heapq.heappop(held)[2]


def region_names() -> dict[str, str]:
    return {code: name for code, (name, _, _) in REGIONS.items()}
