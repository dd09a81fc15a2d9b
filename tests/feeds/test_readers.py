"""What readers and browsers see (issue 8): one alternate per Atom entry, an RSS author name, no
plain-text summary beside content, unknown places refused, security headers, Vary on 304s and
a slash redirect that ignores the Host header."""

from __future__ import annotations

import warnings

import feedparser
import pytest
from lxml import etree

from crawler.sites import Site
from crawler.store import ReleaseQuery, Store
from feeds.filters import Vocabulary, parse_feed_request
from tests.feeds.conftest import BASE_URL
from tests.feeds.validate import A

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

MALI_URL = "https://mali.iom.int/fr/news/reintegration-retour"
MALI_EN = "https://mali.iom.int/news/sustainable-reintegration"


def test_atom_entry_links_to_its_own_page(sqlite_client: TestClient) -> None:
    """feedparser (and newsboat) keep the last rel=alternate: it must be the release itself."""
    parsed = feedparser.parse(sqlite_client.get("/feed.atom").content)
    mali = next(e for e in parsed.entries if e.id.endswith(_mali_id(sqlite_client)))
    assert mali.link == MALI_URL
    alternates = [ln.href for ln in mali.links if ln.rel == "alternate"]
    assert alternates == [MALI_URL]
    related = [(ln.href, ln.get("hreflang")) for ln in mali.links if ln.rel == "related"]
    assert related == [(MALI_EN, "en")]
    for entry in parsed.entries:
        assert [ln.rel for ln in entry.links].count("alternate") == 1


def _mali_id(client: TestClient) -> str:
    item = client.get("/api/releases?site=mali").json()["items"][0]
    assert item["url"] == MALI_URL
    return str(item["permalink"])


def test_rss_items_have_an_author_name(sqlite_client: TestClient) -> None:
    body = sqlite_client.get("/feed.rss").content
    parsed = feedparser.parse(body)
    authors = {e.link: e.get("author") for e in parsed.entries}
    assert authors[MALI_URL] == "OIM Mali"  # the registry name (rss2email's From)
    assert all(authors.values())
    assert b"<author>" not in body  # RSS 2.0 <author> would need an e-mail address


def test_atom_readers_that_pick_summary_get_the_full_content(sqlite_client: TestClient) -> None:
    """rss2email takes the text/plain part when there is one: there is none beside content."""
    body = sqlite_client.get("/feed.atom").content
    parsed = feedparser.parse(body)
    mali = next(e for e in parsed.entries if e.link == MALI_URL)
    assert [c.type for c in mali.content] == ["text/html"]
    assert "summary_detail" not in mali  # no <summary>: feedparser's summary is the content
    assert mali.summary == mali.content[0].value
    assert "<strong>réintégration</strong>" in mali.summary
    assert not etree.fromstring(body).findall(f"{A}entry/{A}summary")  # every entry has content
    rss = feedparser.parse(sqlite_client.get("/feed.rss").content)
    item = next(e for e in rss.entries if e.link == MALI_URL)
    assert "<strong>" in item.content[0].value  # RSS: content:encoded carries the full body


@pytest.mark.parametrize(
    "qs", ["country=Narnia", "region=Atlantis", "country=Mali&country=Narnia", "region=Mali"]
)
def test_unknown_country_or_region_is_400(sqlite_client: TestClient, qs: str) -> None:
    name = qs.rsplit("&", 1)[-1].split("=")[0]
    feed = sqlite_client.get(f"/feed.atom?{qs}")
    assert feed.status_code == 400 and f"parameter '{name}'" in feed.text
    api = sqlite_client.get(f"/api/releases?{qs}")
    assert api.status_code == 400 and api.json()["parameter"] == name
    assert sqlite_client.get(f"/?{qs}").status_code == 400


def test_known_places_in_any_case_are_one_feed(sqlite_client: TestClient) -> None:
    lower = sqlite_client.get("/feed.json?country=mali&region=west+and+central+africa")
    assert lower.status_code == 200 and len(lower.json()["items"]) == 1
    assert lower.json()["feed_url"] == (
        f"{BASE_URL}/feed.json?country=Mali&region=West+and+Central+Africa"
    )


