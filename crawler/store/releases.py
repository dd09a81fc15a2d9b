"""Releases and their events: saving a crawled page, and every read the feeds and API make."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Column, Executable, Table, bindparam, delete, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from crawler.store.base import writes
from crawler.store.identity import content_hash, release_id, translation_group, url_key
from crawler.store.outbox import OutboxStore
from crawler.store.queries import (
    country_tags,
    pack_html,
    page_query,
    query_clause,
    row_release,
    search_text,
    unpack_html,
)
from crawler.store.records import (
    MAX_BODY_HTML_CHARS,
    MAX_BODY_TEXT_CHARS,
    MAX_RAW_HTML_BYTES,
    Event,
    ReleaseQuery,
    StoredRelease,
)
from crawler.store.schema import (
    events,
    release_urls,
    release_versions,
    releases,
    url_failures,
    utcnow,
)

if TYPE_CHECKING:
    from collections.abc import Iterable
    from datetime import timedelta

    from sqlalchemy.engine import Connection, Row

    from crawler.items import Release


GROUP_CHUNK = 500  # keys per IN (...) of `releases_of_groups`

# The save path's statements, built once: building and keying a statement per call cost more
# than running it. Rows that may exist already are inserted with ON CONFLICT DO NOTHING (both
# SQLite and PostgreSQL have it): one statement, no savepoint, and a concurrent writer's row
# wins as the earlier select-then-insert let it.
STORED = select(releases.c.id, releases.c.content_hash).where(releases.c.id == bindparam("b_rid"))
DIGEST = select(releases.c.content_hash, releases.c.title, releases.c.url).where(
    releases.c.id == bindparam("b_rid")
)
URL_OWNERS = select(release_urls.c.release_id).where(
    release_urls.c.url_hash.in_(bindparam("b_keys", expanding=True))
)
OWNER_URLS = select(release_urls.c.url).where(release_urls.c.release_id == bindparam("b_owner"))
SAME_CONTENT = select(releases.c.id).where(
    releases.c.site == bindparam("b_site"), releases.c.content_hash == bindparam("b_digest")
)
FORGET_FAILURE = delete(url_failures).where(url_failures.c.url_hash == bindparam("b_key"))
INSERT_RELEASE = insert(releases)
INSERT_VERSION = insert(release_versions)
# table -> the unique columns a repeat of its row conflicts on, and what an insert returns:
# the event's id says whether it went in (PostgreSQL's rowcount is -1 with RETURNING).
KEEP_FIRST: dict[str, tuple[Table, list[str], tuple[Column[Any], ...]]] = {
    "release_urls": (release_urls, ["url_hash"], ()),
    "events": (events, ["release_id", "kind", "content_hash"], (events.c.id,)),
}


def _keeping_first(dialect: str, name: str) -> Executable:
    table, columns, returned = KEEP_FIRST[name]
    insert_of = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert_of(table).on_conflict_do_nothing(index_elements=columns)
    return stmt.returning(*returned) if returned else stmt


_KEEPING = {
    (d, name): _keeping_first(d, name) for d in ("sqlite", "postgresql") for name in KEEP_FIRST
}


class ReleaseStore(OutboxStore):
    """Writes releases (with their URL aliases and events) and reads them back.

    Built on OutboxStore: an event's alerts are written in the transaction that records it.
    """

    # -- crawl side ---------------------------------------------------------------------------

    def known_urls(self, urls: Iterable[str]) -> set[str]:
        """Which of these canonical URLs are already stored (as a release URL or alias)."""
        wanted = {url_key(u): u for u in urls}
        if not wanted:
            return set()
        stmt = select(release_urls.c.url_hash).where(release_urls.c.url_hash.in_(list(wanted)))
        with self.engine.connect() as conn:
            return {wanted[r.url_hash] for r in conn.execute(stmt)}

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

    @writes("releases")
    def save_release(
        self, item: Release, *, emit_updates: bool = True, cleared_failure: str | None = None
    ) -> str | None:
        """Insert or update a release; returns the event recorded: "new", "updated" or None.

        Bodies and the raw page are cut to the storage bounds first (flag "truncated"). Each
        recorded event keeps the raw page it came from (`release_versions`), in one transaction.
        `cleared_failure`: a URL whose remembered failure (FailureStore) this page ends, in the
        same transaction (a crawl saves a hundred pages: one commit each, not two).
        """
        now = utcnow()
        rid = release_id(item.site, item.url, item.node_id, item.lang)
        values = _release_values(item, now)
        digest = values["content_hash"]
        with self.engine.begin() as conn:
            if cleared_failure:
                conn.execute(FORGET_FAILURE, {"b_key": url_key(cleared_failure)})
            existing = _stored(conn, rid)
            if existing is None and (owner := _stored_without_node(conn, item)):
                rid, existing = owner, _stored(conn, owner)
            if existing is None and (twin := _same_content(conn, item.site, digest)):
                # A re-post of a known release under another URL (e.g. a `-0` slug): an alias.
                _remember_urls(conn, twin, [item.url, item.fetched_url])
                return None
            if existing is None:
                conn.execute(
                    INSERT_RELEASE, {"id": rid, "first_seen": now, "updated": now, **values}
                )
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
            if kind and _record_event(conn, rid, kind, values, now):
                self.queue_alerts(conn, rid, kind, values, now)  # in the event's transaction
            else:
                kind = None
        return kind

    def raw_versions(self, rid: str) -> list[tuple[str, datetime, str | None]]:
        """(event kind, when, raw page) of each recorded event of a release, oldest first."""
        stmt = (
            select(
                release_versions.c.kind, release_versions.c.created_at, release_versions.c.raw_html
            )
            .where(release_versions.c.release_id == rid)
            .order_by(release_versions.c.id)
        )
        with self.engine.connect() as conn:
            rows = conn.execute(stmt).all()
        return [
            (r.kind, r.created_at, unpack_html(r.raw_html) if r.raw_html else None) for r in rows
        ]

    # -- read side ----------------------------------------------------------------------------

    def query_releases(
        self, query: ReleaseQuery, *, limit: int = 50, offset: int = 0
    ) -> list[StoredRelease]:
        """Releases matching the query, newest first (IOM's date, else first seen), then by id."""
        stmt = page_query(query, limit=limit, offset=offset)
        with self.engine.connect() as conn:
            return [row_release(r) for r in conn.execute(stmt)]

    def count_releases(self, query: ReleaseQuery) -> int:
        stmt = select(func.count()).select_from(releases).where(query_clause(query))
        with self.engine.connect() as conn:
            return int(conn.execute(stmt).scalar_one())

    def stored_digest(self, rid: str) -> tuple[str, str | None, str] | None:
        """A release's content hash, title and URL, or None when it is not stored: what a
        crawl compares a page's new body with (the hash is of the stored title and body)."""
        with self.engine.connect() as conn:
            row = conn.execute(DIGEST, {"b_rid": rid}).first()
        return (row.content_hash, row.title, row.url) if row else None

    def get_release(self, rid: str) -> StoredRelease | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(releases).where(releases.c.id == rid)).first()
        return row_release(row) if row else None

    def releases_of_groups(
        self, group_keys: Iterable[str], release_ids: Iterable[str] = ()
    ) -> list[StoredRelease]:
        """Every language version of these translation groups, plus these releases by id.

        The alert sender's read (a mail goes out in the subscriber's language); raw HTML is
        not read at all, and keys go in chunks to stay under bound-parameter limits.
        """
        groups, ids = sorted(set(group_keys)), sorted(set(release_ids))
        columns = [c for c in releases.c if c.name != "raw_html"]
        found: dict[str, StoredRelease] = {}
        with self.engine.connect() as conn:
            for column, keys in ((releases.c.group_key, groups), (releases.c.id, ids)):
                for start in range(0, len(keys), GROUP_CHUNK):
                    stmt = select(*columns).where(column.in_(keys[start : start + GROUP_CHUNK]))
                    found.update((r.id, row_release(r)) for r in conn.execute(stmt))
        return sorted(found.values(), key=lambda r: r.id)

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


