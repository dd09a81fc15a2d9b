"""How store values map to SQL and back: the filter clause, stored rows, search text, raw HTML."""

from __future__ import annotations

import json
import zlib
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, func, or_

from crawler.store.identity import fold_for_search
from crawler.store.records import StoredRelease
from crawler.store.schema import releases

if TYPE_CHECKING:
    from sqlalchemy import ColumnElement

    from crawler.store.records import ReleaseQuery


def _like_term(word: str) -> str:
    escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def query_clause(query: ReleaseQuery) -> ColumnElement[bool]:
    """The SQL condition of a ReleaseQuery (OR within a key, AND across keys)."""
    parts: list[ColumnElement[bool]] = []
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


def search_text(title: str | None, summary: str, body_text: str) -> str:
    """The folded text keyword search runs over (`releases.search_text`)."""
    return fold_for_search(" ".join(filter(None, [title, summary, body_text])))


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
    )
