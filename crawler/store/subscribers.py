"""Who gets mail: subscribers, the shared app secrets, and what subscribers and webhooks share.

Subscribers come from three places (`source`): the config file ("config", kept in step by
`sync_config_subscribers`), the CLI ("cli") and the web form ("web"). Config and CLI ones are
confirmed when added; a web sign-up stays unconfirmed (`confirmed_at` NULL) until its
confirmation token comes back, and only confirmed subscribers who did not unsubscribe get
alerts. `confirm` is the single-use check of a confirmation: it is true once per subscriber,
and records the consent time.

    add_subscriber(spec, *, source="cli", at=None) -> int
    subscribers(*, active_only=False) -> list[Subscriber]
    get_subscriber(id) -> Subscriber | None
    find_subscriber(email, filters) -> Subscriber | None    (address compared without case)
    confirm(id, *, at) -> bool
    unsubscribe(id, *, at=None) -> bool           (its waiting outbox rows end: "dead")
    remove_subscriber(id) -> bool                 (its outbox rows go with it)
    sync_config_subscribers(entries, *, at=None) -> {"added": n, "updated": n, "removed": n}
    signing_key() -> bytes                        (tokens' HMAC key, one for every replica)
"""

from __future__ import annotations

import json
import secrets
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from crawler.store.base import StoreBase, writes
from crawler.store.records import FILTER_KEYS, ReleaseQuery, Subscriber, SubscriberSpec
from crawler.store.schema import app_secrets, outbox, subscribers, utcnow

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from datetime import datetime

    from sqlalchemy import Table
    from sqlalchemy.engine import Connection

SIGNING_KEY = "token_signing_key"
SIGNING_KEY_BYTES = 32
WAITING = ("pending", "failed")  # outbox states still to be sent
EMAIL_CHANNELS = ("email", "digest")
T = TypeVar("T")


def filters_json(query: ReleaseQuery) -> str:
    """A filter as stored: only the keys it uses, in FILTER_KEYS order (comparable as text)."""
    used = {key: list(getattr(query, key)) for key in FILTER_KEYS if getattr(query, key)}
    return json.dumps(used, ensure_ascii=False, separators=(",", ":"))


def filters_query(text: str) -> ReleaseQuery:
    return ReleaseQuery.from_mapping(json.loads(text or "{}"))


class SubscriberStore(StoreBase):
    """Subscribers (add, list, confirm, unsubscribe, sync) and app secrets."""

    @writes("subscribers")
    def add_subscriber(
        self, spec: SubscriberSpec, *, source: str = "cli", at: datetime | None = None
    ) -> int:
        """Store a subscriber; a web sign-up is left unconfirmed, any other is confirmed now."""
        if source not in ("config", "cli", "web"):
            raise ValueError(f"subscriber source {source!r}: expected config, cli or web")
        with self.engine.begin() as conn:
            return _insert_subscriber(conn, spec, source, at or utcnow())

    def subscribers(self, *, active_only: bool = False) -> list[Subscriber]:
        """Every subscriber by id; `active_only`: the confirmed ones still subscribed."""
        stmt = select(subscribers).order_by(subscribers.c.id)
        if active_only:
            stmt = stmt.where(
                subscribers.c.confirmed_at.is_not(None), subscribers.c.unsubscribed_at.is_(None)
            )
        with self.engine.connect() as conn:
            return [_row_subscriber(r) for r in conn.execute(stmt)]

    def get_subscriber(self, subscriber_id: int) -> Subscriber | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(subscribers).where(subscribers.c.id == subscriber_id)).first()
        return _row_subscriber(row) if row else None

    def find_subscriber(self, email: str, filters: ReleaseQuery) -> Subscriber | None:
        """The first subscriber of this address (any case) with exactly this filter."""
        with self.engine.connect() as conn:
            found = _same_subscription(conn, email, filters_json(filters), source=None)
        return found[0] if found else None

    @writes("subscribers")
    def confirm(self, subscriber_id: int, *, at: datetime) -> bool:
        """Confirm a sign-up (its consent time is now); False when done before or unknown."""
        stmt = (
            update(subscribers)
            .where(subscribers.c.id == subscriber_id, subscribers.c.confirmed_at.is_(None))
            .values(confirmed_at=at, consent_at=at)
        )
        with self.engine.begin() as conn:
            return bool(conn.execute(stmt).rowcount)

    @writes("subscribers")
    def unsubscribe(self, subscriber_id: int, *, at: datetime | None = None) -> bool:
        """Stop a subscriber's alerts (those waiting too); False when already done or unknown."""
        stmt = (
            update(subscribers)
            .where(subscribers.c.id == subscriber_id, subscribers.c.unsubscribed_at.is_(None))
            .values(unsubscribed_at=at or utcnow())
        )
        with self.engine.begin() as conn:
            done = bool(conn.execute(stmt).rowcount)
            end_waiting(conn, EMAIL_CHANNELS, subscriber_id, "unsubscribed")
        return done

    @writes("subscribers")
    def remove_subscriber(self, subscriber_id: int) -> bool:
        """Delete a subscriber and its outbox rows; False when there was none."""
        with self.engine.begin() as conn:
            return delete_target(conn, subscribers, EMAIL_CHANNELS, subscriber_id)

    @writes("subscribers")
    def sync_config_subscribers(
        self, entries: Iterable[SubscriberSpec], *, at: datetime | None = None
    ) -> dict[str, int]:
        """Make the "config" subscribers those of the config file: by address and filter.

        A known one is updated (mode, hour, time zone, languages) and keeps its id, so what
        waits for it in the outbox stays; one left out of the file is removed. A config
        subscriber who unsubscribed stays unsubscribed: the owner of the address said so.
        """
        now = at or utcnow()
        with self.engine.begin() as conn:

            def known(spec: SubscriberSpec) -> list[int]:
                found = _same_subscription(conn, spec.email, filters_json(spec.filters), "config")
                return [sub.id for sub in found]

            def refresh(subscriber_id: int, spec: SubscriberSpec) -> None:
                stmt = update(subscribers).where(subscribers.c.id == subscriber_id)
                conn.execute(stmt.values(_preferences(spec)))

            def add(spec: SubscriberSpec) -> int:
                return _insert_subscriber(conn, spec, "config", now)

            listed = upsert_listed(entries, known=known, refresh=refresh, add=add)
            return sync_counts(listed, remove_unlisted(conn, subscribers, EMAIL_CHANNELS, listed))

    @writes("app_secrets")
    def signing_key(self) -> bytes:
        """The key that signs unsubscribe and confirmation tokens: made once, shared by all.

        Every web replica reads the same key from the database, so a token one made is good
        on all; two processes making it at once both end up with the first one stored.
        """
        stmt = select(app_secrets.c.value).where(app_secrets.c.name == SIGNING_KEY)
        with self.engine.begin() as conn:
            key = conn.execute(stmt).scalar()
            if key is None:
                fresh = secrets.token_bytes(SIGNING_KEY_BYTES)
                row = {"name": SIGNING_KEY, "value": fresh, "created_at": utcnow()}
                try:
                    with conn.begin_nested():
                        conn.execute(insert(app_secrets).values(row))
                except IntegrityError:  # another process stored its key first: use that one
                    pass
                key = conn.execute(stmt).scalar_one()
        return bytes(key)