def test_language_prefixes_of_registry_tags_are_accepted() -> None:
    sites = [
        Site("br", "https://brazil.iom.int", ("pt-br",)),
        Site("tw", "https://t.int", ("zh-hant",)),
    ]
    vocabulary = Vocabulary.from_sites(sites)
    for lang in ("pt", "pt-br", "zh", "zh-hant", "ZH-Hant"):
        assert parse_feed_request([("lang", lang)], vocabulary).query.lang == (lang.lower(),)


CSP_PARTS = (
    "default-src 'none'",
    "img-src https: http: data:",
    "frame-ancestors 'none'",
    "base-uri 'none'",
    "form-action 'self'",
)


def test_pages_send_security_headers(sqlite_client: TestClient, seeded_sqlite: Store) -> None:
    rid = seeded_sqlite.query_releases(ReleaseQuery(), limit=1)[0].id
    for path in ("/", f"/releases/{rid}", "/status", "/no/such/page"):
        headers = sqlite_client.get(path).headers
        assert headers["content-type"].startswith("text/html")
        policy = headers["content-security-policy"]
        for part in CSP_PARTS:
            assert part in policy, (path, part)
        assert "script-src" not in policy  # nothing but default-src 'none' for script
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "no-referrer"


def test_every_response_is_nosniff(sqlite_client: TestClient) -> None:
    etag = sqlite_client.get("/feed.atom").headers["etag"]
    responses = [
        sqlite_client.get(path)
        for path in ("/feed.atom", "/feed.rss", "/feed.json", "/api/releases", "/opml")
    ]
    responses += [
        sqlite_client.get("/healthz"),
        sqlite_client.get("/metrics"),
        sqlite_client.get("/feed.atom?x=1"),
    ]
    responses.append(sqlite_client.get("/feed.atom", headers={"If-None-Match": etag}))
    assert responses[-1].status_code == 304
    for response in responses:
        assert response.headers["x-content-type-options"] == "nosniff", response.url


def test_304_varies_on_accept_encoding(sqlite_client: TestClient, seeded_sqlite: Store) -> None:
    rid = seeded_sqlite.query_releases(ReleaseQuery(), limit=1)[0].id
    for path in (
        "/feed.atom",
        "/feed.json?limit=1",
        "/api/releases",
        "/",
        "/opml",
        f"/releases/{rid}",
    ):
        first = sqlite_client.get(path)
        assert "accept-encoding" in first.headers["vary"].lower()
        again = sqlite_client.get(path, headers={"If-None-Match": first.headers["etag"]})
        assert again.status_code == 304, path
        assert "accept-encoding" in again.headers["vary"].lower(), path
    zipped = sqlite_client.get("/feed.atom", headers={"Accept-Encoding": "gzip"})
    assert zipped.headers["vary"].lower().count("accept-encoding") == 1


@pytest.mark.parametrize("path", ["/feed.atom/", "/status/", "/api/releases/?site=mali"])
def test_slash_redirect_ignores_a_forged_host(sqlite_client: TestClient, path: str) -> None:
    response = sqlite_client.get(path, headers={"Host": "evil.example"}, follow_redirects=False)
    assert response.status_code in {301, 307, 308}
    location = response.headers["location"]
    assert "evil" not in location
    assert location == BASE_URL + path.replace("/?", "?").rstrip("/")


def test_release_slash_redirect_and_404_still_work(
    sqlite_client: TestClient, seeded_sqlite: Store
) -> None:
    rid = seeded_sqlite.query_releases(ReleaseQuery(), limit=1)[0].id
    response = sqlite_client.get(
        f"/releases/{rid}/", headers={"Host": "evil.example"}, follow_redirects=False
    )
    assert response.headers["location"] == f"{BASE_URL}/releases/{rid}"
    assert sqlite_client.get("/no/such/page/", follow_redirects=False).status_code == 404
    assert sqlite_client.get("/", headers={"Host": "evil.example"}).status_code == 200
