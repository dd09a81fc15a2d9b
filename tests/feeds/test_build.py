"""The pure builders: order, ids, language, enclosures, categories, hub, feedgen traps."""

from __future__ import annotations

import json
import random
from dataclasses import replace
from datetime import datetime

import pytest
from lxml import etree

from crawler.store import ReleaseQuery, Store
from feeds.build import FeedMeta, build_atom, build_json_feed, build_rss
from feeds.catalog import FORMATS
from tests.feeds.conftest import BASE_URL, HUB, SITES
from tests.feeds.validate import CHECKS, XML_LANG, A, entry_ids, present


def meta(**overrides: object) -> FeedMeta:
    values: dict[str, object] = {
        "title": "IOM releases — all sites",
        "self_url": f"{BASE_URL}/feed.atom",
        "home_url": f"{BASE_URL}/",
        "base_url": BASE_URL,
        "sites": {s.id: s for s in SITES},
    }
    values.update(overrides)
    return FeedMeta(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_is_valid_and_newest_first(seeded: Store, fmt: str) -> None:
    rows = seeded.query_releases(ReleaseQuery(), limit=50)
    shuffled = rows[:]
    random.Random(4).shuffle(shuffled)
    body = FORMATS[fmt].build(shuffled, meta())
    CHECKS[fmt](body)
    expected = [f"{BASE_URL}/releases/{r.id}" for r in rows]  # the store's newest-first order
    assert entry_ids(fmt, body) == expected
    assert len(expected) == 7


@pytest.mark.parametrize("fmt", FORMATS)
def test_empty_feed_is_valid(fmt: str) -> None:
    CHECKS[fmt](FORMATS[fmt].build([], meta()))


@pytest.mark.parametrize("fmt", FORMATS)
def test_ids_and_bytes_stable_across_builds_and_restarts(seeded: Store, fmt: str) -> None:
    rows = seeded.query_releases(ReleaseQuery())
    first = FORMATS[fmt].build(rows, meta())
    assert FORMATS[fmt].build(list(reversed(rows)), meta()) == first
    reopened = Store(seeded.url)  # a restart: new engine, same database
    try:
        again = FORMATS[fmt].build(reopened.query_releases(ReleaseQuery()), meta())
    finally:
        reopened.close()
    assert entry_ids(fmt, again) == entry_ids(fmt, first)
    assert again == first


def test_rss_link_is_the_home_page_not_self(seeded: Store) -> None:
    """feedgen takes the RSS <link> from the last link() call: ours must be the alternate."""
    root = etree.fromstring(build_rss(seeded.query_releases(ReleaseQuery()), meta()))
    channel = present(root.find("channel"))
    assert channel.findtext("link") == f"{BASE_URL}/"
    assert present(channel.find(f"{A}link[@rel='self']")).get("href") == f"{BASE_URL}/feed.atom"
    item = present(channel.find("item"))
    assert present(item.findtext("link")).startswith("https://")  # the IOM page, not an enclosure


def test_atom_content_is_escaped_html_not_cdata(seeded: Store) -> None:
    body = build_atom(seeded.query_releases(ReleaseQuery()), meta())
    assert b"CDATA" not in body
    content = present(etree.fromstring(body).find(f"{A}entry/{A}content"))
    assert content.get("type") == "html" and present(content.text).startswith("<p")


def _entry(root: etree._Element, lang: str) -> etree._Element:
    return next(e for e in root.findall(f"{A}entry") if e.get(XML_LANG) == lang)


def test_entry_language_enclosures_categories_translations(seeded: Store) -> None:
    rows = seeded.query_releases(ReleaseQuery())
    atom = etree.fromstring(build_atom(rows, meta()))
    langs = {e.get(XML_LANG) for e in atom.findall(f"{A}entry")}
    assert {"fr", "ar", "es", "pt", "en"} <= langs
    mali = _entry(atom, "fr")
    links = {
        (ln.get("rel"), ln.get("hreflang"), ln.get("type")): ln.get("href")
        for ln in mali.findall(f"{A}link")
    }
    assert present(links[("alternate", "fr", "text/html")]).endswith(
        "/fr/news/reintegration-retour"
    )
    # issue 8: a translation is rel="related" (one alternate per entry: the release's own page)
    assert present(links[("related", "en", "text/html")]).endswith(
        "/news/sustainable-reintegration"
    )
    assert present(links[("enclosure", None, "image/jpeg")]).endswith("lead.jpg")
    assert present(links[("enclosure", None, "application/pdf")]).endswith("rapport.pdf")
    terms = {
        (present(c.get("scheme")).rsplit("/", 1)[-1], c.get("term"))
        for c in mali.findall(f"{A}category")
    }
    assert terms == {
        ("site", "mali"),
        ("country", "Mali"),
        ("region", "West and Central Africa"),
        ("type", "press_release"),
    }
    assert mali.findtext(f"{A}author/{A}name") == "OIM Mali"
    rss = present(etree.fromstring(build_rss(rows, meta())).find("channel"))
    item = next(i for i in rss.findall("item") if "reintegration" in present(i.findtext("link")))
    assert item.findtext("{http://purl.org/dc/elements/1.1/}language") == "fr"
    enclosure = present(item.find("enclosure"))  # RSS: one enclosure, the image
    assert present(enclosure.get("url")).endswith("lead.jpg")
    assert "country: Mali" in [c.text for c in item.findall("category")]
    items = json.loads(build_json_feed(rows, meta()))["items"]
    item = next(i for i in items if i["language"] == "fr")
    assert item["image"].endswith("lead.jpg")
    assert {a["mime_type"] for a in item["attachments"]} == {"image/jpeg", "application/pdf"}
    assert set(item["tags"]) == {"mali", "Mali", "West and Central Africa", "press_release"}
    assert item["_iomwatch"]["translations"] == {
        "en": "https://mali.iom.int/news/sustainable-reintegration"
    }


def test_published_and_updated(seeded: Store) -> None:
    rows = seeded.query_releases(ReleaseQuery(lang=("fr",)))
    entry = present(etree.fromstring(build_atom(rows, meta())).find(f"{A}entry"))
    assert entry.findtext(f"{A}published") == "2024-05-10T09:00:00+00:00"
    assert present(entry.findtext(f"{A}updated")) >= present(entry.findtext(f"{A}published"))
    item = json.loads(build_json_feed(rows, meta()))["items"][0]
    assert item["date_published"] == "2024-05-10T09:00:00+00:00"


def test_story_without_title_gets_one(seeded: Store) -> None:
    rows = seeded.query_releases(ReleaseQuery(type=("story",)))
    item = json.loads(build_json_feed(rows, meta()))["items"][0]
    assert item["title"].startswith("After three years away, Amina")
    assert len(item["title"]) <= 81
    empty = replace(rows[0], title=None, summary="", body_text="")
    titles = [json.loads(build_json_feed([empty], meta()))["items"][0]["title"]]
    assert titles == ["Story — IOM global, 2024-05-06"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_hub_advertised_only_when_configured(seeded: Store, fmt: str) -> None:
    rows = seeded.query_releases(ReleaseQuery(), limit=1)
    with_hub = FORMATS[fmt].build(rows, meta(hub=HUB))
    without = FORMATS[fmt].build(rows, meta())
    assert HUB.encode() in with_hub and HUB.encode() not in without
    if fmt == "json":
        assert json.loads(with_hub)["hubs"] == [{"type": "WebSub", "url": HUB}]
    else:
        root = etree.fromstring(with_hub)
        hubs = root.iter(f"{A}link")
        assert [h.get("href") for h in hubs if h.get("rel") == "hub"] == [HUB]


def test_naive_datetimes_are_refused(seeded: Store) -> None:
    rows = seeded.query_releases(ReleaseQuery(), limit=1)
    with pytest.raises(ValueError, match="naive"):
        build_atom(rows, meta(updated=datetime(2024, 1, 1)))
