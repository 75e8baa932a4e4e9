"""The trending-topics pipeline: raw JSON lines in, revisable answers out.

1. **Parse and validate** each line; a bad record becomes an error (``pw.global_error_log()``
   names the record and the field) and goes no further.
2. **Geocode** each distinct free-text location once, through an asynchronous UDF with a
   cache, against the offline gazetteer: a city (``ok``), a region only (``vague``) or
   ``unknown``.
3. **Location reliability** by fixed-point iteration: a repost or reply from more than
   ``FAR_KM`` away from the post's place is far; an author is unreliable when over two
   thirds (and at least ``MIN_EVIDENCE``) of the reposts of their posts are far or come
   from unreliable authors; a place backed by no reliable author is bad, and every record
   that used a bad place is withdrawn, however old.
4. **Sentiment** per record (VADER; a repost carries its post's), averaged per topic, region
   and minute of event time in windows that accept records up to ``LATE_CUTOFF_S`` late.
5. **Popularity**: next minute's engagement of a topic predicted as ``a * this minute + b``;
   ``a`` and ``b`` live in a table refitted from the minutes before the last multiple of
   ``REFIT_EVERY_S`` of event time, and every prediction is revised when its topic's
   parameters change.

>>> import reflow as pw
>>> from examples.trending.generator import SocialStream
>>> lines = list(SocialStream(seed=3, authors=200).lines(300, posts_per_second=2))
>>> table = pw.debug.table_from_rows(pw.schema_from_types(data=str), [(x,) for x in lines])
>>> out = build(table)
>>> rows = pw.debug.table_to_dicts(out.predictions, terminate_on_error=False)[1]
>>> len(rows["topic"]) > 0
True
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

import reflow as pw

try:  # three times faster than json; json gives the messages of the lines it refuses
    from orjson import loads as _fast_loads
except ImportError:  # pragma: no cover - orjson comes with reflow's Kafka extra
    _fast_loads = json.loads

from .gazetteer import Gazetteer

FAR_KM = 3000.0
MIN_EVIDENCE = 4  # reposts of an author's posts needed before judging them
MINUTE_S = 60.0
LATE_CUTOFF_S = 600.0
REFIT_EVERY_S = 180.0
MIN_PAIRS = 3
KINDS = ("post", "repost", "reply")


@dataclass
class Outputs:
    records: pw.Table  # every valid record, located
    buckets: pw.Table  # topic, region, minute -> sentiment, engagement
    topic_minutes: pw.Table  # topic, minute -> engagement
    params: pw.Table  # topic -> a, b, pairs, fitted_until
    predictions: pw.Table  # topic, minute -> engagement, predicted, a, b, fitted_until
    verdicts: pw.Table  # author -> reliable
    places: pw.Table  # place -> good, backing (records of reliable authors), region, lat, lon
    reach: pw.Table  # author, followers -> interactions received
    errors: pw.Table  # one row: count of bad records


# --- 1. parse and validate ---------------------------------------------------------------------
_FIELDS = {"id": str, "kind": str, "author": str, "location": str, "topic": str, "text": str}


def validate(data: str) -> dict:
    """The record of one line, or a ``ValueError`` naming the record, the field and why.

    >>> validate('{"id": "r1", "kind": "like"}')
    Traceback (most recent call last):
    ValueError: record 'r1': field 'kind': expected one of post, repost, reply, got 'like'
    """
    try:
        record = _fast_loads(data)
    except ValueError:  # NaN, huge integers or bad JSON: the standard parser decides
        try:
            record = json.loads(data)
        except json.JSONDecodeError as error:
            raise ValueError(f"not JSON ({error.msg} at offset {error.pos}): "
                             f"{data[:60]!r}") from None
    if not isinstance(record, dict):
        raise ValueError(f"not a JSON object: {data[:60]!r}")
    name = record.get("id", "?")
    where = f"record {name!r}"
    if record.get("kind") not in KINDS:
        raise ValueError(f"{where}: field 'kind': expected one of "
                         f"{', '.join(KINDS)}, got {record.get('kind')!r}")
    for field, kind in _FIELDS.items():
        if not isinstance(record.get(field), kind):
            raise ValueError(f"{where}: field {field!r}: expected a string, "
                             f"got {record.get(field)!r}")
    ts, followers = record.get("ts"), record.get("followers")
    if isinstance(ts, bool) or not isinstance(ts, (int, float)):
        raise ValueError(f"{where}: field 'ts': expected a number of seconds, got {ts!r}")
    if isinstance(followers, bool) or not isinstance(followers, int) or followers < 0:
        raise ValueError(f"{where}: field 'followers': expected a count, got {followers!r}")
    parent = record.get("parent")
    if record["kind"] != "post" and not isinstance(parent, str):
        raise ValueError(f"{where}: field 'parent': a {record['kind']} needs its post's id")
    record["ts"], record["parent"] = float(ts), parent or ""
    return record


@pw.udf(deterministic=True)
def parse(data: str) -> pw.Json:
    return pw.Json(validate(data))


def parse_lines(lines: pw.Table) -> tuple[pw.Table, pw.Table]:
    parsed = lines.select(rec=parse(pw.this.data))
    valid = parsed.filter(pw.fill_error(pw.this.rec.is_not_none(), False))
    records = valid.select(
        rid=pw.this.rec["id"].as_str(unwrap=True),
        kind=pw.this.rec["kind"].as_str(unwrap=True),
        author=pw.this.rec["author"].as_str(unwrap=True),
        followers=pw.this.rec["followers"].as_int(unwrap=True),
        location=pw.this.rec["location"].as_str(unwrap=True),
        topic=pw.this.rec["topic"].as_str(unwrap=True),
        text=pw.this.rec["text"].as_str(unwrap=True),
        ts=pw.this.rec["ts"].as_float(unwrap=True),
        parent=pw.this.rec["parent"].as_str(unwrap=True),
    )
    errors = pw.global_error_log().reduce(errors=pw.reducers.count())
    return records, errors


# --- 2. geocode ----------------------------------------------------------------------------------
@pw.udf(
    executor=pw.udfs.async_executor(capacity=8),
    cache_strategy=pw.udfs.InMemoryCache(),
    deterministic=True,
)
async def geocode(location: str) -> pw.Json:
    """Where a location text is (the gazetteer is in memory; a real service would be awaited
    here, which is why the call is asynchronous and cached)."""
    found = Gazetteer.load().lookup(location)
    return pw.Json({"status": found.status, "place": found.place, "region": found.region,
                    "lat": found.lat, "lon": found.lon})


def locate(records: pw.Table) -> pw.Table:
    texts = records.groupby(pw.this.location).reduce(pw.this.location)
    places = texts.select(pw.this.location, geo=geocode(pw.this.location))
    places = places.select(
        pw.this.location,
        status=pw.this.geo["status"].as_str(unwrap=True),
        place=pw.this.geo["place"].as_str(unwrap=True),
        region=pw.this.geo["region"].as_str(unwrap=True),
        lat=pw.this.geo["lat"].as_float(unwrap=True),
        lon=pw.this.geo["lon"].as_float(unwrap=True),
    )
    return records.join(places, records.location == places.location, id=records.id).select(
        *pw.left, status=pw.right.status, place=pw.right.place, region=pw.right.region,
        lat=pw.right.lat, lon=pw.right.lon,
    )


# --- 3. location reliability -------------------------------------------------------------------
@pw.udf(max_batch_size=65536, deterministic=True)
def km_between(lat1: list[float], lon1: list[float], lat2: list[float], lon2: list[float]
               ) -> list[float]:
    """Great-circle distances (as ``gazetteer.distance_km``), a batch at a time."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dl = np.radians(np.subtract(lon2, lon1))
    a = np.sin((p2 - p1) / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return (2 * 6371.0 * np.arcsin(np.minimum(1.0, np.sqrt(a)))).tolist()


def _judge(verdicts: pw.Table, evidence: pw.Table) -> dict[str, pw.Table]:
    judged = evidence.join(verdicts, evidence.reposter == verdicts.author).select(
        evidence.author, suspicious=evidence.far | ~verdicts.reliable
    )
    counts = judged.groupby(judged.author).reduce(
        suspicious=pw.reducers.sum(pw.if_else(judged.suspicious, 1, 0)),
        total=pw.reducers.count(),
    )
    judgements = counts.select(
        unreliable=(pw.this.suspicious * 3 > pw.this.total * 2)
        & (pw.this.total >= MIN_EVIDENCE)
    )
    mine = judgements.ix(verdicts.id, allow_misses=True)
    reliable = ~pw.coalesce(mine.unreliable, False)
    return dict(verdicts=verdicts.select(verdicts.author, reliable=reliable))


def judge_places(located: pw.Table) -> tuple[pw.Table, pw.Table]:
    placed = located.filter(pw.this.status == "ok")
    posts = placed.filter(pw.this.kind == "post")
    answers = placed.filter(pw.this.kind != "post")
    pairs = answers.join(posts, answers.parent == posts.rid).select(
        reposter=answers.author, author=posts.author,
        km=km_between(answers.lat, answers.lon, posts.lat, posts.lon),
    )
    evidence = pairs.select(pw.this.reposter, pw.this.author, far=pw.this.km > FAR_KM)
    authors = located.groupby(pw.this.author).reduce(pw.this.author, reliable=True)
    verdicts = pw.iterate(_judge, verdicts=authors, evidence=evidence).verdicts
    backed = placed.join(verdicts, placed.author == verdicts.author).select(
        placed.place, placed.region, placed.lat, placed.lon, verdicts.reliable,
    )
    # region, lat and lon follow from the place: grouping by them keeps every reducer
    # invertible (a change costs the same however many records a place has)
    places = backed.groupby(pw.this.place, pw.this.region, pw.this.lat, pw.this.lon).reduce(
        pw.this.place, pw.this.region, pw.this.lat, pw.this.lon,
        backing=pw.reducers.sum(pw.if_else(pw.this.reliable, 1, 0)),
        records=pw.reducers.count(),
    ).select(*pw.this, good=pw.this.backing > 0)
    return verdicts, places


def withdraw_bad_places(located: pw.Table, places: pw.Table) -> pw.Table:
    regional = located.filter(pw.this.region != "")
    # only the verdict: a place's counts change with every record, its verdict seldom, and
    # each change of a joined row would re-send every record placed there
    verdicts = places.select(pw.this.place, pw.this.good)
    kept = regional.join_left(verdicts, pw.left.place == pw.right.place, id=pw.left.id).select(
        *pw.left, good=pw.coalesce(pw.right.good, True)
    )
    return kept.filter(pw.this.good).without(pw.this.good)


# --- 4. sentiment --------------------------------------------------------------------------------
_analyzer = None


@pw.udf(max_batch_size=8192, deterministic=True)
def sentiment(texts: list[str]) -> list[float]:
    """VADER's compound score in [-1, 1] (the lexicon ships with the package)."""
    global _analyzer
    if _analyzer is None:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

        _analyzer = SentimentIntensityAnalyzer()
    return [_analyzer.polarity_scores(text)["compound"] for text in texts]


def score(records: pw.Table, usable: pw.Table) -> pw.Table:
    """Usable records with the sentiment of their own text (a repost: its post's)."""
    scored = records.filter(pw.this.text != "").select(pw.this.rid, s=sentiment(pw.this.text))
    keyed = usable.select(*pw.this, source=pw.if_else(
        pw.this.kind == "repost", pw.this.parent, pw.this.rid))
    return keyed.join(scored, keyed.source == scored.rid, id=keyed.id).select(
        *pw.left, sentiment=pw.right.s
    ).without(pw.this.source)


def bucket(scored: pw.Table) -> pw.Table:
    keyed = scored.select(*pw.this, key=pw.this.topic + "|" + pw.this.region)
    windows = keyed.windowby(
        pw.this.ts,
        window=pw.temporal.tumbling(MINUTE_S),
        instance=pw.this.key,
        behavior=pw.temporal.common_behavior(cutoff=LATE_CUTOFF_S, keep_results=True),
    ).reduce(
        key=pw.this._pw_instance,
        minute=pw.this._pw_window_start,
        sentiment=pw.reducers.avg(pw.this.sentiment),
        engagement=pw.reducers.count(),
    )
    return windows.select(  # topic and region from the key: reducers stay invertible
        topic=pw.apply_with_type(lambda key: key.split("|")[0], str, pw.this.key),
        region=pw.apply_with_type(lambda key: key.split("|")[1], str, pw.this.key),
        minute=pw.this.minute, sentiment=pw.this.sentiment, engagement=pw.this.engagement,
    )


# --- 5. popularity -------------------------------------------------------------------------------
@pw.udf(deterministic=True)
def slope(n: int, sx: float, sy: float, sxx: float, sxy: float) -> float:
    """Least-squares slope of y on x; 1 (tomorrow like today) with too few or flat points."""
    denominator = n * sxx - sx * sx
    return (n * sxy - sx * sy) / denominator if n >= MIN_PAIRS and denominator > 0 else 1.0


def fit(topic_minutes: pw.Table) -> pw.Table:
    following = topic_minutes.select(
        pw.this.topic, minute=pw.this.minute - MINUTE_S, y=pw.this.engagement
    )
    pairs = topic_minutes.join(
        following,
        topic_minutes.topic == following.topic,
        topic_minutes.minute == following.minute,
    ).select(topic_minutes.topic, topic_minutes.minute, x=topic_minutes.engagement,
             y=following.y, one=1)
    latest = topic_minutes.reduce(latest=pw.reducers.max(pw.this.minute))
    clock = latest.select(one=1, fitted_until=(pw.this.latest // REFIT_EVERY_S) * REFIT_EVERY_S)
    known = pairs.join(clock, pairs.one == clock.one).select(
        *pw.left, fitted_until=pw.right.fitted_until
    ).filter(pw.this.minute + 2 * MINUTE_S <= pw.this.fitted_until)
    sums = known.groupby(pw.this.topic).reduce(
        pw.this.topic,
        pairs=pw.reducers.count(),
        sx=pw.reducers.sum(pw.cast(float, pw.this.x)),
        sy=pw.reducers.sum(pw.cast(float, pw.this.y)),
        sxx=pw.reducers.sum(pw.cast(float, pw.this.x * pw.this.x)),
        sxy=pw.reducers.sum(pw.cast(float, pw.this.x * pw.this.y)),
        fitted_until=pw.reducers.max(pw.this.fitted_until),
    )
    with_a = sums.select(
        pw.this.topic, pw.this.pairs, pw.this.fitted_until, pw.this.sx, pw.this.sy,
        a=slope(pw.this.pairs, pw.this.sx, pw.this.sy, pw.this.sxx, pw.this.sxy),
    )
    return with_a.select(
        pw.this.topic, pw.this.pairs, pw.this.fitted_until, pw.this.a,
        b=(pw.this.sy - pw.this.a * pw.this.sx) / pw.this.pairs,
    )


def predict(topic_minutes: pw.Table, params: pw.Table) -> pw.Table:
    joined = topic_minutes.join_left(params, pw.left.topic == pw.right.topic, id=pw.left.id)
    raw = joined.select(
        pw.left.topic, pw.left.minute, pw.left.engagement,
        a=pw.coalesce(pw.right.a, 1.0), b=pw.coalesce(pw.right.b, 0.0),
        fitted_until=pw.coalesce(pw.right.fitted_until, 0.0),
    )
    return raw.select(*pw.this, predicted=pw.if_else(
        pw.this.a * pw.this.engagement + pw.this.b > 0.0,
        pw.this.a * pw.this.engagement + pw.this.b, 0.0))


def author_reach(records: pw.Table) -> pw.Table:
    posts = records.filter(pw.this.kind == "post")
    answers = records.filter(pw.this.kind != "post")
    received = answers.join(posts, answers.parent == posts.rid).select(author=posts.author)
    counts = received.groupby(pw.this.author).reduce(pw.this.author,
                                                     interactions=pw.reducers.count())
    # grouped by (author, followers), not max(followers) per author: an invertible count
    followers = records.groupby(pw.this.author, pw.this.followers).reduce(
        pw.this.author, pw.this.followers)
    return followers.join(counts, followers.author == counts.author, id=followers.id).select(
        followers.author, followers.followers, counts.interactions)


def build(lines: pw.Table) -> Outputs:
    """The whole pipeline over a table of raw lines (column ``data``)."""
    records, errors = parse_lines(lines)
    located = locate(records)
    verdicts, places = judge_places(located)
    usable = withdraw_bad_places(located, places)
    buckets = bucket(score(records, usable))
    topic_minutes = buckets.groupby(pw.this.topic, pw.this.minute).reduce(
        pw.this.topic, pw.this.minute, engagement=pw.reducers.sum(pw.this.engagement)
    )
    params = fit(topic_minutes)
    return Outputs(
        records=located, buckets=buckets, topic_minutes=topic_minutes, params=params,
        predictions=predict(topic_minutes, params), verdicts=verdicts, places=places,
        reach=author_reach(records), errors=errors,
    )
