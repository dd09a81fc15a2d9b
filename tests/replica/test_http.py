"""HTTP behaviour of the replica over real sockets: validators, 304, robots, redirects, stop."""

from __future__ import annotations

import threading

import httpx

from replica import ReplicaServer


def test_listing_has_strong_etag_and_answers_304(replica: ReplicaServer) -> None:
    url = replica.base_url("mali") + "/news"
    with httpx.Client() as client:
        first = client.get(url)
        etag, modified = first.headers["ETag"], first.headers["Last-Modified"]
        assert first.status_code == 200
        assert first.headers["Content-Type"] == "text/html; charset=utf-8"
        assert etag.startswith('"') and not etag.startswith("W/")
        by_tag = client.get(url, headers={"If-None-Match": etag})
        by_date = client.get(url, headers={"If-Modified-Since": modified})
    assert by_tag.status_code == 304 and by_tag.content == b""
    assert by_date.status_code == 304 and by_date.content == b""
    assert [r.status for r in replica.requests if r.site_id == "mali" and r.path == "/news"][
        -2:
    ] == [304, 304]


def test_identity_and_gzip_etags_both_validate(replica: ReplicaServer) -> None:
    url = replica.base_url("global") + "/news"
    plain = httpx.get(url, headers={"Accept-Encoding": "identity"})
    zipped = httpx.get(url, headers={"Accept-Encoding": "gzip"})
    assert zipped.headers["Content-Encoding"] == "gzip"
    assert plain.text == zipped.text
    for tag in (plain.headers["ETag"], zipped.headers["ETag"]):
        assert httpx.get(url, headers={"If-None-Match": tag}).status_code == 304


def test_stale_validators_get_the_page(replica: ReplicaServer) -> None:
    url = replica.base_url("mena") + "/news"
    response = httpx.get(url, headers={"If-None-Match": '"nope"'})
    assert response.status_code == 200 and "news-teaser" in response.text  # plain rows
    old = httpx.get(url, headers={"If-Modified-Since": "Mon, 01 Jan 2001 00:00:00 GMT"})
    assert old.status_code == 200


def test_robots_txt_disallows_search_and_user(replica: ReplicaServer) -> None:
    for site_id in replica.site_ids:
        response = httpx.get(replica.base_url(site_id) + "/robots.txt")
        assert response.status_code == 200
        assert "Disallow: /search" in response.text and "Disallow: /user" in response.text


def test_node_alias_redirects_to_the_slug(replica: ReplicaServer) -> None:
    release = next(r for r in replica.releases("mena") if r.lang == "ar")
    base = replica.base_url("mena")
    response = httpx.get(f"{base}/ar/node/{release.node_id}")
    assert response.status_code == 301
    assert response.headers["Location"] == release.url


def test_unknown_path_is_a_404_with_the_full_template(replica: ReplicaServer) -> None:
    response = httpx.get(replica.base_url("mali") + "/news/no-such-release")
    assert response.status_code == 404
    assert "region-mega-menu" in response.text and "Page introuvable" in response.text


def test_user_agent_is_logged(replica: ReplicaServer) -> None:
    replica.reset_log()
    httpx.get(replica.base_url("brazil") + "/news", headers={"User-Agent": "iomwatch-test/1"})
    (record,) = replica.requests
    assert record.site_id == "brazil" and record.method == "GET" and record.status == 200
    assert record.header("user-agent") == "iomwatch-test/1" and record.bytes_sent > 1000


def test_stop_leaves_no_thread_running() -> None:
    before = set(threading.enumerate())
    server = ReplicaServer(["mali", "colombia"]).start()
    server.start()  # idempotent
    with httpx.Client() as client:  # keep-alive connections stay open until stop()
        client.get(server.base_url("mali") + "/news")
        client.get(server.base_url("colombia") + "/news")
        server.stop()
    assert set(threading.enumerate()) <= before
