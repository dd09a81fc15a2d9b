"""Hostile and broken input (issue 8): XML-invalid characters, unbounded sizes and queries,
non-ASCII digits. Every case answers 200 with a valid feed or a 400 naming the parameter."""

from __future__ import annotations

import json
import warnings
from dataclasses import replace
from pathlib import Path
from urllib.parse import quote

import feedparser
import pytest

from crawler.items import Release
from crawler.parsing.text import XML_INVALID
from crawler.store import ReleaseQuery, Store
from feeds.build import build_atom, build_json_feed, build_rss
from feeds.caching import CACHE_MAX_BODY_BYTES, CACHE_MAX_BYTES, RenderCache
from feeds.export import export_feeds
from tests.feeds.conftest import BASE_URL, SITES, make_app, make_client, when
from tests.feeds.test_build import meta
from tests.feeds.validate import CHECKS

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

# A vertical tab pasted from Word, a form feed, an entity that unescapes to a control character,
# and U+FFFE: each one alone made every Atom/RSS document holding the release fail with a 500.
POISON = "\x0b\x0c&#11;\ufffe"


def poisoned_release() -> Release:
    return Release(
        url="https://mali.iom.int/fr/news/colle-depuis-word",
        site="mali",
        lang="fr",
        title=f"Rapport{POISON} annuel",
        published=when(12),
        type="press_release",
        country="Mali",
        region="West and Central Africa",
        dateline=f"Bamako{POISON}",
        body_html=f"<p>Texte{POISON} collé depuis Word.</p>",
        body_text=f"Texte{POISON} collé depuis Word.",
        summary=f"Texte{POISON} collé.",
        translations={"en": "https://mali.iom.int/news/pasted-from-word"},
    )


@pytest.fixture
def poisoned(seeded: Store) -> Store:
    """The sample releases plus one stored, as it is, with XML-invalid characters."""
    assert seeded.save_release(poisoned_release()) == "new"
    return seeded


def assert_valid(fmt: str, body: bytes) -> None:
    """Valid for its format (feedparser bozo == 0 for XML) and free of forbidden characters."""
    CHECKS[fmt](body)
    text = body.decode("utf-8")
    assert not XML_INVALID.search(text)
    if fmt != "json":
        assert feedparser.parse(body).bozo == 0


FEEDS = [
    ("atom", ""),
    ("rss", ""),
    ("json", ""),
    ("atom", "site=mali"),
    ("rss", "site=mali"),
    ("json", "site=mali"),
    ("atom", "lang=fr"),
    ("rss", "lang=fr&country=Mali"),
    ("json", "lang=fr"),
]


def test_xml_invalid_characters_in_a_release(poisoned: Store) -> None:
    client = TestClient(make_app(poisoned), raise_server_exceptions=False)
    for fmt, qs in FEEDS:
        response = client.get(f"/feed.{fmt}?{qs}")
        assert response.status_code == 200, (fmt, qs, response.text[:200])
        assert_valid(fmt, response.content)
        assert "Rapport annuel" in response.text  # the release is there, only the characters went


def test_xml_invalid_characters_on_pages_and_api(poisoned: Store) -> None:
    client = TestClient(make_app(poisoned), raise_server_exceptions=False)
    rid = next(r.id for r in poisoned.query_releases(ReleaseQuery()) if "Word" in r.body_text)
    for path in ("/", "/?site=mali", f"/releases/{rid}", "/api/releases"):
        response = client.get(path)
        assert response.status_code == 200, path
    assert "Rapport annuel" in client.get(f"/releases/{rid}").text


def test_xml_invalid_characters_in_the_static_export(poisoned: Store, tmp_path: Path) -> None:
    written = export_feeds(poisoned, SITES, tmp_path, BASE_URL)
    feeds = [p for p in written if p.suffix in {".atom", ".rss", ".json"}]
    assert len(feeds) >= 3 * 10
    for path in feeds:
        assert_valid(path.suffix[1:], path.read_bytes())
    assert "Rapport annuel" in (tmp_path / "site-mali.atom").read_text(encoding="utf-8")


def test_builders_guard_rows_whatever_the_store_holds(seeded: Store) -> None:
    """The guard does not rely on the store or ingest: a row with the characters still builds."""
    row = seeded.query_releases(ReleaseQuery(site=("mali",)))[0]
    bad = replace(
        row,
        title=f"T{POISON}",
        body_html=f"<p>B{POISON}</p>",
        summary=POISON,
        translations={"en": f"https://mali.iom.int/en/x{POISON}"},
    )
    bad_meta = meta(title=f"IOM{POISON}", description=f"D{POISON}")
    for fmt, build in (("atom", build_atom), ("rss", build_rss), ("json", build_json_feed)):
        assert_valid(fmt, build([bad], bad_meta))


