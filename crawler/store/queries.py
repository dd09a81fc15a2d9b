"""How store values map to SQL and back: the filter clause, stored rows, search text, raw HTML."""

from __future__ import annotations

import json
import zlib
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, func, or_, select

from crawler.store.records import StoredRelease
from crawler.store.schema import releases
from crawler.store.search import index_text, text_match

if TYPE_CHECKING:
    from collections.abc import Iterable

    from sqlalchemy import ColumnElement, Select

    from crawler.store.records import ReleaseQuery


def _like_prefix(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _lang_clause(tags: list[str]) -> ColumnElement[bool]:
    """BCP 47 prefix match: `pt` finds `pt` and `pt-br`; `pt-br` finds only `pt-br`."""
    lang = func.lower(releases.c.lang)
    prefixes = (lang.like(f"{_like_prefix(tag)}-%", escape="\\") for tag in tags)
    return or_(lang.in_(tags), *prefixes)


def country_tags(countries: Iterable[str]) -> str:
    """The `releases.countries` value: a JSON list, ASCII-escaped so that SQL `lower()` (ASCII
    only on SQLite) folds the stored text and the filter value alike."""
    return json.dumps(list(dict.fromkeys(countries)), ensure_ascii=True)


def tag_pattern(country: str) -> str:
    """How one tag reads inside `releases.countries` once SQL `lower()` has folded it."""
    return json.dumps(country, ensure_ascii=True).lower()


def _country_clause(values: list[str]) -> ColumnElement[bool]:
    """The site's country, or one of the release's country tags (`country_tags`)."""
    stored = func.lower(releases.c.countries)
    tagged = (stored.like(f"%{_like_prefix(tag_pattern(v))}%", escape="\\") for v in values)
    return or_(func.lower(releases.c.country).in_([v.lower() for v in values]), *tagged)


def query_clause(query: ReleaseQuery) -> ColumnElement[bool]:
    """The SQL condition of a ReleaseQuery (OR within a key, AND across keys)."""
    parts: list[ColumnElement[bool]] = []
    for key in ("site", "lang", "type", "country", "region"):
        values = [v.lower() for v in getattr(query, key)]
        if values and key == "lang":
            parts.append(_lang_clause(values))
        elif values and key == "country":
            parts.append(_country_clause(list(query.country)))
        elif values:
            parts.append(func.lower(releases.c[key]).in_(values))
    search = text_match(query.q)
    if search is not None:
        parts.append(search)
    return and_(True, *parts)


def page_query(query: ReleaseQuery, *, limit: int, offset: int) -> Select[Any]:
    """One page of matching releases, newest first (IOM's date, else first seen), then by id.

    The page is chosen over (sort key, id) alone, then its rows are read: sorting whole rows
    read every match's body and raw page, 5x slower for a common word at 100,000 releases.
    """
    sort_key = func.coalesce(releases.c.published, releases.c.first_seen)
    page = (
        select(releases.c.id, sort_key.label("sort_key"))
        .where(query_clause(query))
        .order_by(sort_key.desc(), releases.c.id.desc())
        .limit(limit)
        .offset(offset)
        .subquery()
    )
    return (
        select(releases)
        .join(page, releases.c.id == page.c.id)
        .order_by(page.c.sort_key.desc(), releases.c.id.desc())
    )


def search_text(title: str | None, summary: str, body_text: str) -> str:
    """The words keyword search indexes (`releases.search_text`; see crawler/store/search.py)."""
    return index_text(" ".join(filter(None, [title, summary, body_text])))


def pack_html(html: str) -> bytes:
    """Raw pages are kept compressed: they are read only for audit and template rebuilds."""
    return zlib.compress(html.encode("utf-8"), 6)


def unpack_html(blob: bytes) -> str:
    return zlib.decompress(blob).decode("utf-8")


def row_release(row: Any) -> StoredRelease:
    """A `releases` row as a StoredRelease (JSON columns decoded, raw HTML left out)."""
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
        flags=tuple(json.loads(row.flags or "[]")),
        countries=tuple(json.loads(row.countries or "[]")),
    )
