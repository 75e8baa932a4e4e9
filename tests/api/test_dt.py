"""The ``.dt`` namespace: parsing, formatting, time zones, timestamps, rounding and fields."""

import datetime

import pytest

import reflow as pw
from tests.utils import T, rows, updates

UTC = datetime.UTC
TIMES = [
    datetime.datetime(2024, 5, 17, 12, 30, 45, 123456),
    datetime.datetime(1969, 12, 31, 23, 59, 59, 999999),
    datetime.datetime(2000, 2, 29, 0, 0),
    datetime.datetime(2023, 12, 31, 23, 7, 30, 500000),
]


def naive(values=TIMES, optional=False):
    schema = pw.schema_from_types(t=pw.DateTimeNaive | None if optional else pw.DateTimeNaive)
    return pw.debug.table_from_rows(schema, [(v,) for v in values])


def strings(values):
    return pw.debug.table_from_rows(pw.schema_from_types(s=str), [(v,) for v in values])


def values_of(table):
    return [r[0] for r in rows(table)]


def test_strptime_python_formats():
    t = strings(["2024-05-17 12:30:45.123456", "1999-01-02 03:04:05.5"])
    r = t.select(t=pw.this.s.dt.strptime("%Y-%m-%d %H:%M:%S.%f"))
    assert r.typehints() == {"t": pw.DateTimeNaive}
    assert values_of(r) == sorted(
        [
            datetime.datetime(2024, 5, 17, 12, 30, 45, 123456),
            datetime.datetime(1999, 1, 2, 3, 4, 5, 500000),
        ],
        key=repr,
    )


def test_strptime_with_timezone_gives_utc():
    t = strings(["2024-05-17T12:30:45+0200", "2024-01-01T00:00:00-01:00"])
    r = t.select(t=pw.this.s.dt.strptime("%Y-%m-%dT%H:%M:%S%z"))
    assert r.typehints() == {"t": pw.DateTimeUtc}
    assert sorted(values_of(r)) == [
        datetime.datetime(2024, 1, 1, 1, 0, tzinfo=UTC),
        datetime.datetime(2024, 5, 17, 10, 30, 45, tzinfo=UTC),
    ]


def test_strptime_mismatch_is_an_error_value():
    t = strings(["17/05/2024", "2024-05-17"])
    r = t.select(pw.this.s, t=pw.this.s.dt.strptime("%d/%m/%Y"))
    log = pw.global_error_log()
    assert rows(r, terminate_on_error=False) == sorted(
        [("17/05/2024", datetime.datetime(2024, 5, 17)), ("2024-05-17", pw.ERROR)], key=repr
    )
    [(_, message, _)] = rows(log, terminate_on_error=False)
    assert "dt.strptime" in message and "%d/%m/%Y" in message


def test_strftime_matches_python():
    fmt = "%Y-%m-%d %H:%M:%S.%f %a %b %j %%"
    r = naive().select(s=pw.this.t.dt.strftime(fmt))
    assert sorted(values_of(r)) == sorted(t.strftime(fmt) for t in TIMES)


def test_strftime_on_utc_with_z():
    t = pw.debug.table_from_rows(
        pw.schema_from_types(t=pw.DateTimeUtc),
        [(datetime.datetime(2024, 5, 17, 10, 0, tzinfo=UTC),)],
    )
    r = t.select(s=pw.this.t.dt.strftime("%Y-%m-%d %H:%M %z"))
    assert values_of(r) == ["2024-05-17 10:00 +0000"]


def test_strftime_then_strptime_roundtrip():
    fmt = "%Y-%m-%d %H:%M:%S.%f"
    r = naive().select(t=pw.this.t.dt.strftime(fmt).dt.strptime(fmt))
    assert sorted(values_of(r)) == sorted(TIMES)


