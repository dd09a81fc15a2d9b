"""When a subscriber's digest is due: the next local hour, DST-correct (zoneinfo).

Pure functions over explicit instants. The store needs them to date a digest's outbox rows,
and data flows one way (store -> feeds/alerts), so they live here; feeds.alerts.schedule
re-exports them beside the retry backoff.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DigestMode = Literal["daily", "weekly"]
DIGEST_MODES = ("daily", "weekly")
WEEKLY_DAY = 0  # Monday (date.weekday())


def zone(name: str) -> ZoneInfo:
    """The IANA time zone `name`; ValueError naming it when it does not exist."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r}") from exc


def local_hour_at(day: datetime, hour: int, tz: ZoneInfo) -> datetime:
    """The UTC instant of local `hour`:00 on the local date of `day`.

    A nonexistent local time (spring forward) is read with the offset in force before the
    change, which is the first valid instant after it (02:00 in Paris on 29 March 2026 gives
    03:00 CEST). An ambiguous one (fall back) takes its first occurrence: fold=0.
    """
    wall = datetime.combine(day.date(), time(hour), tzinfo=tz).replace(fold=0)
    return wall.astimezone(UTC)


def next_digest_at(mode: str, hour: int, tz: str, after: datetime) -> datetime:
    """The next digest instant strictly after `after` (tz-aware UTC).

    Daily: the next local `hour`:00 in zone `tz`; weekly: the same on a Monday.
    """
    if mode not in DIGEST_MODES:
        raise ValueError(f"digest mode {mode!r}: expected daily or weekly")
    if not 0 <= hour <= 23:
        raise ValueError(f"digest hour {hour!r}: expected 0 to 23")
    if after.tzinfo is None:
        raise ValueError(f"naive datetime {after!r}: digests take tz-aware datetimes")
    place = zone(tz)
    local = after.astimezone(place)
    for offset in range(9):  # today, then the next 8 local days: always holds a Monday
        day = local + timedelta(days=offset)
        if mode == "weekly" and day.weekday() != WEEKLY_DAY:
            continue
        candidate = local_hour_at(day, hour, place)
        if candidate > after:
            return candidate
    raise AssertionError("unreachable: nine consecutive days always hold the next digest")
