"""Pure feed builders: (releases, meta) -> bytes. Atom 1.0 and RSS 2.0 via feedgen, JSON Feed 1.1 by hand.

No I/O here: the app, the static export and the CLI call these and write or serve the bytes.
feedgen traps avoided on purpose: no `type='CDATA'` (invalid Atom); `add_entry(order='append')`
(the default prepends); the RSS `<link>` is the *last* `link()` call, so the alternate goes last.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from feedgen.ext.base import BaseEntryExtension, BaseExtension
from feedgen.feed import FeedGenerator
from lxml import etree

from crawler.parsing.text import strip_xml_invalid
from feeds.entries import Entry, make_entries, utc

if TYPE_CHECKING:
    from feedgen.entry import FeedEntry

    from crawler.sites import Site
    from crawler.store import StoredRelease

ATOM_NS = "http://www.w3.org/2005/Atom"
DC_NS = "http://purl.org/dc/elements/1.1/"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
JSON_FEED_VERSION = "https://jsonfeed.org/version/1.1"
FEED_AUTHOR = "International Organization for Migration (IOM), collected by iomwatch"
GENERATOR = "iomwatch"
# An empty feed has no newest entry; a fixed instant keeps its bytes (and ETag) stable.
EMPTY_FEED_UPDATED = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class FeedMeta:
    """What a feed says about itself. `self_url` is this document's own URL (format included)."""

    title: str
    self_url: str
    home_url: str
    base_url: str
    description: str = "Press releases and news from the International Organization for Migration"
    language: str | None = None
    hub: str | None = None
    updated: datetime | None = None
    sites: Mapping[str, Site] = field(default_factory=dict)


class _IomwatchFeedExtension(BaseExtension):  # type: ignore[misc]
    """Feed level: advertise the WebSub hub in RSS (feedgen only writes rel=self there)."""

    def __init__(self) -> None:
        self.hub: str | None = None

    def extend_ns(self) -> dict[str, str]:
        return {"dc": DC_NS}

    def extend_rss(self, feed: etree._Element) -> etree._Element:
        channel = feed.find("channel")
        if self.hub and channel is not None:
            etree.SubElement(channel, f"{{{ATOM_NS}}}link", href=self.hub, rel="hub")
        return feed

    def extend_atom(self, feed: etree._Element) -> etree._Element:
        return feed


class _IomwatchEntryExtension(BaseEntryExtension):  # type: ignore[misc]
    """Entry level: Atom links written by us, per-entry language (Atom xml:lang, RSS dc:language),
    no Atom summary beside content, and the RSS dc:creator.

    feedgen 1.0 drops `rel`, `type` and `hreflang` from entry links in Atom (its loop variable
    shadows the link data), which would turn enclosures into alternates. We remove its links and
    write our own; the RSS side still uses feedgen's (`<link>`, `<enclosure>`).
    """

    def __init__(self) -> None:
        self.entry: Entry | None = None

    def extend_atom(self, element: etree._Element) -> etree._Element:
        entry = self.entry
        if entry is None:
            return element
        element.set(XML_LANG, entry.lang)
        for old in element.findall("link"):
            element.remove(old)
        summary = element.find("summary")
        if entry.content_html and summary is not None:
            # Text-mode readers prefer a text/plain part: rss2email mailed the one-paragraph
            # <summary> instead of the HTML <content>. RFC 4287 needs no summary beside inline
            # content, so with a body there is only the content to pick (no second copy of it
            # as an HTML summary: that would double the feed). RSS keeps its <description>
            # teaser: both parts are HTML there, and readers take content:encoded.
            element.remove(summary)
        for attributes in _atom_links(entry):
            etree.SubElement(element, "link", attributes)
        return element

    def extend_rss(self, item: etree._Element) -> etree._Element:
        if self.entry is not None:
            # RSS 2.0 <author> must be an e-mail address, and we have none: readers (rss2email's
            # From, feedparser's `author`) take dc:creator as the name instead.
            etree.SubElement(item, f"{{{DC_NS}}}creator").text = self.entry.site_name
            etree.SubElement(item, f"{{{DC_NS}}}language").text = self.entry.lang
        return item


def _atom_links(entry: Entry) -> list[dict[str, str]]:
    """Exactly one alternate, the release's own page: readers that keep one alternate
    (feedparser, newsboat) keep the last. Translations are related pages (RFC 4287 4.2.7.2)."""
    own = {"rel": "alternate", "type": "text/html", "hreflang": entry.lang, "href": entry.url}
    translations = [
        {"rel": "related", "type": "text/html", "hreflang": t.lang, "href": t.url}
        for t in entry.translations
    ]
    enclosures = [
        {"rel": "enclosure", "type": e.mime_type, "href": e.url} for e in entry.enclosures
    ]
    return [own, *translations, *enclosures]


def _feed_updated(entries: Sequence[Entry], meta: FeedMeta) -> datetime:
    if meta.updated is not None:
        return utc(meta.updated)
    return max((e.updated for e in entries), default=EMPTY_FEED_UPDATED)