def _release_values(item: Release, now: datetime) -> dict[str, Any]:
    """The `releases` columns of an item, bounded (see records.MAX_*), with its content hash."""
    flags = list(item.flags)
    body_text, body_html, cut_body = bound_body(item.body_text, item.body_html)
    raw_html, cut_raw = _cut_utf8(item.raw_html, MAX_RAW_HTML_BYTES)
    if cut_body or cut_raw:
        flags.append("truncated")
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
        "body_text": body_text,
        "body_html": body_html,
        "summary": item.summary,
        "image_url": item.image_url,
        "attachments": json.dumps(item.attachments),
        "last_crawled": now,
        "translations": json.dumps(item.translations, ensure_ascii=False),
        "search_text": search_text(item.title, item.summary, body_text),
        "content_hash": content_hash(item.title, body_text),
        "raw_html": pack_html(raw_html),
        "flags": json.dumps(list(dict.fromkeys(flags))),
        "countries": country_tags(item.countries),
    }


def bound_body(body_text: str, body_html: str) -> tuple[str, str, bool]:
    """The body cut to the storage bounds, and whether anything was cut."""
    body_text, cut_text = _cut(body_text, MAX_BODY_TEXT_CHARS)
    body_html, cut_html = _cut_html(body_html, MAX_BODY_HTML_CHARS)
    return body_text, body_html, cut_text or cut_html


