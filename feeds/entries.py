"""One release as every output shows it: the shared view of feeds, API, HTML pages and export.

Everything scraped is untrusted. Titles and summaries become plain text (each output escapes
them for its own format); body HTML is sanitised again here, whatever the store holds. No
character XML 1.0 forbids gets through: one of them would make a whole Atom/RSS document fail.
"""

from __future__ import annotations

import html
import mimetypes
from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from crawler.parsing.sanitize import plain_text, sanitize_html
from crawler.parsing.text import SUMMARY_CHARS, shorten, strip_xml_invalid

if TYPE_CHECKING:
    from collections.abc import Mapping

    from crawler.sites import Site
    from crawler.store import StoredRelease

RTL_LANGUAGES = frozenset({"ar", "fa", "he", "ur"})
# release type -> the label readers see in feeds and pages
TYPE_DISPLAY_NAMES = {
    "press_release": "Press release",
    "news": "News",
    "story": "Story",
    "statement": "Statement",
}
TITLE_FALLBACK_CHARS = 80
CATEGORY_KEYS = ("site", "country", "region", "type")


@dataclass(frozen=True)
class Link:
    """A URL with its media type (enclosures) or language (translations)."""

    url: str
    mime_type: str = ""
    lang: str = ""


@dataclass(frozen=True)
class Category:
    """One of site, country, region, type; `scheme` names the vocabulary on our server."""

    key: str
    term: str
    scheme: str

    @property
    def label(self) -> str:
        return f"{self.key}: {self.term}"


@dataclass(frozen=True)
class Entry:
    """A release ready to render: safe strings, tz-aware UTC dates, stable id."""

    id: str
    release_id: str
    permalink: str
    url: str
    title: str
    summary: str
    content_html: str
    content_text: str
    lang: str
    published: datetime
    updated: datetime
    site: str
    site_name: str
    site_url: str
    country: str | None
    region: str | None
    type: str
    dateline: str
    categories: tuple[Category, ...]
    image: Link | None
    attachments: tuple[Link, ...]
    translations: tuple[Link, ...]

    @property
    def direction(self) -> str:
        """Text direction for HTML: rtl for Arabic (and Persian), else ltr."""
        return "rtl" if self.lang.split("-")[0] in RTL_LANGUAGES else "ltr"

    @property
    def type_label(self) -> str:
        return TYPE_DISPLAY_NAMES.get(self.type, self.type.replace("_", " ").capitalize())

    @property
    def enclosures(self) -> tuple[Link, ...]:
        """Attachments first, lead image last (RSS keeps only the last enclosure)."""
        return (*self.attachments, *((self.image,) if self.image else ()))


def utc(value: datetime) -> datetime:
    """A tz-aware datetime in UTC without microseconds; naive datetimes are a bug upstream."""
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value!r}: feeds accept only tz-aware datetimes")
    return value.astimezone(UTC).replace(microsecond=0)


def site_name(site: Site | None, site_id: str) -> str:
    """A human name for a site: its registry name, else 'IOM <country>', else its id."""
    if site is not None and site.name:
        return site.name
    if site is not None and site.country:
        return f"IOM {site.country}"
    return f"IOM {site_id}"


def permalink(base_url: str, release_id: str) -> str:
    """Our page for a release; also its stable feed id (same base, same id, same string)."""
    return f"{base_url.rstrip('/')}/releases/{quote(release_id, safe='')}"


def web_url(value: str | None) -> str | None:
    if value and urlsplit(value.strip()).scheme in {"http", "https"}:
        return value.strip()
    return None


def _mime(url: str, default: str) -> str:
    guessed, _ = mimetypes.guess_type(urlsplit(url).path)
    return guessed or default


def entry_title(release: StoredRelease, name: str) -> str:
    """The release title as plain text; stories without one get a title built from what we have."""
    title = " ".join(plain_text(release.title).split())
    if title:
        return title
    summary = plain_text(release.summary) or release.body_text
    if summary.strip():
        return shorten(summary, TITLE_FALLBACK_CHARS)
    day = (release.published or release.first_seen).date().isoformat()
    label = TYPE_DISPLAY_NAMES.get(release.type, "Release")
    return f"{label} — {name}, {day}"


