"""The database schema (SQLAlchemy Core tables) and engine set-up shared by every package."""

from __future__ import annotations

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
)
from sqlalchemy.engine import Engine
from sqlalchemy.types import TypeDecorator

from crawler.exceptions import StoreError
from crawler.store.records import RUN_COUNTERS


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
    Column("first_seen", UtcDateTime(), nullable=False),
    Column("updated", UtcDateTime(), nullable=False),
    Column("last_crawled", UtcDateTime(), nullable=False),
    Index("ix_releases_sort", "published", "first_seen"),
    Index("ix_releases_updated", "updated"),
    Index("ix_releases_site_hash", "site", "content_hash"),
)

release_urls = Table(
    "release_urls",
    metadata,
    Column("url", String(700), primary_key=True),
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
)

http_validators = Table(
    "http_validators",
    metadata,
    Column("url", String(700), primary_key=True),
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

# Nothing writes it yet: the service issue will raise operator alerts into it.
operator_alerts = Table(
    "operator_alerts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("site", String(64), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("message", Text, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("resolved", Boolean, nullable=False, default=False),
)


def utcnow() -> datetime:
    return datetime.now(UTC)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def make_engine(url: str) -> Engine:
    """An engine for SQLite (WAL, busy timeout; its folder created) or PostgreSQL."""
    if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    try:
        engine = create_engine(url, pool_pre_ping=True)
    except Exception as exc:
        raise StoreError(f"database URL {url.split('@')[-1]!r}: {exc}") from None
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine
