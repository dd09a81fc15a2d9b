"""The database schema (SQLAlchemy Core tables) and engine set-up shared by every package."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    text,
)
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.types import TypeDecorator

from crawler.exceptions import StoreError
from crawler.store.records import RUN_COUNTERS

SQLITE_BUSY_TIMEOUT = 30.0  # seconds, unless the URL says `?timeout=`


class UtcDateTime(TypeDecorator[datetime]):
    """Stores UTC, returns tz-aware UTC datetimes on SQLite and PostgreSQL alike."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r} given to the store")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = MetaData()

releases = Table(
    "releases",
    metadata,
    Column("id", String(120), primary_key=True),
    Column("site", String(64), nullable=False, index=True),
    Column("url", Text, nullable=False),
    Column("group_key", String(120), nullable=False, index=True),
    Column("lang", String(8), nullable=False),
    Column("country", String(120)),
    Column("region", String(200)),
    Column("type", String(32), nullable=False),
    Column("title", Text),
    Column("published", UtcDateTime()),
    Column("dateline", String(200)),
    Column("body_text", Text, nullable=False, default=""),
    Column("body_html", Text, nullable=False, default=""),
    Column("summary", Text, nullable=False, default=""),
    Column("image_url", Text),
    Column("attachments", Text, nullable=False, default="[]"),
    Column("translations", Text, nullable=False, default="{}"),
    Column("search_text", Text, nullable=False, default=""),
    Column("content_hash", String(64), nullable=False),
    Column("raw_html", LargeBinary),
    Column("flags", Text, nullable=False, default="[]"),  # JSON list, see records.RELEASE_FLAGS
    # JSON list (ASCII-escaped, so SQL lower() folds it alike everywhere) of country tags
    Column("countries", Text, nullable=False, default="[]", server_default="[]"),
    Column("first_seen", UtcDateTime(), nullable=False),
    Column("updated", UtcDateTime(), nullable=False),
    Column("last_crawled", UtcDateTime(), nullable=False),
    Index("ix_releases_sort", "published", "first_seen"),
    Index("ix_releases_updated", "updated"),
    Index("ix_releases_site_hash", "site", "content_hash"),
)

# URL tables are keyed on `identity.url_key(url)`: an index over a full URL (an Arabic slug
# percent-encodes past 2,000 characters) is neither portable nor bounded; the URL stays whole.
release_urls = Table(
    "release_urls",
    metadata,
    Column("url_hash", String(64), primary_key=True),
    Column("url", Text, nullable=False),
    Column(
        "release_id", String(120), ForeignKey("releases.id", ondelete="CASCADE"), nullable=False
    ),
)

events = Table(
    "events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "release_id", String(120), ForeignKey("releases.id", ondelete="CASCADE"), nullable=False
    ),
    Column("kind", String(16), nullable=False),
    Column("content_hash", String(64), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    UniqueConstraint("release_id", "kind", "content_hash", name="uq_event_once"),
    Index("ix_events_created_at", "created_at"),
)

# The page as fetched for each recorded event (the audit trail of edits), compressed.
release_versions = Table(
    "release_versions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "release_id",
        String(120),
        ForeignKey("releases.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("kind", String(16), nullable=False),
    Column("content_hash", String(64), nullable=False),
    Column("raw_html", LargeBinary),
    Column("created_at", UtcDateTime(), nullable=False, index=True),
)

crawl_runs = Table(
    "crawl_runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("site", String(64), nullable=False, index=True),
    Column("started", UtcDateTime(), nullable=False),
    Column("finished", UtcDateTime()),
    Column("status", String(16), nullable=False, default="running"),
    Column("reason", Text),
    *(Column(name, Integer, nullable=False, default=0) for name in RUN_COUNTERS),
    Column("duration", Float),
    Column("coverage", Text, nullable=False, default="{}"),
    Index("ix_crawl_runs_started", "started"),
)

http_validators = Table(
    "http_validators",
    metadata,
    Column("url_hash", String(64), primary_key=True),
    Column("url", Text, nullable=False),
    Column("etag", Text),
    Column("last_modified", Text),
    Column("body", LargeBinary),  # kept only for robots.txt, so an unchanged one costs a 304
    Column("checked", UtcDateTime(), nullable=False),
)

site_templates = Table(
    "site_templates",
    metadata,
    Column("site", String(64), primary_key=True),
    Column("state", Text, nullable=False),
    Column("pages", Integer, nullable=False, default=0),
    Column("updated", UtcDateTime(), nullable=False),
)

# Article URLs that failed for good (404, 410, robots): skipped until `retry_after`.
url_failures = Table(
    "url_failures",
    metadata,
    Column("url_hash", String(64), primary_key=True),
    Column("url", Text, nullable=False),
    Column("site", String(64), nullable=False, index=True),
    Column("reason", Text, nullable=False),
    Column("failed_at", UtcDateTime(), nullable=False),
    Column("retry_after", UtcDateTime(), nullable=False),
)

# Which process crawls a site now (SQLite; on PostgreSQL an advisory lock decides and the
# row only names the holder).
site_locks = Table(
    "site_locks",
    metadata,
    Column("site", String(64), primary_key=True),
    Column("holder", String(255), nullable=False),  # "host:pid"
    Column("acquired", UtcDateTime(), nullable=False),
    Column("expires", UtcDateTime(), nullable=False),
)

# The operator channel (crawler/store/operator.py). `site` is the alert's subject: a site id,
# or "webhook:<id>"; at most one open alert per (subject, kind) (migration 0005).
operator_alerts = Table(
    "operator_alerts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("site", String(64), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("message", Text, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("resolved", Boolean, nullable=False, default=False),
    Column("resolved_at", UtcDateTime(), nullable=True),
    Index(
        "ux_operator_alerts_open",
        "site",
        "kind",
        unique=True,
        sqlite_where=text("resolved = 0"),
        postgresql_where=text("NOT resolved"),
    ),
)

# Each operator alert's notices, per phase ("raised", "resolved") and channel ("email",
# "webhook"): one row, claimed under a lease, marked sent once (migration 0007).
operator_notices = Table(
    "operator_notices",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "alert_id", Integer, ForeignKey("operator_alerts.id", ondelete="CASCADE"), nullable=False
    ),
    Column("phase", String(16), nullable=False),
    Column("channel", String(16), nullable=False),
    Column("state", String(16), nullable=False),  # sending | sent | failed | dead
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", UtcDateTime(), nullable=True),  # lease end, or the retry time
    Column("sent_at", UtcDateTime(), nullable=True),
    Column("error", Text, nullable=True),
    UniqueConstraint("alert_id", "phase", "channel", name="uq_operator_notices"),
)


