"""Digest instants under fixed clocks across the 2026 DST changes; retry delays."""

from __future__ import annotations

import itertools
import random
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from feeds.alerts.schedule import backoff_delay, next_digest_at


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# (mode, hour, zone, after, expected) — `after` and `expected` in UTC
CASES = [
    # Europe/Paris: CET (+1) until 29 March 2026 02:00, then CEST (+2) until 25 October 03:00
    ("daily", 8, "Europe/Paris", "2026-03-28T06:59", "2026-03-28T07:00"),
    ("daily", 8, "Europe/Paris", "2026-03-28T07:00", "2026-03-29T06:00"),  # strictly after
    ("daily", 2, "Europe/Paris", "2026-03-28T12:00", "2026-03-29T01:00"),  # 02:00 missing: 03:00
    ("daily", 2, "Europe/Paris", "2026-03-29T01:00", "2026-03-30T00:00"),
    ("daily", 8, "Europe/Paris", "2026-10-24T06:00", "2026-10-25T07:00"),
    ("daily", 2, "Europe/Paris", "2026-10-24T12:00", "2026-10-25T00:00"),  # 02:00 twice: first
    ("daily", 2, "Europe/Paris", "2026-10-25T00:00", "2026-10-26T01:00"),  # not the second one
    ("daily", 0, "Europe/Paris", "2026-12-31T23:30", "2027-01-01T23:00"),
    # America/New_York: EST (-5) until 8 March 2026 02:00, EDT (-4) until 1 November 02:00
    ("daily", 8, "America/New_York", "2026-03-07T13:00", "2026-03-08T12:00"),
    ("daily", 2, "America/New_York", "2026-03-08T06:00", "2026-03-08T07:00"),  # 03:00 EDT
    ("daily", 1, "America/New_York", "2026-10-31T12:00", "2026-11-01T05:00"),  # 01:00 EDT
    ("daily", 1, "America/New_York", "2026-11-01T05:00", "2026-11-02T06:00"),
    ("daily", 23, "America/New_York", "2026-11-01T12:00", "2026-11-02T04:00"),
    # Africa/Bamako: UTC all year, nothing moves on either European date
    ("daily", 8, "Africa/Bamako", "2026-03-28T08:30", "2026-03-29T08:00"),
    ("daily", 8, "Africa/Bamako", "2026-10-25T07:59", "2026-10-25T08:00"),
    # weekly: Mondays only (23 and 30 March, 19 and 26 October 2026 are Mondays)
    ("weekly", 8, "Europe/Paris", "2026-03-23T06:00", "2026-03-23T07:00"),
    ("weekly", 8, "Europe/Paris", "2026-03-23T07:00", "2026-03-30T06:00"),  # over the change
    ("weekly", 8, "Europe/Paris", "2026-03-25T12:00", "2026-03-30T06:00"),
    ("weekly", 8, "Europe/Paris", "2026-10-20T00:00", "2026-10-26T07:00"),
    ("weekly", 9, "America/New_York", "2026-03-01T00:00", "2026-03-02T14:00"),
    ("weekly", 9, "America/New_York", "2026-03-02T14:00", "2026-03-09T13:00"),
    ("weekly", 8, "Africa/Bamako", "2026-03-29T09:00", "2026-03-30T08:00"),
]


@pytest.mark.parametrize(("mode", "hour", "tz", "after", "expected"), CASES)
def test_next_digest_at(mode: str, hour: int, tz: str, after: str, expected: str) -> None:
    result = next_digest_at(mode, hour, tz, at(after))
    assert result == at(expected)
    assert result.tzinfo is UTC
    local = result.astimezone(ZoneInfo(tz))
    if mode == "weekly":
        assert local.weekday() == 0
    # the local hour, or the first instant after it when that hour does not exist
    assert local.hour == hour or (local.hour == hour + 1 and local.dst())


def test_one_digest_per_local_day_over_a_year() -> None:
    """Chained from one digest to the next: one per local day, through both changes."""
    when = at("2026-01-01T00:00")
    days = []
    while when.year == 2026:
        when = next_digest_at("daily", 8, "Europe/Paris", when)
        days.append(when.astimezone(ZoneInfo("Europe/Paris")).date())
    assert len(days) == len(set(days)) == 366  # 1 January 2026 .. 1 January 2027
    assert all(d.toordinal() - c.toordinal() == 1 for c, d in itertools.pairwise(days))


def test_after_in_another_zone_is_the_same_instant() -> None:
    paris = datetime(2026, 3, 28, 8, 30, tzinfo=ZoneInfo("Europe/Paris"))
    assert next_digest_at("daily", 8, "America/New_York", paris) == at("2026-03-28T12:00")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("instant", 8, "UTC", at("2026-01-01T00:00")), "digest mode"),
        (("daily", 24, "UTC", at("2026-01-01T00:00")), "digest hour"),
        (("daily", 8, "Mars/Olympus", at("2026-01-01T00:00")), "unknown time zone"),
        (("daily", 8, "../etc/passwd", at("2026-01-01T00:00")), "unknown time zone"),
        (("daily", 8, "UTC", datetime(2026, 1, 1)), "naive"),
    ],
)
def test_bad_arguments_name_the_problem(args: tuple[Any, ...], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        next_digest_at(*args)


def test_backoff_grows_and_is_capped() -> None:
    rng = random.Random(7)
    delays = [backoff_delay(n, initial=30, maximum=3600, rng=rng) for n in range(1, 16)]
    assert 15 <= delays[0] <= 30
    # each step's floor is the previous step's ceiling: never shorter until the cap (attempt 8)
    growing = delays[:7]
    assert all(b >= a for a, b in itertools.pairwise(growing)), delays
    assert delays[3] > delays[0] * 3  # exponential, not linear
    assert all(d <= 3600 for d in delays)
    assert delays[-1] >= 1800
    assert backoff_delay(10**6, initial=30, maximum=3600, rng=rng) <= 3600


def test_jitter_stays_within_bounds_and_spreads() -> None:
    rng = random.Random(1)
    # attempt 3: step 120 s, equal jitter keeps [60, 120]
    draws = [backoff_delay(3, initial=30, maximum=3600, rng=rng) for _ in range(2000)]
    assert all(60 <= d <= 120 for d in draws)
    assert min(draws) < 65 and max(draws) > 115
    assert len(set(draws)) > 1900
    capped = [backoff_delay(30, initial=30, maximum=3600, rng=rng) for _ in range(500)]
    assert all(1800 <= d <= 3600 for d in capped)
    # without an injected generator it still stays within bounds
    assert 60 <= backoff_delay(3, initial=30, maximum=3600) <= 120


def test_retry_after_is_honoured_when_larger_up_to_the_cap() -> None:
    assert backoff_delay(1, initial=30, maximum=3600, retry_after=500) == 500
    same = random.Random(3), random.Random(3)
    plain = backoff_delay(4, initial=30, maximum=3600, rng=same[0])
    assert backoff_delay(4, initial=30, maximum=3600, retry_after=1, rng=same[1]) == plain
    assert backoff_delay(1, initial=30, maximum=3600, retry_after=86400 * 365) == 3600


@pytest.mark.parametrize(
    ("attempt", "initial", "maximum"), [(0, 30, 3600), (1, 0, 3600), (1, 60, 30)]
)
def test_backoff_refuses_bad_bounds(attempt: int, initial: float, maximum: float) -> None:
    with pytest.raises(ValueError):
        backoff_delay(attempt, initial=initial, maximum=maximum)