@pytest.mark.parametrize("fmt", ["atom", "rss", "json"])
def test_xml_invalid_character_in_the_query(sqlite_client: TestClient, fmt: str) -> None:
    response = sqlite_client.get(f"/feed.{fmt}?q=%EF%BF%BE")  # U+FFFE, into the feed title
    assert response.status_code == 200
    assert_valid(fmt, response.content)
    assert sqlite_client.get("/?q=%EF%BF%BE").status_code == 200


def test_render_cache_is_bounded_by_bytes(seeded_sqlite: Store) -> None:
    """300 distinct feed URLs (the measured case) keep the cache under its byte budget."""
    cache = RenderCache(max_bytes=20_000, max_body_bytes=5_000)
    client = make_client(seeded_sqlite, cache=cache)
    sizes = []
    for n in range(300):
        fmt = ("atom", "rss", "json")[n % 3]
        response = client.get(f"/feed.{fmt}?limit={n // 3 + 1}")
        assert response.status_code == 200
        sizes.append(len(response.content))
        assert cache.size <= cache.max_bytes
    assert sum(sizes) > 10 * cache.max_bytes  # unbounded, the cache would hold all of it
    assert 0 < len(cache) < 300
    assert max(sizes) > cache.max_body_bytes  # and the big bodies were served, not kept
    assert f"iomwatch_feed_render_cache_bytes {float(cache.size)}" in client.get("/metrics").text


def test_render_cache_defaults_and_big_bodies() -> None:
    cache = RenderCache()
    assert (cache.max_bytes, cache.max_body_bytes) == (CACHE_MAX_BYTES, CACHE_MAX_BODY_BYTES)
    assert CACHE_MAX_BYTES <= 32 * 2**20 and CACHE_MAX_BODY_BYTES <= 4 * 2**20
    small = RenderCache(max_bytes=100, max_body_bytes=10)
    assert small.get_or_build("big", lambda: b"x" * 11) == b"x" * 11
    assert small.get_or_build("big", lambda: b"y" * 11) == b"y" * 11  # not kept: built again
    assert small.misses == 2 and small.size == 0
    for key in range(20):
        small.get_or_build(key, lambda: b"z" * 10)
    assert small.size == 100 and len(small) == 10
    assert small.get_or_build(19, lambda: b"") == b"z" * 10 and small.hits == 1
    small.clear()
    assert small.size == 0 and len(small) == 0


def _words(n: int) -> str:
    return "+".join(f"w{i}" for i in range(n))


@pytest.mark.parametrize(
    "qs",
    [
        "&".join(f"q=term{i}" for i in range(6)),  # six values
        "q=" + _words(13),  # thirteen words
        "q=" + "a" * 201,  # over 200 characters
        "q=" + quote(",".join("abcdefghijklm")),  # thirteen words without spaces
        "&".join(f"q={i}" + "+a" * 99 for i in range(20)),  # measured: 20 x 100 words
    ],
)
def test_keyword_query_is_bounded(sqlite_client: TestClient, qs: str) -> None:
    for path in ("/feed.atom", "/api/releases", "/"):
        response = sqlite_client.get(f"{path}?{qs}")
        assert response.status_code == 400, path
        assert ("&#39;q&#39;" if path == "/" else "'q'") in response.text


def test_keyword_query_at_its_bounds_is_served(sqlite_client: TestClient) -> None:
    five = "&".join(f"q=OIM+{i}" for i in range(4)) + "&q=" + _words(12)
    assert sqlite_client.get(f"/feed.atom?{five}").status_code == 200
    assert sqlite_client.get("/feed.atom?q=" + "a" * 200).status_code == 200


# ² ٣ ３ (500 or read as 3 before), 5000 digits (int() refuses them: 500), and two that were
# refused already and stay so.
NUMBERS = ["%C2%B2", "%D9%A3", "%EF%BC%93", "3%C2%B2", "9" * 5000, "-1", "1e2"]


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("/feed.atom", "limit"),
        ("/", "limit"),
        ("/api/releases", "limit"),
        ("/api/releases", "per_page"),
        ("/api/releases", "page"),
        ("/api/releases", "offset"),
    ],
)
def test_only_ascii_digits_are_numbers(sqlite_client: TestClient, path: str, name: str) -> None:
    for value in NUMBERS:
        response = sqlite_client.get(f"{path}?{name}={value}")
        assert response.status_code == 400, value
        assert (f"&#39;{name}&#39;" if path == "/" else f"'{name}'") in response.text
        if path.startswith("/api/"):
            assert json.loads(response.content)["parameter"] == name


def test_ascii_numbers_still_work(sqlite_client: TestClient) -> None:
    assert len(sqlite_client.get("/feed.json?limit=3").json()["items"]) == 3
    assert len(sqlite_client.get("/feed.json?limit=%203%20").json()["items"]) == 3
    assert sqlite_client.get("/api/releases?page=2&per_page=3").json()["offset"] == 3
