"""Conditional GET, HEAD and gzip over a real socket: uvicorn on 127.0.0.1:0, httpx as client."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import httpx
import pytest

from crawler.items import Release
from crawler.store import Store
from tests.feeds.conftest import make_app, serve

NEW = Release(
    url="https://mali.iom.int/fr/news/nouvelle",
    site="mali",
    lang="fr",
    title="Nouvelle arrivée",
    published=datetime(2024, 6, 1, tzinfo=UTC),
    country="Mali",
    body_text="Nouveau communiqué.",
)


@pytest.mark.parametrize("path", ["/feed.atom", "/feed.rss", "/feed.json?lang=fr", "/api/releases"])
def test_conditional_get_304_then_new_etag(seeded: Store, path: str) -> None:
    app = make_app(seeded)  # default change_ttl
    with serve(app) as url, httpx.Client(base_url=url, timeout=10) as http:
        first = http.get(path)
        assert first.status_code == 200 and first.content
        etag = first.headers["etag"]
        again = http.get(path, headers={"If-None-Match": etag})
        assert again.status_code == 304
        assert again.content == b""
        assert again.headers["etag"] == etag
        assert "content-type" not in again.headers or again.headers.get("content-length") in (
            None,
            "0",
        )
        since = http.get(path, headers={"If-Modified-Since": first.headers["last-modified"]})
        assert since.status_code == 304 and since.content == b""
        seeded.save_release(NEW)
        app.state.service.invalidate()  # what the service does after a publish
        after = http.get(path, headers={"If-None-Match": etag})
        assert after.status_code == 200
        assert after.headers["etag"] != etag
        assert "Nouvelle arrivée" in after.text


def test_head_and_gzip_over_the_wire(seeded: Store) -> None:
    app = make_app(seeded)
    with serve(app) as url, httpx.Client(base_url=url, timeout=10) as http:
        head = http.head("/feed.atom")
        assert head.status_code == 200 and head.content == b""
        assert head.headers["content-type"] == "application/atom+xml; charset=utf-8"
        with http.stream("GET", "/feed.atom", headers={"Accept-Encoding": "gzip"}) as response:
            raw = b"".join(response.iter_raw())
            assert response.headers["content-encoding"] == "gzip"
        assert raw[:2] == b"\x1f\x8b"  # compressed on the wire
        assert http.get("/healthz").json() == {"status": "ok"}


def test_new_release_seen_after_change_ttl_without_invalidation(seeded_sqlite: Store) -> None:
    app = make_app(seeded_sqlite, change_ttl=0.3)
    with serve(app) as url, httpx.Client(base_url=url, timeout=10) as http:
        etag = http.get("/feed.atom").headers["etag"]
        seeded_sqlite.save_release(NEW)
        time.sleep(0.4)
        after = http.get("/feed.atom", headers={"If-None-Match": etag})
        assert after.status_code == 200 and "Nouvelle arrivée" in after.text
