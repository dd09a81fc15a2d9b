"""The HTTP app: every format x filter, the API, OPML, pages, status, metrics, errors."""

from __future__ import annotations

import gzip
import json
from typing import TYPE_CHECKING
from xml.etree import ElementTree as ET

import pytest
from lxml import etree

from crawler.store import RunStats, Store
from tests.feeds.conftest import BASE_URL, make_client
from tests.feeds.validate import CHECKS, XML_LANG, A, present

if TYPE_CHECKING:
    from starlette.testclient import TestClient

FORMATS = {
    "atom": "application/atom+xml",
    "rss": "application/rss+xml",
    "json": "application/feed+json",
}

# (query string, expected entry count, predicate over the JSON item's _iomwatch/language)
FILTERS = [
    ("", 7),
    ("site=mali", 1),
    ("site=global", 3),
    ("country=Mali", 1),
    ("country=mali&country=Egypt", 2),
    ("region=South+America", 1),
    ("lang=ar", 1),
    ("lang=fr&lang=es", 2),
    ("type=press_release", 2),
    ("type=press-release&lang=pt", 1),
    ("q=migrants", 1),
    ("q=OIM", 3),
    ("q=r%C3%A9int%C3%A9gration&lang=fr", 1),
    ("country=Mali&lang=ar", 0),
    ("site=global&type=story&limit=5", 1),
    ("limit=3", 3),
]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(("qs", "count"), FILTERS)
def test_every_format_and_filter(client: TestClient, fmt: str, qs: str, count: int) -> None:
    response = client.get(f"/feed.{fmt}?{qs}")
    assert response.status_code == 200
    assert response.headers["content-type"] == f"{FORMATS[fmt]}; charset=utf-8"
    CHECKS[fmt](response.content)
    json_items = client.get(f"/feed.json?{qs}").json()["items"]
    assert len(json_items) == count
    params = [p.split("=") for p in qs.split("&") if p]
    for key, _ in params:
        values = {v.lower().replace("+", " ").replace("-", "_") for k, v in params if k == key}
        for item in json_items:
            if key == "lang":
                assert item["language"] in values
            elif key in {"site", "country", "region", "type"}:
                assert str(item["_iomwatch"][key]).lower() in values


def test_self_link_and_language_follow_the_request(client: TestClient) -> None:
    root = etree.fromstring(client.get("/feed.atom?lang=ar&country=Egypt").content)
    self_link = present(root.find(f"{A}link[@rel='self']")).get("href")
    assert self_link == f"{BASE_URL}/feed.atom?country=Egypt&lang=ar"
    assert root.get(XML_LANG) == "ar"
    assert "Egypt" in present(root.findtext(f"{A}title"))


@pytest.mark.parametrize(
    ("query", "word"),
    [
        ("q=reintegration", "Réintégration"),  # French, accents folded
        ("q=MIGRACION", "migración"),  # Spanish, case and accents
        ("q=protecao", "proteção"),  # Portuguese
        ("q=%D9%84%D9%84%D9%87%D8%AC%D8%B1%D9%87", "للهجرة"),  # Arabic: ta marbuta folded (للهجره)
        ("q=Amina+village", "Amina"),  # English, every word
    ],
)
def test_keyword_search_in_five_languages(client: TestClient, query: str, word: str) -> None:
    items = client.get(f"/feed.json?{query}").json()["items"]
    assert len(items) == 1
    assert word in items[0]["title"] + items[0]["content_text"]


@pytest.mark.parametrize(
    ("qs", "parameter"),
    [
        ("foo=1", "foo"),
        ("limit=0", "limit"),
        ("limit=201", "limit"),
        ("limit=ten", "limit"),
        ("limit=5&limit=6", "limit"),
        ("lang=xx", "lang"),
        ("type=blog", "type"),
        ("site=atlantis", "site"),
        ("q=" + "x" * 300, "q"),
        ("country=%01", "country"),
    ],
)
def test_bad_parameters_are_400_naming_them(client: TestClient, qs: str, parameter: str) -> None:
    response = client.get(f"/feed.atom?{qs}")
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("text/plain")
    assert f"'{parameter}'" in response.text
    api = client.get(f"/api/releases?{qs}")
    assert api.status_code == 400 and api.json()["parameter"] == parameter
    assert client.get(f"/?{qs}").status_code == 400


def test_api_pages_with_total_and_links(client: TestClient) -> None:
    first = client.get("/api/releases?per_page=3").json()
    assert first["total"] == 7 and first["page"] == 1 and len(first["items"]) == 3
    assert first["prev"] is None
    second = client.get(first["next"].removeprefix(BASE_URL)).json()
    third = client.get(second["next"].removeprefix(BASE_URL)).json()
    assert third["next"] is None and len(third["items"]) == 1
    ids = [i["id"] for page in (first, second, third) for i in page["items"]]
    assert len(set(ids)) == 7
    assert client.get("/api/releases?per_page=3&page=2").json()["items"] == second["items"]
    assert client.get("/api/releases?limit=3&offset=3").json()["items"] == second["items"]
    assert client.get("/api/releases?page=1&offset=3").status_code == 400
    item = first["items"][0]
    for key in (
        "id",
        "url",
        "site",
        "country",
        "lang",
        "type",
        "title",
        "published",
        "first_seen",
        "updated",
        "body_text",
        "summary",
        "translations",
    ):
        assert key in item
    filtered = client.get("/api/releases?lang=ar").json()
    assert filtered["total"] == 1 and filtered["query"] == {"lang": ["ar"]}