def test_timezone_conversions_match_zoneinfo():
    zone = "America/New_York"
    r = naive().select(u=pw.this.t.dt.to_utc(zone))
    r2 = r.select(n=pw.this.u.dt.to_naive_in_timezone(zone))
    # New York is 4 hours behind UTC in summer and 5 in winter
    offsets = [4, 5, 5, 5]
    want = sorted(
        (t + datetime.timedelta(hours=h)).replace(tzinfo=UTC)
        for t, h in zip(TIMES, offsets, strict=True)
    )
    assert sorted(values_of(r)) == want
    assert sorted(values_of(r2)) == sorted(TIMES)
    assert r.typehints() == {"u": pw.DateTimeUtc}
    assert r2.typehints() == {"n": pw.DateTimeNaive}


def test_nonexistent_local_time_is_an_error():
    t = naive([datetime.datetime(2024, 3, 31, 2, 30)])
    r = t.select(u=pw.this.t.dt.to_utc("Europe/Warsaw"))
    assert rows(r, terminate_on_error=False) == [(pw.ERROR,)]


def test_unknown_timezone_fails_at_build_time():
    with pytest.raises(pw.BuildError, match="unknown time zone 'Mars/Olympus'"):
        naive().select(u=pw.this.t.dt.to_utc("Mars/Olympus"))


def test_durations_in_timezone_across_dst():
    zone = "Europe/Warsaw"
    t = naive([datetime.datetime(2024, 3, 31, 1, 30), datetime.datetime(2024, 10, 27, 1, 0)])
    step = datetime.timedelta(hours=3)
    r = t.select(
        a=pw.this.t.dt.add_duration_in_timezone(step, zone),
        s=pw.this.t.dt.add_duration_in_timezone(step, zone).dt.subtract_duration_in_timezone(
            step, zone
        ),
        d=pw.this.t.dt.add_duration_in_timezone(step, zone).dt.subtract_date_time_in_timezone(
            pw.this.t, zone
        ),
        plain=pw.this.t + step,
    )
    assert rows(r) == sorted(
        [
            # clocks jump forward at 2:00, so 3 real hours later the wall clock shows 5:30
            (datetime.datetime(2024, 3, 31, 5, 30), datetime.datetime(2024, 3, 31, 1, 30), step,
             datetime.datetime(2024, 3, 31, 4, 30)),
            # clocks go back at 3:00, so 3 real hours later the wall clock shows 3:00
            (datetime.datetime(2024, 10, 27, 3, 0), datetime.datetime(2024, 10, 27, 1, 0),
             step, datetime.datetime(2024, 10, 27, 4, 0)),
        ],
        key=repr,
    )


def test_timestamp_units():
    r = naive().select(
        pw.this.t, ns=pw.this.t.dt.timestamp(), s=pw.this.t.dt.timestamp("s"),
        ms=pw.this.t.dt.timestamp("ms"),
    )
    assert r.typehints() == {"t": pw.DateTimeNaive, "ns": int, "s": float, "ms": float}
    for t, ns, s, ms in rows(r):
        delta = t - datetime.datetime(1970, 1, 1)
        exact_us = (delta.days * 86400 + delta.seconds) * 10**6 + delta.microseconds
        assert ns == exact_us * 1000
        assert s == pytest.approx(exact_us / 10**6, abs=1e-6)
        assert ms == pytest.approx(exact_us / 10**3, abs=1e-3)


def test_timestamp_of_utc_and_from_timestamp_roundtrip():
    t = pw.debug.table_from_rows(
        pw.schema_from_types(t=pw.DateTimeUtc),
        [(datetime.datetime(2024, 5, 17, 10, 0, 0, 250000, tzinfo=UTC),)],
    )
    r = t.select(
        a=pw.this.t.dt.timestamp("ms").dt.utc_from_timestamp("ms"),
        b=pw.this.t.dt.timestamp().dt.from_timestamp("ns"),
    )
    assert rows(r) == [
        (datetime.datetime(2024, 5, 17, 10, 0, 0, 250000, tzinfo=UTC),
         datetime.datetime(2024, 5, 17, 10, 0, 0, 250000))
    ]
    assert r.typehints() == {"a": pw.DateTimeUtc, "b": pw.DateTimeNaive}


