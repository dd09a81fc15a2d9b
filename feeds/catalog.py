"""Which feeds exist and what they are called: formats, URLs, titles, and the per-site, -country
and -language catalogue shared by the OPML document, the index page and the static export."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from crawler.store import ReleaseQuery
from feeds.build import FeedMeta, build_atom, build_json_feed, build_rss
from feeds.entries import site_name
from feeds.filters import query_string

if TYPE_CHECKING:
    from crawler.sites import Site
    from crawler.store import StoredRelease

LANGUAGE_NAMES = {
    "en": "English",
    "fr": "Français",
    "es": "Español",
    "ar": "العربية",
    "pt": "Português",
}


@dataclass(frozen=True)
class FeedFormat:
    """One feed format: its URL path, file extension, media type and builder."""

    name: str
    path: str
    extension: str
    media_type: str
    build: Callable[[Sequence[StoredRelease], FeedMeta], bytes]

    @property
    def content_type(self) -> str:
        return f"{self.media_type}; charset=utf-8"


FORMATS: dict[str, FeedFormat] = {
    "atom": FeedFormat("atom", "/feed.atom", "atom", "application/atom+xml", build_atom),
    "rss": FeedFormat("rss", "/feed.rss", "rss", "application/rss+xml", build_rss),
    "json": FeedFormat("json", "/feed.json", "json", "application/feed+json", build_json_feed),
}


@dataclass(frozen=True)
class FeedSpec:
    """A named feed of the catalogue: its filters and a file-name slug for the static export."""

    group: str
    title: str
    query: ReleaseQuery
    slug: str


def feed_url(base_url: str, fmt: str, params: Sequence[tuple[str, str]] = ()) -> str:
    """The served URL of a feed in one format with these query pairs."""
    return f"{base_url.rstrip('/')}{FORMATS[fmt].path}{query_string(params)}"


def describe(query: ReleaseQuery, sites: Mapping[str, Site]) -> str:
    """A human feed title from its filters: 'IOM releases — Mali · fr · “retour”'."""
    parts = [site_name(sites.get(s), s) for s in query.site]
    parts += [*query.country, *query.region]
    parts += [LANGUAGE_NAMES.get(lang, lang) for lang in query.lang]
    parts += [t.replace("_", " ") for t in query.type]
    parts += [f"“{q}”" for q in query.q]
    return "IOM releases — " + " · ".join(parts) if parts else "IOM releases — all sites"


def feed_meta(
    *,
    base_url: str,
    fmt: str,
    params: Sequence[tuple[str, str]],
    query: ReleaseQuery,
    sites: Mapping[str, Site],
    hub: str = "",
    updated: datetime | None = None,
) -> FeedMeta:
    """FeedMeta of the served feed (self URL = this format with these parameters)."""
    return FeedMeta(
        title=describe(query, sites),
        self_url=feed_url(base_url, fmt, params),
        home_url=f"{base_url.rstrip('/')}/{query_string(query.as_params())}",
        base_url=base_url,
        language=query.lang[0] if len(query.lang) == 1 else None,
        hub=hub or None,
        updated=updated,
        sites=sites,
    )


def _slug(value: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", value.lower()).strip("-") or "x"


def catalogue(sites: Sequence[Site]) -> list[FeedSpec]:
    """Every published feed: all releases, one per site, per country, per region, per language."""
    by_id = {s.id: s for s in sites}
    specs = [FeedSpec("All", describe(ReleaseQuery(), by_id), ReleaseQuery(), "all")]
    for site in sites:
        query = ReleaseQuery(site=(site.id,))
        specs.append(FeedSpec("Sites", describe(query, by_id), query, f"site-{_slug(site.id)}"))
    for key, group in (("country", "Countries"), ("region", "Regions")):
        values = sorted({getattr(s, key) for s in sites if getattr(s, key)})
        for value in values:
            query = ReleaseQuery(**{key: (value,)})
            specs.append(FeedSpec(group, describe(query, by_id), query, f"{key}-{_slug(value)}"))
    for lang in sorted({lang for s in sites for lang in s.languages}):
        query = ReleaseQuery(lang=(lang,))
        specs.append(FeedSpec("Languages", describe(query, by_id), query, f"lang-{_slug(lang)}"))
    return specs