def test_release_page_and_404(client: TestClient, seeded: Store) -> None:
    release = next(
        r
        for r in seeded.query_releases(__import__("crawler.store").store.ReleaseQuery())
        if r.lang == "ar"
    )
    page = client.get(f"/releases/{release.id}")
    assert page.status_code == 200 and page.headers["content-type"] == "text/html; charset=utf-8"
    assert '<html lang="ar" dir="rtl">' in page.text
    assert client.get("/releases/no-such-id").status_code == 404
    assert client.get("/no/such/page").status_code == 404


def test_index_lists_sites_latest_and_autodiscovery(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200
    for media_type in FORMATS.values():
        assert f'<link rel="alternate" type="{media_type}"' in page.text
    assert "OIM Mali" in page.text and "Réintégration durable" in page.text
    assert 'lang="ar" dir="rtl"' in page.text
    filtered = client.get("/?country=Mali")
    assert f'href="{BASE_URL}/feed.atom?country=Mali"' in filtered.text


def test_opml_lists_a_feed_per_site_country_and_language(client: TestClient) -> None:
    response = client.get("/opml")
    assert response.headers["content-type"] == "text/x-opml; charset=utf-8"
    root = ET.fromstring(response.content)
    urls = [o.get("xmlUrl") for o in root.iter("outline") if o.get("xmlUrl")]
    assert f"{BASE_URL}/feed.atom" in urls
    for query in (
        "site=mali",
        "site=global",
        "country=Egypt",
        "region=South+America",
        "lang=ar",
        "lang=pt",
    ):
        assert f"{BASE_URL}/feed.atom?{query}" in urls
    groups = [o.get("text") for o in present(root.find("body"))]
    assert groups == ["All", "Sites", "Countries", "Regions", "Languages"]
    for url in urls:  # every listed feed is served and valid
        assert client.get(present(url).removeprefix(BASE_URL)).status_code == 200


def test_status_json_and_html(seeded: Store) -> None:
    run = seeded.start_run("mali")
    seeded.finish_run(
        run, RunStats(pages=4, items=3, new=2, errors=1, coverage={"title": 3, "published": 2})
    )

    def hook() -> dict[str, object]:
        return {"running": ["egypt"], "sites": {"mali": {"next_run": "2024-05-11T10:00:00+00:00"}}}

    client = make_client(seeded, status=hook)
    data = client.get("/status", headers={"Accept": "application/json"}).json()
    mali = next(s for s in data["sites"] if s["id"] == "mali")
    assert mali["last_run"]["pages"] == 4 and mali["last_run"]["new"] == 2
    assert mali["last_run"]["errors"] == 1 and mali["last_run"]["coverage"]["title"] == 3
    assert mali["last_run"]["duration"] is not None and mali["releases"] == 1
    assert mali["seconds_since_last_new"] >= 0 and mali["next_run"].startswith("2024")
    assert data["running"] == ["egypt"]
    html = client.get("/status")
    assert html.headers["content-type"] == "text/html; charset=utf-8"
    assert "OIM Mali" in html.text and "title 3" in html.text


def test_status_survives_a_failing_hook(seeded: Store) -> None:
    def broken() -> dict[str, object]:
        raise RuntimeError("scheduler gone")

    client = make_client(seeded, status=broken)
    data = client.get("/status?format=json").json()
    assert "scheduler gone" in data["scheduler_error"]
    assert client.get("/status").status_code == 200


def test_metrics(client: TestClient, seeded: Store) -> None:
    seeded.finish_run(seeded.start_run("egypt"), RunStats(pages=1), status="failed", reason="boom")
    client.get("/feed.atom")
    client.get("/feed.atom")
    text = client.get("/metrics").text
    assert 'iomwatch_releases{site="global"} 3.0' in text
    assert 'iomwatch_crawl_runs_total{site="egypt",status="failed"} 1.0' in text
    assert 'iomwatch_http_requests_total{method="GET",route="/feed.atom",status="200"} 2.0' in text
    assert 'iomwatch_feed_render_cache_total{result="hit"}' in text


def test_healthz_on_an_empty_store(sqlite_store: Store) -> None:
    client = make_client(sqlite_store)
    assert client.get("/healthz").json() == {"status": "ok"}
    for fmt in FORMATS:
        CHECKS[fmt](client.get(f"/feed.{fmt}").content)
    assert client.get("/").status_code == 200
    assert client.get("/status").status_code == 200


def test_head_gzip_and_cache_headers(sqlite_client: TestClient) -> None:
    head = sqlite_client.head("/feed.atom")
    get = sqlite_client.get("/feed.atom", headers={"Accept-Encoding": "identity"})
    assert head.status_code == 200 and head.content == b""
    assert head.headers["etag"] == get.headers["etag"]
    assert get.headers["cache-control"] == "public, max-age=300"
    assert "last-modified" in get.headers
    zipped = sqlite_client.get("/feed.atom", headers={"Accept-Encoding": "gzip"})
    assert zipped.headers["content-encoding"] == "gzip"
    assert "accept-encoding" in zipped.headers["vary"].lower()
    assert zipped.content == get.content  # httpx decodes; the bytes are the same feed
    assert gzip.compress(get.content)  # and compressible, which is the point
    assert json.loads(sqlite_client.get("/feed.json").content)["items"]
