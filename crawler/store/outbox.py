"""The outbox: alerts written with their release event, claimed by senders, marked as they go.

Writing. `save_release` calls `queue_alerts` inside the transaction that records a "new" or
"updated" event, so an event without its alerts cannot exist: if writing them fails, the
event, and the release with it, are not stored either (the crawl counts an item error and
the page is fetched again). No sender follows a cursor over `events`: on PostgreSQL two crawls
commit out of order, and a high-water mark would skip the one that committed last.

One row per target that wants the release, each with an idempotency key:

    email:{subscriber_id}:{group_key}:{kind}    instant mail; due now
    digest:{subscriber_id}:{group_key}:{kind}   digest mail; due at the next digest time
    webhook:{webhook_id}:{release_id}:{event_id}

Mail keys name the translation group, not the release: the same release in three languages
is one row, and the sender mails the version in the subscriber's first preferred language
that exists (else the release the row names). A key already there is skipped, never an
error. Targets: confirmed subscribers who did not unsubscribe, created before the event, and
enabled webhooks, whose filter `matches` the release (the semantics of the SQL filter).
No flood on day one: during a site's first crawl (no release of the site first seen before
the crawl took the site's lock) only releases published within `backfill_window` are queued.

    queue_alerts(conn, release_id, kind, values, now) -> int   (save_release calls it)
    matches(query, values) -> bool                             (in `matching`, re-exported)
    Store.backfill_window = timedelta(hours=24)                (config: [alerts])

Sending. A sender claims due rows, sends, then marks each:

    claim_due(channel, *, now, limit, lease_seconds) -> list[OutboxRow]
    mark_sent(ids, *, at) / mark_retry(ids, *, error, next_attempt_at) / mark_dead(ids, *, error)
    requeue(ids, *, at)            (replay: due again, whatever its state)
    outbox_rows(*, channel=None, state=None, target_id=None, limit=100) -> list[OutboxRow]

A claim is a lease: in the claiming transaction each row's `next_attempt_at` moves to `now +
lease_seconds` and `attempts` grows by one, so no other sender takes it until the lease runs
out (PostgreSQL: `FOR UPDATE SKIP LOCKED`, many senders; SQLite: one `BEGIN IMMEDIATE`
transaction). A row not marked by then (its sender died) is due again. Digests are claimed
per subscriber (`limit` counts subscribers), every due row of one at once, so one digest is
never split between two senders. States: pending (never tried), failed (tried, waits for
`next_attempt_at`), sent, dead (given up; `last_error` says why).

THE ONE UNAVOIDABLE WINDOW: between a message leaving (SMTP accepted it, the webhook answered
2xx) and `mark_sent` committing. A sender that crashes there leaves the row leased but
unmarked; once the lease runs out another sender sends it again: at most one resend per
crash, no sooner than `lease_seconds` later. Receivers can drop that duplicate: Message-ID
and webhook-id derive from the idempotency key, the same on every attempt.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, bindparam, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from crawler.store.base import StoreBase, writes

# The one definition of "the next digest" (a pure, stdlib-only module of the alerts package).
from crawler.store.digest_times import next_digest_at
from crawler.store.matching import matches
from crawler.store.records import OUTBOX_CHANNELS, OutboxRow, ReleaseQuery
from crawler.store.schema import events, outbox, releases, site_locks, subscribers, webhooks
from crawler.store.subscribers import WAITING, filters_query

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from sqlalchemy import ColumnElement, Select
    from sqlalchemy.engine import Connection, Row

__all__ = ["OutboxStore", "matches"]

logger = logging.getLogger(__name__)

MAX_ERROR_CHARS = 2000
KEY_CHUNK = 500  # idempotency keys looked up per statement


@functools.lru_cache(maxsize=4096)
def _filter_of(stored: str) -> ReleaseQuery:
    """A stored filter decoded once (each event is matched against every target's)."""
    return filters_query(stored)


class OutboxStore(StoreBase):
    """Queues alerts with release events; hands them to senders under a lease; marks them."""

    # A site's first crawl alerts only releases published this recently (config: [alerts]).
    backfill_window = timedelta(hours=24)

    def queue_alerts(
        self, conn: Connection, release_id: str, kind: str, values: Mapping[str, Any], now: datetime
    ) -> int:
        """Write the outbox rows of an event just recorded, in its transaction; how many.

        `values` are the release's `releases` columns as saved (see `matches`).
        """
        targets = _targets(conn, values, now)
        if not targets:
            return 0
        if _first_crawl(conn, values["site"], now) and not _recent(
            values.get("published"), now, self.backfill_window
        ):
            return 0
        event_id = conn.execute(
            select(events.c.id).where(
                events.c.release_id == release_id,
                events.c.kind == kind,
                events.c.content_hash == values["content_hash"],
            )
        ).scalar_one()
        rows = [
            _row(channel, target, due, (release_id, kind, values["group_key"], event_id), now)
            for channel, target, due in targets
        ]
        return _insert_new(conn, rows)

    @writes("outbox")
    def claim_due(
        self, channel: str, *, now: datetime, limit: int, lease_seconds: float
    ) -> list[OutboxRow]:
        """Lease up to `limit` due rows of a channel (digests: `limit` subscribers' rows)."""
        if channel not in OUTBOX_CHANNELS:
            raise ValueError(f"outbox channel {channel!r}: expected one of {OUTBOX_CHANNELS}")
        until = now + timedelta(seconds=lease_seconds)
        with self.engine.begin() as conn:
            if conn.dialect.name == "sqlite":  # the write lock first: no other claim between
                conn.exec_driver_sql("BEGIN IMMEDIATE")  # our read and our lease
            if channel == "digest":
                rows = _due_digests(conn, now, limit)
            else:
                stmt = _due(channel, now).limit(limit).with_for_update(skip_locked=True)
                rows = list(conn.execute(stmt))
            if rows:
                conn.execute(
                    update(outbox)
                    .where(outbox.c.id.in_([r.id for r in rows]))
                    .values(next_attempt_at=until, attempts=outbox.c.attempts + 1)
                )
        return [
            dataclasses.replace(_row_outbox(r), attempts=r.attempts + 1, next_attempt_at=until)
            for r in rows
        ]

    @writes("outbox")
    def mark_sent(self, ids: int | Iterable[int], *, at: datetime) -> int:
        """Rows delivered (commit this right after the send: see the window above)."""
        return self._mark(ids, state="sent", sent_at=at, last_error=None)

    @writes("outbox")
    def mark_retry(self, ids: int | Iterable[int], *, error: str, next_attempt_at: datetime) -> int:
        """Rows that failed for now: due again at `next_attempt_at` (a sent row stays sent)."""
        return self._mark(
            ids,
            state="failed",
            last_error=error[:MAX_ERROR_CHARS],
            next_attempt_at=next_attempt_at,
            unless_sent=True,
        )

    @writes("outbox")
    def mark_dead(self, ids: int | Iterable[int], *, error: str) -> int:
        """Rows given up for good: permanent refusal, or retries exhausted."""
        return self._mark(ids, state="dead", last_error=error[:MAX_ERROR_CHARS], unless_sent=True)

    @writes("outbox")
    def requeue(self, ids: int | Iterable[int], *, at: datetime) -> int:
        """Rows due again at `at`, whatever their state (a replay keeps its idempotency key)."""
        return self._mark(ids, state="pending", next_attempt_at=at, sent_at=None, last_error=None)

    def outbox_rows(
        self,
        *,
        channel: str | None = None,
        state: str | None = None,
        target_id: int | None = None,
        limit: int = 100,
    ) -> list[OutboxRow]:
        """Outbox rows by id, optionally of one channel, state or target."""
        stmt = select(outbox).order_by(outbox.c.id).limit(limit)
        for column, value in (("channel", channel), ("state", state), ("target_id", target_id)):
            if value is not None:
                stmt = stmt.where(outbox.c[column] == value)
        with self.engine.connect() as conn:
            return [_row_outbox(r) for r in conn.execute(stmt)]

    def _mark(self, ids: int | Iterable[int], *, unless_sent: bool = False, **values: Any) -> int:
        wanted = [ids] if isinstance(ids, int) else list(ids)
        if not wanted:
            return 0
        stmt = update(outbox).where(outbox.c.id.in_(wanted))
        if unless_sent:  # a late mark of a sender whose lease ran out must not undo a send
            stmt = stmt.where(outbox.c.state != "sent")
        with self.engine.begin() as conn:
            return int(conn.execute(stmt.values(**values)).rowcount)


# -- queueing ---------------------------------------------------------------------------------


# Run for every event a crawl records: built once (building and keying a statement per call
# cost more than running it on an empty table).
ACTIVE_SUBSCRIBERS = select(
    subscribers.c.id,
    subscribers.c.mode,
    subscribers.c.hour,
    subscribers.c.timezone,
    subscribers.c.filters,
).where(
    subscribers.c.confirmed_at.is_not(None),
    subscribers.c.unsubscribed_at.is_(None),
    subscribers.c.created_at <= bindparam("b_now"),  # a new subscriber gets what arrives after
)
ENABLED_WEBHOOKS = select(webhooks.c.id, webhooks.c.filters).where(webhooks.c.enabled.is_(True))


def _targets(
    conn: Connection, values: Mapping[str, Any], now: datetime
) -> list[tuple[str, int, datetime]]:
    """(channel, target id, due time) of every subscriber and webhook the release matches."""
    found: list[tuple[str, int, datetime]] = []
    for sub in conn.execute(ACTIVE_SUBSCRIBERS, {"b_now": now}):
        if matches(_filter_of(sub.filters), values):
            if sub.mode == "instant":
                found.append(("email", int(sub.id), now))
            else:
                found.append(("digest", int(sub.id), _digest_due(sub, now)))
    for hook in conn.execute(ENABLED_WEBHOOKS):
        if matches(_filter_of(hook.filters), values):
            found.append(("webhook", int(hook.id), now))
    return found


def _digest_due(sub: Any, now: datetime) -> datetime:
    try:
        return next_digest_at(sub.mode, sub.hour, sub.timezone, now)
    except ValueError as exc:  # a row edited by hand: the digest still goes, at UTC time
        logger.warning("subscriber %s: %s; digest time taken in UTC", sub.id, exc)
        return next_digest_at(sub.mode, min(max(sub.hour, 0), 23), "UTC", now)


def _recent(published: datetime | None, now: datetime, window: timedelta) -> bool:
    """Published within `window` before now. A date ahead of the clock (a day's date read as
    its noon, a local time read as UTC) counts as now: a window of 0 then still alerts none."""
    return published is not None and min(published, now) > now - window


def _first_crawl(conn: Connection, site: str, now: datetime) -> bool:
    """Whether this crawl is the site's first: no release of it first seen before it began.

    The crawl began when it took the site's lock; a save outside any crawl counts as one
    beginning now (so only the site's very first release is a first crawl's).
    """
    began = conn.execute(
        select(site_locks.c.acquired).where(site_locks.c.site == site)
    ).scalar_one_or_none()
    earlier = select(releases.c.id).where(
        releases.c.site == site, releases.c.first_seen < (began or now)
    )
    return conn.execute(earlier.limit(1)).first() is None


def _row(
    channel: str,
    target: int,
    due: datetime,
    event: tuple[str, str, str, int],
    now: datetime,
) -> dict[str, Any]:
    release_id, kind, group_key, event_id = event
    if channel == "webhook":
        key = f"webhook:{target}:{release_id}:{event_id}"
    else:
        key = f"{channel}:{target}:{group_key}:{kind}"
    return {
        "idempotency_key": key,
        "channel": channel,
        "target_id": target,
        "group_key": group_key,
        "release_id": release_id,
        "event_id": event_id,
        "kind": kind,
        "state": "pending",
        "attempts": 0,
        "next_attempt_at": due,
        "created_at": now,
    }


def _insert_new(conn: Connection, rows: list[dict[str, Any]]) -> int:
    """Insert the rows whose key is new; how many. A key already queued is skipped."""
    keys = [row["idempotency_key"] for row in rows]
    known: set[str] = set()
    for start in range(0, len(keys), KEY_CHUNK):
        chunk = keys[start : start + KEY_CHUNK]
        stmt = select(outbox.c.idempotency_key).where(outbox.c.idempotency_key.in_(chunk))
        known.update(conn.execute(stmt).scalars())
    fresh = [row for row in rows if row["idempotency_key"] not in known]
    if not fresh:
        return 0
    try:
        with conn.begin_nested():
            conn.execute(insert(outbox), fresh)
        return len(fresh)
    except IntegrityError:  # another transaction queued one of them meanwhile: one by one
        return sum(_insert_one(conn, row) for row in fresh)


def _insert_one(conn: Connection, row: dict[str, Any]) -> int:
    """Insert one row; 0 if its key is there already. Any other refusal is raised."""
    try:
        with conn.begin_nested():
            conn.execute(insert(outbox).values(row))
    except IntegrityError:
        key = outbox.c.idempotency_key == row["idempotency_key"]
        if conn.execute(select(outbox.c.id).where(key)).first() is None:
            raise  # not a duplicate: a broken write must fail the event with it
        return 0
    return 1


# -- claiming ---------------------------------------------------------------------------------


def _is_due(channel: str, now: datetime) -> ColumnElement[bool]:
    return and_(
        outbox.c.channel == channel,
        outbox.c.state.in_(WAITING),
        outbox.c.next_attempt_at <= now,
    )


def _due(channel: str, now: datetime) -> Select[Any]:
    return (
        select(outbox).where(_is_due(channel, now)).order_by(outbox.c.next_attempt_at, outbox.c.id)
    )


def _due_digests(conn: Connection, now: datetime, limit: int) -> list[Row[Any]]:
    """Every due digest row of up to `limit` subscribers no other sender is claiming.

    The lock is taken on the subscriber rows (SKIP LOCKED), not on the outbox rows one by
    one: two senders scanning one subscriber's rows could each lock a part of its digest.
    The rows are read after the lock, so a lease another sender committed meanwhile is seen.
    """
    due = _is_due("digest", now)
    first_due = func.min(outbox.c.next_attempt_at)
    candidates = conn.execute(
        select(outbox.c.target_id)
        .where(due)
        .group_by(outbox.c.target_id)
        .order_by(first_due, outbox.c.target_id)
        .limit(limit)
    ).scalars()
    locked = conn.execute(
        select(subscribers.c.id)
        .where(subscribers.c.id.in_(list(candidates)))
        .with_for_update(skip_locked=True)
    ).scalars()
    stmt = select(outbox).where(due, outbox.c.target_id.in_(list(locked)))
    return list(conn.execute(stmt.order_by(outbox.c.target_id, outbox.c.id)))


def _row_outbox(row: Any) -> OutboxRow:
    return OutboxRow(**row._asdict())
