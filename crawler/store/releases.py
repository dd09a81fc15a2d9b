"""Releases and their events: saving a crawled page, and every read the feeds and API make."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError

from crawler.store.base import StoreBase
from crawler.store.identity import content_hash, release_id, translation_group
from crawler.store.queries import pack_html, query_clause, row_release, search_text, unpack_html
from crawler.store.records import Event, ReleaseQuery, StoredRelease
from crawler.store.schema import events, release_urls, releases, utcnow

if TYPE_CHECKING:
    from collections.abc import Iterable
    from datetime import timedelta

    from sqlalchemy.engine import Connection

    from crawler.items import Release


class ReleaseStore(StoreBase):
    """Writes releases (with their URL aliases and events) and reads them back."""

    # -- crawl side ---------------------------------------------------------------------------

    def known_urls(self, urls: Iterable[str]) -> set[str]:
        """Which of these canonical URLs are already stored (as a release URL or alias)."""
        wanted = list(dict.fromkeys(urls))
        if not wanted:
            return set()
        with self.engine.connect() as conn:
            rows = conn.execute(select(release_urls.c.url).where(release_urls.c.url.in_(wanted)))
            return {r.url for r in rows}

    def release_count(self, site: str | None = None) -> int:
        stmt = select(func.count()).select_from(releases)
        if site:
            stmt = stmt.where(releases.c.site == site)
        with self.engine.connect() as conn:
            return int(conn.execute(stmt).scalar_one())

    def due_for_recheck(
        self, site: str, *, young: timedelta, every: timedelta, limit: int = 50
    ) -> list[str]:
        """URLs of this site's releases first seen within `young`, last fetched over `every` ago."""
        now = utcnow()
        stmt = (
            select(releases.c.url)
            .where(
                releases.c.site == site,
                releases.c.first_seen >= now - young,
                releases.c.last_crawled <= now - every,
            )
            .order_by(releases.c.last_crawled)
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [r.url for r in conn.execute(stmt)]

    def save_release(self, item: Release, *, emit_updates: bool = True) -> str | None:
        """Insert or update a release; returns the event recorded: "new", "updated" or None."""
        now = utcnow()
        rid = release_id(item.site, item.url, item.node_id, item.lang)
        digest = content_hash(item.title, item.body_text)
        values = _release_values(item, digest, now)
        with self.engine.begin() as conn:
            existing = conn.execute(
                select(releases.c.id, releases.c.content_hash).where(releases.c.id == rid)
            ).first()
            if existing is None and (twin := _same_content(conn, item.site, digest)):
                # A re-post of a known release under another URL (e.g. a `-0` slug): an alias.
                _remember_urls(conn, twin, [item.url, item.fetched_url])
                return None
            if existing is None:
                conn.execute(insert(releases).values(id=rid, first_seen=now, updated=now, **values))
                kind: str | None = "new"
            elif existing.content_hash != digest:
                conn.execute(
                    update(releases).where(releases.c.id == rid).values(updated=now, **values)
                )
                kind = "updated" if emit_updates else None
            else:
                conn.execute(update(releases).where(releases.c.id == rid).values(last_crawled=now))
                kind = None
            _remember_urls(conn, rid, [item.url, item.fetched_url])
            if kind and not _record_event(conn, rid, kind, digest, now):
                kind = None
        return kind

    # -- read side ----------------------------------------------------------------------------

    def query_releases(
        self, query: ReleaseQuery, *, limit: int = 50, offset: int = 0
    ) -> list[StoredRelease]:
        """Releases matching the query, newest first (IOM's date, else first seen), then by id."""
        sort_key = func.coalesce(releases.c.published, releases.c.first_seen)
        stmt = (
            select(releases)
            .where(query_clause(query))
            .order_by(sort_key.desc(), releases.c.id.desc())
            .limit(limit)
            .offset(offset)
        )
        with self.engine.connect() as conn:
            return [row_release(r) for r in conn.execute(stmt)]

    def count_releases(self, query: ReleaseQuery) -> int:
        stmt = select(func.count()).select_from(releases).where(query_clause(query))
        with self.engine.connect() as conn:
            return int(conn.execute(stmt).scalar_one())

    def get_release(self, rid: str) -> StoredRelease | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(releases).where(releases.c.id == rid)).first()
        return row_release(row) if row else None

    def raw_html(self, rid: str) -> str | None:
        """The page as fetched, kept compressed for audit."""
        with self.engine.connect() as conn:
            blob = conn.execute(
                select(releases.c.raw_html).where(releases.c.id == rid)
            ).scalar_one_or_none()
        return unpack_html(blob) if blob else None

    def last_change(self, query: ReleaseQuery | None = None) -> tuple[datetime | None, int]:
        """When the releases matching the query last changed, and how many there are (cache keys)."""
        stmt = select(func.max(releases.c.updated), func.count()).select_from(releases)
        if query is not None:
            stmt = stmt.where(query_clause(query))
        with self.engine.connect() as conn:
            row = conn.execute(stmt).one()
        changed = row[0]
        if changed is not None and changed.tzinfo is None:
            changed = changed.replace(tzinfo=UTC)
        return changed, int(row[1])

    def events_since(self, after_id: int = 0, limit: int = 500) -> list[Event]:
        stmt = select(events).where(events.c.id > after_id).order_by(events.c.id).limit(limit)
        with self.engine.connect() as conn:
            return [Event(r.id, r.release_id, r.kind, r.created_at) for r in conn.execute(stmt)]

    def site_summaries(self) -> dict[str, dict[str, Any]]:
        """Per site: release count and the newest first-seen time."""
        stmt = select(releases.c.site, func.count(), func.max(releases.c.first_seen)).group_by(
            releases.c.site
        )
        with self.engine.connect() as conn:
            return {r[0]: {"releases": int(r[1]), "last_new": r[2]} for r in conn.execute(stmt)}


