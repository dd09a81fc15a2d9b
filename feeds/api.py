"""The JSON API (/api/releases): one page of releases with total and next/previous links."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from feeds.entries import Entry, make_entries, web_url
from feeds.filters import PageRequest, query_string

if TYPE_CHECKING:
    from crawler.sites import Site
    from crawler.store import Store, StoredRelease


def api_item(release: StoredRelease, entry: Entry) -> dict[str, Any]:
    """A release as the API shows it: the export fields plus our permalink and safe HTML."""
    return {
        "id": release.id,
        "url": entry.url,
        "permalink": entry.permalink,
        "site": release.site,
        "country": release.country,
        "countries": list(release.countries),
        "region": release.region,
        "lang": release.lang,
        "type": release.type,
        "title": entry.title,
        "published": release.published.isoformat() if release.published else None,
        "first_seen": release.first_seen.isoformat(),
        "updated": release.updated.isoformat(),
        "dateline": entry.dateline or None,
        "summary": entry.summary,
        "body_text": release.body_text,
        "body_html": entry.content_html,
        "image_url": entry.image.url if entry.image else None,
        "attachments": [a.url for a in entry.attachments],
        "translations": {k: v for k, v in release.translations.items() if web_url(v)},
    }


def _page_url(base_url: str, wanted: PageRequest, offset: int) -> str:
    return f"{base_url}/api/releases{query_string(wanted.params(offset))}"


def api_page(
    store: Store, wanted: PageRequest, *, base_url: str, sites: Mapping[str, Site]
) -> dict[str, Any]:
    """The page document: total, paging, links, items (newest first)."""
    total = store.count_releases(wanted.query)
    rows = store.query_releases(wanted.query, limit=wanted.per_page, offset=wanted.offset)
    by_id = {r.id: r for r in rows}
    entries = make_entries(rows, base_url=base_url, sites=sites)
    end = wanted.offset + len(rows)
    previous = max(0, wanted.offset - wanted.per_page)
    return {
        "total": total,
        "page": wanted.page,
        "per_page": wanted.per_page,
        "offset": wanted.offset,
        "query": dict(_grouped(wanted.query.as_params())),
        "next": _page_url(base_url, wanted, end) if end < total else None,
        "prev": _page_url(base_url, wanted, previous) if wanted.offset > 0 else None,
        "items": [api_item(by_id[e.release_id], e) for e in entries],
    }


def _grouped(pairs: list[tuple[str, str]]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for key, value in pairs:
        grouped.setdefault(key, []).append(value)
    return grouped