def _generator(entries: Sequence[Entry], meta: FeedMeta) -> FeedGenerator:
    meta = _xml_safe_meta(meta)
    fg = FeedGenerator()
    fg.register_extension("iomwatch", _IomwatchFeedExtension, _IomwatchEntryExtension)
    fg.iomwatch.hub = meta.hub or None
    fg.id(meta.self_url)
    fg.title(meta.title)
    fg.subtitle(meta.description)  # also the RSS channel description
    fg.author({"name": FEED_AUTHOR, "uri": "https://www.iom.int"})
    fg.generator(GENERATOR)
    if meta.language:
        fg.language(meta.language)
    updated = _feed_updated(entries, meta)
    fg.updated(updated)
    fg.lastBuildDate(updated)  # else feedgen writes "now" and every build differs
    fg.link(href=meta.self_url, rel="self")
    if meta.hub:
        fg.link(href=meta.hub, rel="hub")
    fg.link(href=meta.home_url, rel="alternate", type="text/html")  # last: the RSS <link>
    for entry in entries:
        _add_entry(fg, entry)
    return fg


def _add_entry(fg: FeedGenerator, entry: Entry) -> FeedEntry:
    fe = fg.add_entry(order="append")
    fe.id(entry.id)
    fe.guid(entry.id, permalink=True)
    fe.title(entry.title)
    fe.updated(entry.updated)
    fe.published(entry.published)
    fe.author({"name": entry.site_name, **({"uri": entry.site_url} if entry.site_url else {})})
    if entry.content_html:
        fe.content(entry.content_html, type="html")
    if entry.summary:
        fe.summary(entry.summary)  # RSS <description>; Atom drops it beside content (see above)
    for category in entry.categories:
        fe.category(term=category.term, scheme=category.scheme, label=category.label)
    for enclosure in entry.enclosures:
        fe.link(href=enclosure.url, rel="enclosure", type=enclosure.mime_type)
    fe.link(href=entry.url, rel="alternate", type="text/html", hreflang=entry.lang)
    fe.iomwatch.entry = entry
    return fe


def build_atom(releases: Sequence[StoredRelease], meta: FeedMeta) -> bytes:
    """Atom 1.0 document, UTF-8, newest entry first."""
    entries = make_entries(list(releases), base_url=meta.base_url, sites=meta.sites)
    return bytes(_generator(entries, meta).atom_str(pretty=False, encoding="UTF-8"))


def build_rss(releases: Sequence[StoredRelease], meta: FeedMeta) -> bytes:
    """RSS 2.0 document, UTF-8, newest item first (content:encoded carries the full body)."""
    entries = make_entries(list(releases), base_url=meta.base_url, sites=meta.sites)
    return bytes(_generator(entries, meta).rss_str(pretty=False, encoding="UTF-8"))


def _xml_safe_meta(meta: FeedMeta) -> FeedMeta:
    """`meta` without XML-invalid characters (`?q=%EF%BF%BE` puts U+FFFE into the title)."""
    return replace(
        meta,
        title=strip_xml_invalid(meta.title),
        self_url=strip_xml_invalid(meta.self_url),
        home_url=strip_xml_invalid(meta.home_url),
        description=strip_xml_invalid(meta.description),
        language=strip_xml_invalid(meta.language) if meta.language else meta.language,
        hub=strip_xml_invalid(meta.hub) if meta.hub else meta.hub,
    )


def _json_item(entry: Entry) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": entry.id,
        "url": entry.url,
        "title": entry.title,
        "content_html": entry.content_html,
        "content_text": entry.content_text,
        "summary": entry.summary,
        "date_published": entry.published.isoformat(),
        "date_modified": entry.updated.isoformat(),
        "authors": [
            {"name": entry.site_name, **({"url": entry.site_url} if entry.site_url else {})}
        ],
        "tags": [c.term for c in entry.categories],
        "language": entry.lang,
        "_iomwatch": {
            "release_id": entry.release_id,
            "site": entry.site,
            "country": entry.country,
            "countries": [c.term for c in entry.categories if c.key == "country"],
            "region": entry.region,
            "type": entry.type,
            "translations": {t.lang: t.url for t in entry.translations},
        },
    }
    if not entry.content_html:
        del item["content_html"]
    if entry.image:
        item["image"] = entry.image.url
    if entry.enclosures:
        item["attachments"] = [{"url": e.url, "mime_type": e.mime_type} for e in entry.enclosures]
    return item


def build_json_feed(releases: Sequence[StoredRelease], meta: FeedMeta) -> bytes:
    """JSON Feed 1.1 document, UTF-8, newest item first."""
    entries = make_entries(list(releases), base_url=meta.base_url, sites=meta.sites)
    meta = _xml_safe_meta(meta)  # JSON allows them, but the same feed must say the same
    feed: dict[str, Any] = {
        "version": JSON_FEED_VERSION,
        "title": meta.title,
        "home_page_url": meta.home_url,
        "feed_url": meta.self_url,
        "description": meta.description,
        "authors": [{"name": FEED_AUTHOR, "url": "https://www.iom.int"}],
    }
    if meta.language:
        feed["language"] = meta.language
    if meta.hub:
        feed["hubs"] = [{"type": "WebSub", "url": meta.hub}]
    feed["items"] = [_json_item(e) for e in entries]
    return json.dumps(feed, ensure_ascii=False, indent=1).encode("utf-8")