def _cut(text: str, limit: int) -> tuple[str, bool]:
    return (text[:limit], True) if len(text) > limit else (text, False)


def _cut_html(html: str, limit: int) -> tuple[str, bool]:
    """Cut HTML to `limit` characters, dropping a tag the cut would leave half-open."""
    html, cut = _cut(html, limit)
    if cut and html.rfind("<") > html.rfind(">"):
        html = html[: html.rfind("<")]
    return html, cut


def _cut_utf8(text: str, limit: int) -> tuple[str, bool]:
    """Cut text to `limit` UTF-8 bytes, never inside a character (a lone surrogate becomes "?")."""
    data = text.encode("utf-8", "replace")
    return data[:limit].decode("utf-8", "ignore"), len(data) > limit


def _stored(conn: Connection, rid: str) -> Row[Any, Any] | None:
    return conn.execute(STORED, {"b_rid": rid}).first()


def _stored_without_node(conn: Connection, item: Release) -> str | None:
    """The release stored from one of the item's URLs before any node id was known, if any.

    An oversize stub (stored from its listing entry) or a page that gave no node id has an id
    made from its URL; the full page, with its node id, gets another id. It is the same
    release: it is updated rather than stored twice. A URL known under a release with a node
    id is left alone (two nodes are two releases, even if they share a canonical URL).
    A stub has no body, so its completion is an "updated" event when updates are emitted
    (readers saw a title-only entry: the text, and the alerts it matches, are new to them),
    and a silent completion otherwise, like any other edit.
    """
    keys = [url_key(u) for u in (item.url, item.fetched_url) if u]
    owners = conn.execute(URL_OWNERS, {"b_keys": keys}).scalars()
    for owner in dict.fromkeys(owners):
        # Any of its URLs (the page's canonical one may differ from the listing's) may be the
        # one its id was made from. Rare: only a URL known under an id not the item's own.
        urls = conn.execute(OWNER_URLS, {"b_owner": owner}).scalars()
        if any(release_id(item.site, u) == owner for u in urls):
            return str(owner)
    return None


def _same_content(conn: Connection, site: str, digest: str) -> str | None:
    row = conn.execute(SAME_CONTENT, {"b_site": site, "b_digest": digest}).first()
    return str(row.id) if row else None


def _remember_urls(conn: Connection, rid: str, urls: Iterable[str]) -> None:
    """Keep each URL (whole, however long) as one of the release's; a known URL stays its own
    (whoever remembered it first, this transaction or another writer's, keeps it)."""
    insert_url = _insert_or_keep(conn, "release_urls")
    for url in {u for u in urls if u}:
        conn.execute(insert_url, {"url_hash": url_key(url), "url": url, "release_id": rid})


def _record_event(
    conn: Connection, rid: str, kind: str, values: dict[str, Any], now: datetime
) -> bool:
    """Record an event once per (release, kind, content), with its raw page; a repeat is not one."""
    row = {
        "release_id": rid,
        "kind": kind,
        "content_hash": values["content_hash"],
        "created_at": now,
    }
    if conn.execute(_insert_or_keep(conn, "events"), row).first() is None:  # a repeat
        return False
    conn.execute(INSERT_VERSION, {**row, "raw_html": values["raw_html"]})
    return True


def _insert_or_keep(conn: Connection, table: str) -> Executable:
    """INSERT ... ON CONFLICT DO NOTHING on `table`, in the connection's dialect."""
    return _KEEPING[(conn.dialect.name, table)]