def test_from_timestamp_int_and_float():
    t = pw.debug.table_from_rows(
        pw.schema_from_types(i=int, f=float), [(1_700_000_000, 1_700_000_000.5), (-1, -0.25)]
    )
    r = t.select(
        a=pw.this.i.dt.from_timestamp("s"),
        b=pw.this.f.dt.utc_from_timestamp("s"),
        c=pw.this.i.dt.from_timestamp("ms"),
        d=pw.this.i.dt.to_duration("s"),
    )
    epoch = datetime.datetime(1970, 1, 1)
    assert rows(r) == sorted(
        [
            (datetime.datetime(2023, 11, 14, 22, 13, 20),
             datetime.datetime(2023, 11, 14, 22, 13, 20, 500000, tzinfo=UTC),
             epoch + datetime.timedelta(milliseconds=1_700_000_000),
             datetime.timedelta(seconds=1_700_000_000)),
            (epoch - datetime.timedelta(seconds=1),
             (epoch - datetime.timedelta(seconds=0.25)).replace(tzinfo=UTC),
             epoch - datetime.timedelta(milliseconds=1),
             datetime.timedelta(seconds=-1)),
        ],
        key=repr,
    )


def test_from_timestamp_of_nan_is_an_error():
    t = pw.debug.table_from_rows(pw.schema_from_types(f=float), [(float("nan"),), (0.0,)])
    r = t.select(a=pw.this.f.dt.from_timestamp("s"))
    expected = [(pw.ERROR,), (datetime.datetime(1970, 1, 1),)]
    assert rows(r, terminate_on_error=False) == sorted(expected, key=repr)


@pytest.mark.parametrize(
    "step",
    [
        datetime.timedelta(hours=1),
        datetime.timedelta(minutes=15),
        datetime.timedelta(days=1),
        datetime.timedelta(seconds=1),
        datetime.timedelta(milliseconds=250),
    ],
)
def test_floor_and_round_match_integer_arithmetic(step):
    r = naive().select(pw.this.t, f=pw.this.t.dt.floor(step), r=pw.this.t.dt.round(step))
    epoch = datetime.datetime(1970, 1, 1)
    for t, floored, rounded in rows(r):
        offset = t - epoch
        assert floored == epoch + (offset // step) * step
        assert rounded == epoch + ((offset + step / 2) // step) * step


def test_floor_and_round_accept_strings_and_keep_utc():
    t = pw.debug.table_from_rows(
        pw.schema_from_types(t=pw.DateTimeUtc),
        [(datetime.datetime(2024, 5, 17, 10, 44, tzinfo=UTC),)],
    )
    r = t.select(f=pw.this.t.dt.floor("30min"), r=pw.this.t.dt.round("1h"))
    assert r.typehints() == {"f": pw.DateTimeUtc, "r": pw.DateTimeUtc}
    assert rows(r) == [
        (
            datetime.datetime(2024, 5, 17, 10, 30, tzinfo=UTC),
            datetime.datetime(2024, 5, 17, 11, 0, tzinfo=UTC),
        )
    ]


def test_calendar_fields_match_python():
    r = naive().select(
        pw.this.t,
        year=pw.this.t.dt.year(),
        month=pw.this.t.dt.month(),
        day=pw.this.t.dt.day(),
        hour=pw.this.t.dt.hour(),
        minute=pw.this.t.dt.minute(),
        second=pw.this.t.dt.second(),
        ms=pw.this.t.dt.millisecond(),
        us=pw.this.t.dt.microsecond(),
        ns=pw.this.t.dt.nanosecond(),
        wd=pw.this.t.dt.weekday(),
    )
    for t, *fields in rows(r):
        assert fields == [
            t.year,
            t.month,
            t.day,
            t.hour,
            t.minute,
            t.second,
            t.microsecond // 1000,
            t.microsecond,
            t.microsecond * 1000,
            t.weekday(),
        ]


def test_duration_fields_truncate_toward_zero():
    spans = [
        datetime.timedelta(days=-1, hours=3, microseconds=7),
        datetime.timedelta(days=9, hours=3, seconds=5),
        datetime.timedelta(days=-15),
        datetime.timedelta(0),
    ]
    t = pw.debug.table_from_rows(pw.schema_from_types(d=pw.Duration), [(d,) for d in spans])
    r = t.select(
        pw.this.d,
        w=pw.this.d.dt.weeks(),
        days=pw.this.d.dt.days(),
        h=pw.this.d.dt.hours(),
        m=pw.this.d.dt.minutes(),
        s=pw.this.d.dt.seconds(),
        ms=pw.this.d.dt.milliseconds(),
        us=pw.this.d.dt.microseconds(),
        ns=pw.this.d.dt.nanoseconds(),
    )
    for d, *fields in rows(r):
        total_us = (d.days * 86400 + d.seconds) * 10**6 + d.microseconds
        units = [7 * 86400 * 10**6, 86400 * 10**6, 3600 * 10**6, 60 * 10**6, 10**6, 1000, 1]
        want = [int(total_us / u) if abs(total_us) < 2**52 else None for u in units]
        assert fields == [*want, total_us * 1000]


def test_none_propagates_through_dt_methods():
    t = naive([TIMES[0], None], optional=True)
    r = t.select(
        y=pw.this.t.dt.year(),
        s=pw.this.t.dt.strftime("%Y"),
        f=pw.this.t.dt.floor(datetime.timedelta(hours=1)),
        ts=pw.this.t.dt.timestamp("s"),
        u=pw.this.t.dt.to_utc("UTC"),
    )
    assert r.typehints() == {
        "y": int | None,
        "s": str | None,
        "f": pw.DateTimeNaive | None,
        "ts": float | None,
        "u": pw.DateTimeUtc | None,
    }
    assert (None, None, None, None, None) in rows(r)
    assert len(rows(r)) == 2


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda c: c.dt.year(), "expected a datetime column, got STR"),
        (lambda c: c.dt.days(), "expected a Duration column, got STR"),
        (lambda c: c.dt.strftime("%Y"), "expected a datetime column, got STR"),
        (lambda c: c.dt.to_utc("UTC"), "expected a DateTimeNaive column, got STR"),
        (lambda c: c.dt.from_timestamp("s"), "expected an int or float column, got STR"),
        (lambda c: c.dt.floor("1h"), "expected a datetime column, got STR"),
    ],
)
def test_type_errors_at_build_time(build, message):
    with pytest.raises(pw.BuildError, match=message):
        strings(["x"]).select(v=build(pw.this.s))


