"""The release store: SQLAlchemy tables and queries shared by crawler, feeds and scheduler.

SQLite (WAL) by default, PostgreSQL by URL; the schema is managed by Alembic migrations
(`crawler/migrations`). Scrapy-free: feeds/ and scheduler/ import it without Scrapy.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, insert, or_, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError, OperationalError

from crawler.exceptions import StoreError
from crawler.items import Release
from crawler.store.identity import content_hash, fold_for_search, release_id, translation_group
from crawler.store.records import (
    FILTER_KEYS,
    RUN_COUNTERS,
    CrawlRun,
    Event,
    ReleaseQuery,
    RunStats,
    StoredRelease,
)
from crawler.store.schema import (
    crawl_runs,
    events,
    http_validators,
    make_engine,
    release_urls,
    releases,
    site_templates,
    utcnow,
)

__all__ = [
    "FILTER_KEYS",
    "RUN_COUNTERS",
    "CrawlRun",
    "Event",
    "ReleaseQuery",
    "RunStats",
    "Store",
    "StoredRelease",
    "query_clause",
]


def _row_release(row: Any) -> StoredRelease:
    return StoredRelease(
        id=row.id,
        site=row.site,
        url=row.url,
        group_key=row.group_key,
        lang=row.lang,
        country=row.country,
        region=row.region,
        type=row.type,
        title=row.title,
        published=row.published,
        dateline=row.dateline,
        body_text=row.body_text,
        body_html=row.body_html,
        summary=row.summary,
        image_url=row.image_url,
        attachments=json.loads(row.attachments or "[]"),
        translations=json.loads(row.translations or "{}"),
        content_hash=row.content_hash,
        first_seen=row.first_seen,
        updated=row.updated,
    )


def _like_term(word: str) -> str:
    escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def query_clause(query: ReleaseQuery) -> Any:
    """The SQL condition of a ReleaseQuery (OR within a key, AND across keys)."""
    parts: list[Any] = []
    for key in ("site", "lang", "type", "country", "region"):
        values = [v.lower() for v in getattr(query, key)]
        if values:
            parts.append(func.lower(releases.c[key]).in_(values))
    terms = []
    for q in query.q:
        words = fold_for_search(q).split()
        if words:
            terms.append(
                and_(*(releases.c.search_text.like(_like_term(w), escape="\\") for w in words))
            )
    if terms:
        parts.append(or_(*terms))
    return and_(True, *parts)


class Store:
    """Every read and write of releases, events, crawl runs, validators and templates."""

    def __init__(self, url: str, *, migrate: bool = True) -> None:
        self.url = url
        self.engine = make_engine(url)
        if migrate:
            self.migrate()

    def migrate(self) -> None:
        """Bring the schema to the latest Alembic revision."""
        from crawler.store.migrations import upgrade

        try:
            upgrade(self.engine)
        except OperationalError as exc:
            raise StoreError(f"database {self.url.split('@')[-1]!r}: {exc.orig}") from None

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        with self.engine.begin() as conn:
            yield conn

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

    def get_validators(self, url: str) -> tuple[str | None, str | None, bytes | None] | None:
        """ETag, Last-Modified and (robots.txt only) the body last seen for a URL."""
        with self.engine.connect() as conn:
            row = conn.execute(select(http_validators).where(http_validators.c.url == url)).first()
        return (row.etag, row.last_modified, row.body) if row else None

    def set_validators(
        self, url: str, etag: str | None, last_modified: str | None, body: bytes | None = None
    ) -> None:
        values = {"etag": etag, "last_modified": last_modified, "body": body, "checked": utcnow()}
        with self.engine.begin() as conn:
            done = conn.execute(
                update(http_validators).where(http_validators.c.url == url).values(**values)
            )
            if done.rowcount == 0:
                conn.execute(insert(http_validators).values(url=url, **values))

    def save_release(self, item: Release, *, emit_updates: bool = True) -> str | None:
        """Insert or update a release; returns the event recorded: "new", "updated" or None."""
        now = utcnow()
        rid = release_id(item.site, item.url, item.node_id, item.lang)
        digest = content_hash(item.title, item.body_text)
        values = self._release_values(item, digest, now)
        with self.engine.begin() as conn:
            existing = conn.execute(
                select(releases.c.id, releases.c.content_hash).where(releases.c.id == rid)
            ).first()
            if existing is None and (twin := self._same_content(conn, item.site, digest)):
                # A re-post of a known release under another URL (e.g. a `-0` slug): an alias.
                self._remember_urls(conn, twin, [item.url, item.fetched_url])
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
            self._remember_urls(conn, rid, [item.url, item.fetched_url])
            if kind and not self._record_event(conn, rid, kind, digest, now):
                kind = None
        return kind

    @staticmethod
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
            "search_text": fold_for_search(
                " ".join(filter(None, [item.title, item.summary, item.body_text]))
            ),
            "content_hash": digest,
            "raw_html": zlib.compress(item.raw_html.encode("utf-8"), 6),
        }

    @staticmethod
    def _same_content(conn: Connection, site: str, digest: str) -> str | None:
        row = conn.execute(
            select(releases.c.id).where(releases.c.site == site, releases.c.content_hash == digest)
        ).first()
        return str(row.id) if row else None

    @staticmethod
    def _remember_urls(conn: Connection, rid: str, urls: Iterable[str]) -> None:
        for url in {u for u in urls if u}:
            known = conn.execute(
                select(release_urls.c.release_id).where(release_urls.c.url == url)
            ).first()
            if known is None:
                conn.execute(insert(release_urls).values(url=url[:700], release_id=rid))

    @staticmethod
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

    def start_run(self, site: str) -> int:
        with self.engine.begin() as conn:
            result = conn.execute(
                insert(crawl_runs)
                .values(site=site, started=utcnow(), status="running")
                .returning(crawl_runs.c.id)
            )
            return int(result.scalar_one())

    def finish_run(
        self, run_id: int, stats: RunStats, *, status: str = "ok", reason: str | None = None
    ) -> None:
        now = utcnow()
        with self.engine.begin() as conn:
            started = conn.execute(
                select(crawl_runs.c.started).where(crawl_runs.c.id == run_id)
            ).scalar_one()
            conn.execute(
                update(crawl_runs)
                .where(crawl_runs.c.id == run_id)
                .values(
                    finished=now,
                    status=status,
                    reason=reason,
                    **stats.counters(),
                    duration=(now - started).total_seconds(),
                    coverage=json.dumps(stats.coverage),
                )
            )

    def abandon_running(self, site: str | None = None, reason: str = "interrupted") -> int:
        """Mark runs left 'running' by a killed or timed-out crawl as failed."""
        stmt = update(crawl_runs).where(crawl_runs.c.status == "running")
        if site:
            stmt = stmt.where(crawl_runs.c.site == site)
        with self.engine.begin() as conn:
            result = conn.execute(stmt.values(status="failed", reason=reason, finished=utcnow()))
            return int(result.rowcount)

    def raw_pages(self, site: str) -> Iterator[tuple[str, str, str | None, str]]:
        """(id, url, title, raw HTML) of a site's releases, oldest first: to rebuild its template."""
        stmt = (
            select(releases.c.id, releases.c.url, releases.c.title, releases.c.raw_html)
            .where(releases.c.site == site)
            .order_by(releases.c.first_seen, releases.c.id)
        )
        with self.engine.connect() as conn:
            rows = conn.execute(stmt).all()
        for row in rows:
            if row.raw_html:
                yield row.id, row.url, row.title, zlib.decompress(row.raw_html).decode("utf-8")

    def refresh_body(self, rid: str, *, body_text: str, body_html: str, summary: str) -> bool:
        """Replace a body after a template rebuild, silently: a better cleaning is not an edit."""
        with self.engine.begin() as conn:
            title = conn.execute(select(releases.c.title).where(releases.c.id == rid)).scalar_one()
            digest = content_hash(title, body_text)
            done = conn.execute(
                update(releases)
                .where(releases.c.id == rid, releases.c.content_hash != digest)
                .values(
                    body_text=body_text,
                    body_html=body_html,
                    summary=summary,
                    content_hash=digest,
                    search_text=fold_for_search(
                        " ".join(filter(None, [title, summary, body_text]))
                    ),
                )
            )
            return bool(done.rowcount)

    def load_template(self, site: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(site_templates.c.state).where(site_templates.c.site == site)
            ).first()
        return json.loads(row.state) if row else None

    def save_template(self, site: str, state: dict[str, Any], pages: int = 0) -> None:
        values = {
            "state": json.dumps(state, ensure_ascii=False),
            "pages": pages,
            "updated": utcnow(),
        }
        with self.engine.begin() as conn:
            done = conn.execute(
                update(site_templates).where(site_templates.c.site == site).values(**values)
            )
            if done.rowcount == 0:
                conn.execute(insert(site_templates).values(site=site, **values))

    def delete_template(self, site: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(site_templates.delete().where(site_templates.c.site == site))

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
            return [_row_release(r) for r in conn.execute(stmt)]

    def count_releases(self, query: ReleaseQuery) -> int:
        stmt = select(func.count()).select_from(releases).where(query_clause(query))
        with self.engine.connect() as conn:
            return int(conn.execute(stmt).scalar_one())

    def get_release(self, rid: str) -> StoredRelease | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(releases).where(releases.c.id == rid)).first()
        return _row_release(row) if row else None

    def get_releases(self, ids: Sequence[str]) -> list[StoredRelease]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(releases).where(releases.c.id.in_(list(ids))))
            return [_row_release(r) for r in rows]

    def raw_html(self, rid: str) -> str | None:
        """The page as fetched, kept compressed for audit."""
        with self.engine.connect() as conn:
            blob = conn.execute(
                select(releases.c.raw_html).where(releases.c.id == rid)
            ).scalar_one_or_none()
        return zlib.decompress(blob).decode("utf-8") if blob else None

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

    def runs(self, site: str | None = None, limit: int = 50) -> list[CrawlRun]:
        stmt = select(crawl_runs).order_by(crawl_runs.c.id.desc()).limit(limit)
        if site:
            stmt = stmt.where(crawl_runs.c.site == site)
        with self.engine.connect() as conn:
            return [
                CrawlRun(**{**r._asdict(), "coverage": json.loads(r.coverage or "{}")})
                for r in conn.execute(stmt)
            ]

    def site_summaries(self) -> dict[str, dict[str, Any]]:
        """Per site: release count and the newest first-seen time."""
        stmt = select(releases.c.site, func.count(), func.max(releases.c.first_seen)).group_by(
            releases.c.site
        )
        with self.engine.connect() as conn:
            return {r[0]: {"releases": int(r[1]), "last_new": r[2]} for r in conn.execute(stmt)}