def _preferences(spec: SubscriberSpec) -> dict[str, Any]:
    return {
        "mode": spec.mode,
        "hour": spec.hour,
        "timezone": spec.timezone,
        "languages": json.dumps([lang.lower() for lang in spec.languages]),
    }


def _insert_subscriber(conn: Connection, spec: SubscriberSpec, source: str, at: datetime) -> int:
    confirmed = None if source == "web" else at
    stmt = insert(subscribers).values(
        email=spec.email.strip(),
        filters=filters_json(spec.filters),
        source=source,
        created_at=at,
        confirmed_at=confirmed,
        **_preferences(spec),
    )
    return int(conn.execute(stmt.returning(subscribers.c.id)).scalar_one())


def _same_subscription(
    conn: Connection, email: str, filters: str, source: str | None
) -> list[Subscriber]:
    """Subscribers of this address (compared without case) with exactly this stored filter."""
    stmt = select(subscribers).where(subscribers.c.filters == filters).order_by(subscribers.c.id)
    if source is not None:
        stmt = stmt.where(subscribers.c.source == source)
    wanted = email.strip().casefold()
    return [_row_subscriber(r) for r in conn.execute(stmt) if r.email.casefold() == wanted]


def upsert_listed(
    entries: Iterable[T],
    *,
    known: Callable[[T], list[int]],
    refresh: Callable[[int, T], None],
    add: Callable[[T], int],
) -> dict[int, bool]:
    """Each entry's row: a known one refreshed, else a new one; {id: whether it is new}."""
    listed: dict[int, bool] = {}
    for entry in entries:
        found = [i for i in known(entry) if i not in listed]
        if found:
            refresh(found[0], entry)
            listed[found[0]] = False
        else:
            listed[add(entry)] = True
    return listed


def sync_counts(listed: dict[int, bool], removed: int) -> dict[str, int]:
    added = sum(listed.values())
    return {"added": added, "updated": len(listed) - added, "removed": removed}


def end_waiting(conn: Connection, channels: tuple[str, ...], target_id: int, why: str) -> None:
    """Rows still to send to this target will not be sent: dead, with the reason."""
    conn.execute(
        update(outbox)
        .where(
            outbox.c.channel.in_(channels),
            outbox.c.target_id == target_id,
            outbox.c.state.in_(WAITING),
        )
        .values(state="dead", last_error=why)
    )


def delete_target(
    conn: Connection, table: Table, channels: tuple[str, ...], target_id: int
) -> bool:
    """Delete a subscriber or webhook with its outbox rows (their delivery log cascades)."""
    conn.execute(
        delete(outbox).where(outbox.c.channel.in_(channels), outbox.c.target_id == target_id)
    )
    return bool(conn.execute(delete(table).where(table.c.id == target_id)).rowcount)


def remove_unlisted(
    conn: Connection, table: Table, channels: tuple[str, ...], kept: Iterable[int]
) -> int:
    """Delete the "config" rows of `table` the config file no longer lists."""
    stale = conn.execute(
        select(table.c.id).where(table.c.source == "config", table.c.id.not_in(list(kept)))
    ).scalars()
    return sum(delete_target(conn, table, channels, int(target)) for target in list(stale))


def _row_subscriber(row: Any) -> Subscriber:
    values = row._asdict()
    languages = tuple(json.loads(values["languages"] or "[]"))
    return Subscriber(
        **{**values, "languages": languages, "filters": filters_query(values["filters"])}
    )