def _content_html(release: StoredRelease) -> str:
    if release.body_html.strip():
        return sanitize_html(release.body_html, release.url)
    paragraphs = [p.strip() for p in release.body_text.split("\n") if p.strip()]
    return "".join(f"<p>{html.escape(p)}</p>" for p in paragraphs)


def _categories(release: StoredRelease, base_url: str) -> tuple[Category, ...]:
    base = base_url.rstrip("/")
    found = []
    for key in CATEGORY_KEYS:
        value = getattr(release, key)
        if value:
            found.append(Category(key, str(value), f"{base}/categories/{key}"))
    # The countries the release is about (its tags) are `country` categories too.
    found += [Category("country", c, f"{base}/categories/country") for c in release.countries]
    return tuple(dict.fromkeys(found))


def _links(release: StoredRelease) -> tuple[Link | None, tuple[Link, ...], tuple[Link, ...]]:
    image_url = web_url(release.image_url)
    image = Link(image_url, _mime(image_url, "image/jpeg")) if image_url else None
    attachments = tuple(
        Link(url, _mime(url, "application/pdf"))
        for url in filter(None, map(web_url, release.attachments))
    )
    translations = tuple(
        Link(url, "text/html", lang)
        for lang, raw in sorted(release.translations.items())
        if lang != release.lang and (url := web_url(raw))
    )
    return image, attachments, translations


def _xml_safe(value: Any) -> Any:
    """`value` (a string, or a list or dict of them) without the characters XML 1.0 forbids."""
    if isinstance(value, str):
        return strip_xml_invalid(value)
    if isinstance(value, list):
        return [_xml_safe(v) for v in value]
    if isinstance(value, dict):
        return {_xml_safe(k): _xml_safe(v) for k, v in value.items()}
    return value


def xml_safe_release(release: StoredRelease) -> StoredRelease:
    """Every text field of `release` stripped of XML-invalid characters.

    Ingest strips them too; this guard is for rows stored before that, or by other writers.
    """
    changes = {f.name: _xml_safe(getattr(release, f.name)) for f in fields(release)}
    return replace(release, **changes)


def _plain(value: str | None) -> str:
    # Unescaping can bring a forbidden character back (`&#11;`): strip after, not only before.
    return strip_xml_invalid(plain_text(value))


def make_entry(release: StoredRelease, *, base_url: str, site: Site | None = None) -> Entry:
    """The safe, render-ready view of one stored release."""
    release = xml_safe_release(release)
    name = strip_xml_invalid(site_name(site, release.site))
    published = utc(release.published or release.first_seen)
    image, attachments, translations = _links(release)
    link = permalink(base_url, release.id)
    return Entry(
        id=link,
        release_id=release.id,
        permalink=link,
        url=web_url(release.url) or link,
        title=strip_xml_invalid(entry_title(release, name)),
        summary=shorten(_plain(release.summary) or release.body_text, SUMMARY_CHARS),
        content_html=strip_xml_invalid(_content_html(release)),
        content_text=release.body_text,
        lang=release.lang,
        published=published,
        updated=max(utc(release.updated), published),
        site=release.site,
        site_name=name,
        site_url=strip_xml_invalid(site.base_url) if site is not None else "",
        country=release.country,
        region=release.region,
        type=release.type,
        dateline=_plain(release.dateline),
        categories=_categories(release, base_url),
        image=image,
        attachments=attachments,
        translations=translations,
    )


def make_entries(
    releases: list[StoredRelease], *, base_url: str, sites: Mapping[str, Site]
) -> list[Entry]:
    """Entries newest first (IOM's date, else first seen; then id), whatever order came in."""
    ordered = sorted(releases, key=lambda r: (r.sort_date, r.id), reverse=True)
    return [make_entry(r, base_url=base_url, site=sites.get(r.site)) for r in ordered]
