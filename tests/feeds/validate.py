"""Checks of what feedparser's `bozo` does not catch: required elements and date formats.

RFC 4287 (Atom), RSS 2.0 (rssboard.org) and JSON Feed 1.1 (jsonfeed.org/version/1.1).
"""

from __future__ import annotations

import json
import re
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar
from urllib.parse import urlsplit

import feedparser
from lxml import etree

A = "{http://www.w3.org/2005/Atom}"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
T = TypeVar("T")

RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")


def is_absolute_iri(value: str | None) -> bool:
    return bool(value) and bool(urlsplit(value).scheme) and bool(urlsplit(value).netloc)


def present(value: T | None) -> T:
    """`value`, which the feed must have (lxml gives None for a missing element or text)."""
    assert value is not None
    return value


def parse_ok(body: bytes) -> Any:
    """feedparser reads it without complaint."""
    parsed = feedparser.parse(body)
    assert parsed.bozo == 0, parsed.get("bozo_exception")
    return parsed


def check_atom(body: bytes) -> etree._Element:
    """RFC 4287: feed/entry id, title, updated, author, rel=self; RFC 3339 dates."""
    parsed = parse_ok(body)
    assert parsed.version == "atom10"
    root = etree.fromstring(body)
    assert root.tag == f"{A}feed"
    for name in ("id", "title", "updated"):
        assert len(root.findall(f"{A}{name}")) == 1, f"feed needs exactly one {name}"
    assert is_absolute_iri(root.findtext(f"{A}id"))
    assert present(root.findtext(f"{A}title")).strip()
    assert RFC3339.match(present(root.findtext(f"{A}updated")))
    feed_author = root.find(f"{A}author/{A}name")
    selves = [ln for ln in root.findall(f"{A}link") if ln.get("rel") == "self"]
    assert len(selves) == 1 and is_absolute_iri(selves[0].get("href"))
    for entry in root.findall(f"{A}entry"):
        check_atom_entry(entry, has_feed_author=feed_author is not None)
    return root


def check_atom_entry(entry: etree._Element, *, has_feed_author: bool) -> None:
    for name in ("id", "title", "updated"):
        assert len(entry.findall(f"{A}{name}")) == 1, f"entry needs exactly one {name}"
    assert is_absolute_iri(entry.findtext(f"{A}id"))
    assert present(entry.findtext(f"{A}title")).strip()
    assert RFC3339.match(present(entry.findtext(f"{A}updated")))
    for published in entry.findall(f"{A}published"):
        assert RFC3339.match(present(published.text))
    assert has_feed_author or entry.find(f"{A}author/{A}name") is not None
    assert entry.find(f"{A}author/{A}name") is not None  # we give one per entry anyway
    assert entry.get(XML_LANG)
    links = entry.findall(f"{A}link")
    alternates = [
        (ln.get("type"), ln.get("hreflang"))
        for ln in links
        if ln.get("rel", "alternate") == "alternate"
    ]
    assert alternates, "entry without content needs an alternate link; we always give one"
    assert len(alternates) == len(set(alternates)), "duplicate alternate type+hreflang"
    content = entry.find(f"{A}content")
    assert content is not None and content.get("type") == "html"
    assert entry.find(f"{A}summary") is not None or content.text


def check_rss(body: bytes) -> etree._Element:
    """RSS 2.0: channel title/link/description; item title or description; RFC 822 dates."""
    parsed = parse_ok(body)
    assert parsed.version == "rss20"
    root = etree.fromstring(body)
    assert root.tag == "rss" and root.get("version") == "2.0"
    channel = root.find("channel")
    assert channel is not None
    for name in ("title", "link", "description"):
        assert (channel.findtext(name) or "").strip(), f"channel needs {name}"
    assert is_absolute_iri(channel.findtext("link"))
    for name in ("pubDate", "lastBuildDate"):
        for node in channel.findall(name):
            assert parsedate_to_datetime(present(node.text)).tzinfo is not None
    selves = channel.findall(f"{A}link[@rel='self']")
    assert len(selves) == 1
    for item in channel.findall("item"):
        assert item.findtext("title") or item.findtext("description")
        assert present(item.findtext("title")).strip()
        assert is_absolute_iri(item.findtext("link"))
        guid = item.find("guid")
        assert guid is not None and guid.text
        assert parsedate_to_datetime(present(item.findtext("pubDate"))).tzinfo is not None
        assert len(item.findall("enclosure")) <= 1
        for enclosure in item.findall("enclosure"):
            assert enclosure.get("url") and enclosure.get("type") and enclosure.get("length")
    return root


def check_json_feed(body: bytes) -> dict[str, Any]:
    """JSON Feed 1.1 required keys and types; RFC 3339 dates. (feedparser 6 reads no JSON.)"""
    feed: dict[str, Any] = json.loads(body.decode("utf-8"))
    assert feed["version"] == "https://jsonfeed.org/version/1.1"
    assert isinstance(feed["title"], str) and feed["title"]
    assert isinstance(feed["items"], list)
    assert is_absolute_iri(feed["feed_url"]) and is_absolute_iri(feed["home_page_url"])
    for author in feed.get("authors", []):
        assert author.get("name") or author.get("url")
    for item in feed["items"]:
        assert isinstance(item["id"], str) and item["id"]
        assert isinstance(item.get("content_html", ""), str)
        assert "content_html" in item or "content_text" in item
        assert item["title"].strip()
        assert is_absolute_iri(item["url"])
        for key in ("date_published", "date_modified"):
            assert RFC3339.match(item[key])
        for attachment in item.get("attachments", []):
            assert attachment["url"] and attachment["mime_type"]
        for extension in (k for k in item if k.startswith("_")):
            assert isinstance(item[extension], dict)
    return feed


CHECKS = {"atom": check_atom, "rss": check_rss, "json": check_json_feed}


def entry_ids(fmt: str, body: bytes) -> list[str | None]:
    if fmt == "json":
        return [i["id"] for i in json.loads(body)["items"]]
    if fmt == "atom":
        return [e.findtext(f"{A}id") for e in etree.fromstring(body).findall(f"{A}entry")]
    channel = etree.fromstring(body).find("channel")
    assert channel is not None
    return [i.findtext("guid") for i in channel.findall("item")]
