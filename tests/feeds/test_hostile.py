"""Scraped content is hostile: scripts, handlers and javascript: URLs come out inert everywhere."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING

import pytest
from lxml import etree, html

from crawler.store import ReleaseQuery, Store
from tests.feeds.validate import CHECKS, A, present

if TYPE_CHECKING:
    from starlette.testclient import TestClient

DANGER = re.compile(r"<script|<iframe|\bon\w+\s*=|javascript:", re.IGNORECASE)


def assert_inert_html(fragment: str) -> None:
    """Parsed as HTML: no script/iframe elements, no on* attributes, no javascript: URLs."""
    assert not DANGER.search(fragment), fragment
    if not fragment.strip():
        return
    tree = html.fragment_fromstring(fragment, create_parent="div")
    assert not tree.xpath("//script|//iframe|//object|//embed")
    for element in tree.iter():
        for name, value in element.attrib.items():
            assert not name.lower().startswith("on")
            assert not value.strip().lower().startswith("javascript:")


def assert_inert_text(text: str) -> None:
    """Plain text (titles, summaries): no markup left that a careless reader could render."""
    assert "<" not in text and "javascript:" not in text.lower(), text


def _hostile_atom(body: bytes) -> etree._Element:
    root = etree.fromstring(body)
    return next(
        e
        for e in root.findall(f"{A}entry")
        if "hostile" in present(e.findtext(f"{A}id")) or "Evil" in present(e.findtext(f"{A}title"))
    )


def test_atom(client: TestClient) -> None:
    body = client.get("/feed.atom?site=global").content
    CHECKS["atom"](body)
    entry = _hostile_atom(body)
    assert_inert_text(present(entry.findtext(f"{A}title")))
    assert present(entry.findtext(f"{A}title")).startswith("Evil")
    # issue 8: no Atom summary beside content (the summary stays inert in RSS and JSON below)
    assert entry.find(f"{A}summary") is None
    assert_inert_html(present(entry.findtext(f"{A}content")))
    for link in entry.findall(f"{A}link"):
        assert present(link.get("href")).startswith("https://")


def test_rss(client: TestClient) -> None:
    body = client.get("/feed.rss?site=global").content
    CHECKS["rss"](body)
    item = next(
        i for i in etree.fromstring(body).iter("item") if "Evil" in present(i.findtext("title"))
    )
    assert_inert_text(present(item.findtext("title")))
    assert_inert_text(present(item.findtext("description")))
    assert_inert_html(present(item.findtext("{http://purl.org/rss/1.0/modules/content/}encoded")))
    for enclosure in item.findall("enclosure"):
        assert present(enclosure.get("url")).startswith("https://")


def test_json_feed_and_api(client: TestClient) -> None:
    items = client.get("/feed.json?site=global").json()["items"]
    item = next(i for i in items if i["title"].startswith("Evil"))
    assert_inert_text(item["title"])
    assert_inert_text(item["summary"])
    assert_inert_html(item["content_html"])
    assert "image" not in item
    assert [a["url"] for a in item["attachments"]] == ["https://www.iom.int/files/ok.pdf"]
    assert item["_iomwatch"]["translations"] == {}
    api = client.get("/api/releases?site=global").json()["items"]
    record = next(i for i in api if i["title"].startswith("Evil"))
    assert_inert_html(record["body_html"])
    assert record["image_url"] is None
    assert "javascript" not in json.dumps(record).lower()


@pytest.mark.parametrize("page", ["index", "release"])
def test_html_pages(client: TestClient, seeded: Store, page: str) -> None:
    hostile = next(
        r
        for r in seeded.query_releases(ReleaseQuery(site=("global",)))
        if r.url.endswith("hostile")
    )
    path = "/?site=global" if page == "index" else f"/releases/{hostile.id}"
    text = client.get(path).text
    document: html.HtmlElement = html.document_fromstring(text)
    assert not document.xpath("//script|//iframe|//object|//embed")
    for element in document.iter():
        for name, value in element.attrib.items():
            assert not name.lower().startswith("on"), (element.tag, name)
            assert not value.strip().lower().startswith("javascript:"), (element.tag, value)
    assert "Evil" in text
    assert not DANGER.search(text)