def test_strptime_on_datetime_column_fails_at_build_time():
    with pytest.raises(pw.BuildError, match="expected a str column, got DATE_TIME_NAIVE"):
        naive().select(v=pw.this.t.dt.strptime("%Y"))


def test_invalid_strftime_format_fails_at_build_time():
    with pytest.raises(pw.BuildError, match="invalid format '%Q'"):
        naive().select(v=pw.this.t.dt.strftime("%Q"))


def test_bad_unit_fails_at_build_time():
    with pytest.raises(pw.BuildError, match="unit must be one of"):
        naive().select(v=pw.this.t.dt.timestamp("h"))


def test_update_stream_retraction_flows_through_dt_methods():
    t = T(
        """
          | s                   | __time__ | __diff__
        1 | 2024-05-17 12:30:00 | 2        | 1
        2 | 2024-05-18 08:00:00 | 2        | 1
        1 | 2024-05-17 12:30:00 | 4        | -1
        1 | 2025-01-01 00:00:00 | 4        | 1
        2 | 2024-05-18 08:00:00 | 6        | -1
        2 | 2024-05-19 23:59:59 | 8        | 1
        """
    )
    r = t.select(
        y=pw.this.s.dt.strptime("%Y-%m-%d %H:%M:%S").dt.year(),
        h=pw.this.s.dt.strptime("%Y-%m-%d %H:%M:%S").dt.floor("1d").dt.strftime("%d"),
    )
    assert updates(r) == sorted(
        [
            (2024, "17", 2, 1),
            (2024, "18", 2, 1),
            (2024, "17", 4, -1),
            (2025, "01", 4, 1),
            (2024, "18", 6, -1),
            (2024, "19", 8, 1),
        ],
        key=repr,
    )
    assert rows(r) == [(2024, "19"), (2025, "01")]