def utcnow() -> datetime:
    return datetime.now(UTC)


def sqlite_busy_timeout(url: str) -> float:
    """Seconds a SQLite write waits for another writer: the URL's `?timeout=`, else 30."""
    try:
        raw = make_url(url).query.get("timeout", str(SQLITE_BUSY_TIMEOUT))
    except ArgumentError as exc:
        raise StoreError(f"database URL {url!r}: {exc}") from None
    try:
        seconds = float(raw if isinstance(raw, str) else raw[-1])
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds <= 3600:  # NaN fails this too
        raise StoreError(f"database URL: timeout={raw!r} is not a number of seconds (0 to 3600)")
    return seconds


def _sqlite_pragmas(busy_timeout: float) -> Callable[[Any, Any], None]:
    # SQLAlchemy hands `?timeout=` to sqlite3.connect, which sets the same busy handler; the
    # PRAGMA repeats it so that the default (30 s, not sqlite3's 5 s) and the URL agree.
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
        cursor.close()

    return on_connect


def make_engine(url: str) -> Engine:
    """An engine for SQLite (WAL, busy timeout; its folder created) or PostgreSQL.

    `hide_parameters`: a failed statement's error names the statement, never its values (a
    release body or raw page must not end up in a log line).
    """
    busy_timeout = sqlite_busy_timeout(url) if url.startswith("sqlite") else None
    if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
        path = url.removeprefix("sqlite:///").split("?", 1)[0]
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    try:
        engine = create_engine(url, pool_pre_ping=True, hide_parameters=True)
    except Exception as exc:
        raise StoreError(f"database URL {url.split('@')[-1]!r}: {exc}") from None
    if busy_timeout is not None:
        event.listen(engine, "connect", _sqlite_pragmas(busy_timeout))
    return engine


# -- alerts (issue 9): who gets what, and the outbox of what is still to send -----------------

subscribers = Table(
    "subscribers",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("email", String(320), nullable=False, index=True),
    Column("mode", String(16), nullable=False),  # records.SUBSCRIBER_MODES
    Column("hour", Integer, nullable=False),  # digests: the local hour, in `timezone`
    Column("timezone", String(64), nullable=False),
    Column("languages", Text, nullable=False),  # JSON list, in order of preference
    Column("filters", Text, nullable=False),  # JSON object of ReleaseQuery keys
    Column("source", String(16), nullable=False),  # config | cli | web
    Column("created_at", UtcDateTime(), nullable=False),
    Column("confirmed_at", UtcDateTime()),  # NULL: a web sign-up not confirmed yet
    Column("consent_at", UtcDateTime()),
    Column("unsubscribed_at", UtcDateTime()),
)

webhooks = Table(
    "webhooks",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("url", Text, nullable=False),
    Column("secret", Text, nullable=False),
    Column("filters", Text, nullable=False),
    Column("source", String(16), nullable=False),  # config | cli
    Column("enabled", Boolean, nullable=False),
    Column("consecutive_failures", Integer, nullable=False),
    Column("disabled_at", UtcDateTime()),
    Column("disabled_reason", Text),
    Column("created_at", UtcDateTime(), nullable=False),
)

# One row per (target, release, channel), written in the transaction of the release event.
# No foreign key to `events`: retention prunes events, never an alert still to send.
outbox = Table(
    "outbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("idempotency_key", String(255), nullable=False, unique=True),
    Column("channel", String(16), nullable=False),  # email | digest | webhook
    Column("target_id", Integer, nullable=False),  # subscribers.id or webhooks.id
    Column("group_key", String(120), nullable=False),
    Column(
        "release_id", String(120), ForeignKey("releases.id", ondelete="CASCADE"), nullable=False
    ),
    Column("event_id", Integer, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("state", String(16), nullable=False),  # records.OUTBOX_STATES
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", UtcDateTime(), nullable=False),
    Column("last_error", Text),
    Column("sent_at", UtcDateTime()),
    Column("created_at", UtcDateTime(), nullable=False),
    Index("ix_outbox_due", "channel", "state", "next_attempt_at"),
    Index("ix_outbox_target", "channel", "target_id"),
)

webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "outbox_id",
        Integer,
        ForeignKey("outbox.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("webhook_id", Integer, ForeignKey("webhooks.id", ondelete="CASCADE"), nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("status", Integer),  # HTTP status; NULL when no answer came
    Column("outcome", String(16), nullable=False),  # records.DELIVERY_OUTCOMES
    Column("reason", Text),
    Column("at", UtcDateTime(), nullable=False),
    Index("ix_webhook_deliveries_webhook", "webhook_id", "id"),
)

# Secrets every replica shares (the token signing key), made once by whichever asks first.
app_secrets = Table(
    "app_secrets",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", LargeBinary, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
)