def _release_values(item: Release, digest: str, now: datetime) -> dict[str, Any]:
    alternates = [u for lang, u in item.translations.items() if lang != item.lang]
    return {
        "site": item.site,
        "url": item.url,
        "lang": item.lang,
        "country": item.country,
        "region": item.region,
        "type": item.type,
        "title": item.title,
        "group_key": translation_group(item.site, item.url, item.node_id, alternates),
        "published": item.published,
        "dateline": item.dateline,
        "body_text": item.body_text,
        "body_html": item.body_html,
        "summary": item.summary,
        "image_url": item.image_url,
        "attachments": json.dumps(item.attachments),
        "last_crawled": now,
        "translations": json.dumps(item.translations, ensure_ascii=False),
        "search_text": search_text(item.title, item.summary, item.body_text),
        "content_hash": digest,
        "raw_html": pack_html(item.raw_html),
    }


def _same_content(conn: Connection, site: str, digest: str) -> str | None:
    row = conn.execute(
        select(releases.c.id).where(releases.c.site == site, releases.c.content_hash == digest)
    ).first()
    return str(row.id) if row else None


def _remember_urls(conn: Connection, rid: str, urls: Iterable[str]) -> None:
    for url in {u for u in urls if u}:
        known = conn.execute(
            select(release_urls.c.release_id).where(release_urls.c.url == url)
        ).first()
        if known is None:
            conn.execute(insert(release_urls).values(url=url[:700], release_id=rid))


def _record_event(conn: Connection, rid: str, kind: str, digest: str, now: datetime) -> bool:
    """Record an event once per (release, kind, content); a repeat is not an event."""
    exists = conn.execute(
        select(events.c.id).where(
            events.c.release_id == rid, events.c.kind == kind, events.c.content_hash == digest
        )
    ).first()
    if exists:
        return False
    try:
        with conn.begin_nested():
            conn.execute(
                insert(events).values(
                    release_id=rid, kind=kind, content_hash=digest, created_at=now
                )
            )
    except IntegrityError:
        return False
    return True
