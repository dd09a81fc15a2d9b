"""Static export, WebSub pings (through httpx.MockTransport) and query parsing."""

from __future__ import annotations

import logging
from pathlib import Path
from urllib.parse import parse_qs
from xml.etree import ElementTree as ET

import httpx
import pytest

from crawler.store import ReleaseQuery, Store
from feeds.exceptions import BadQueryError
from feeds.export import export_feeds
from feeds.filters import Vocabulary, parse_feed_request, parse_page_request
from feeds.websub import ping_hub
from tests.feeds.conftest import BASE_URL, HUB, SITES, make_client
from tests.feeds.validate import CHECKS, entry_ids


def test_export_writes_the_same_feeds(seeded: Store, tmp_path: Path) -> None:
    out = tmp_path / "site"
    written = export_feeds(seeded, SITES, out, BASE_URL)
    names = {p.name for p in written}
    for slug in ("all", "site-mali", "country-egypt", "region-south-america", "lang-ar", "lang-pt"):
        for ext in ("atom", "rss", "json"):
            assert f"{slug}.{ext}" in names
            CHECKS[ext]((out / f"{slug}.{ext}").read_bytes())
    assert {"feeds.opml", "index.html"} <= names
    assert not list(out.glob(".*.tmp"))
    served = make_client(seeded).get("/feed.atom").content
    assert entry_ids("atom", (out / "all.atom").read_bytes()) == entry_ids("atom", served)
    assert len(entry_ids("json", (out / "lang-ar.json").read_bytes())) == 1
    opml = ET.parse(out / "feeds.opml").getroot()
    urls = {o.get("xmlUrl") for o in opml.iter("outline") if o.get("xmlUrl")}
    assert f"{BASE_URL}/site-mali.atom" in urls
    index = (out / "index.html").read_text(encoding="utf-8")
    assert f'href="{BASE_URL}/all.atom"' in index and 'rel="alternate"' in index


def test_ping_hub_posts_each_topic_and_never_raises(caplog: pytest.LogCaptureFixture) -> None:
    seen: list[dict[str, list[str]]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        form = parse_qs(request.content.decode())
        seen.append(form)
        return httpx.Response(500 if "broken" in form["hub.url"][0] else 204)

    topics = [f"{BASE_URL}/feed.atom", f"{BASE_URL}/feed.atom?site=broken"]
    with (
        httpx.Client(transport=httpx.MockTransport(handler)) as client,
        caplog.at_level(logging.WARNING),
    ):
        ping_hub(client, HUB, topics)
    assert [f["hub.url"] for f in seen] == [[t] for t in topics]
    assert all(f["hub.mode"] == ["publish"] for f in seen)
    assert "broken" in caplog.text

    def unreachable(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    with httpx.Client(transport=httpx.MockTransport(unreachable)) as client:
        ping_hub(client, HUB, topics)  # logged, not raised
        ping_hub(client, "", topics)  # no hub configured: nothing to do


def test_feeds_advertise_their_self_link_and_hub(seeded: Store) -> None:
    client = make_client(seeded, websub_hub=HUB)
    body = client.get("/feed.atom?site=mali").text
    assert f'href="{BASE_URL}/feed.atom?site=mali" rel="self"' in body
    assert f'href="{HUB}" rel="hub"' in body


VOCAB = Vocabulary.from_sites(SITES)


def test_parse_feed_request_normalises() -> None:
    wanted = parse_feed_request(
        [
            ("site", "MALI"),
            ("lang", "fr"),
            ("lang", "fr"),
            ("type", "Press-Release"),
            ("country", ""),
            ("limit", "7"),
        ],
        VOCAB,
    )
    assert wanted.query == ReleaseQuery(site=("mali",), lang=("fr",), type=("press_release",))
    assert wanted.limit == 7
    assert wanted.params() == [
        ("site", "mali"),
        ("lang", "fr"),
        ("type", "press_release"),
        ("limit", "7"),
    ]
    assert parse_feed_request([], VOCAB).limit == 50


@pytest.mark.parametrize(
    ("items", "parameter"),
    [
        ([("utm_source", "x")], "utm_source"),
        ([("limit", "-1")], "limit"),
        ([("site", "../etc")], "site"),
        ([("lang", "xx")], "lang"),
    ],
)
def test_parse_errors_name_the_parameter(items: list[tuple[str, str]], parameter: str) -> None:
    with pytest.raises(BadQueryError) as caught:
        parse_feed_request(items, VOCAB)
    assert caught.value.parameter == parameter
    assert parameter in str(caught.value)


def test_parse_page_request() -> None:
    assert parse_page_request([("page", "3"), ("per_page", "10")], VOCAB).offset == 20
    assert parse_page_request([("offset", "5")], VOCAB).page == 1
    with pytest.raises(BadQueryError):
        parse_page_request([("per_page", "10"), ("limit", "10")], VOCAB)
    with pytest.raises(BadQueryError):
        parse_page_request([("page", "0")], VOCAB)
