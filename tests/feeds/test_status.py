"""/status (HTML table and JSON) and /metrics (Prometheus text, parsed with prometheus_client)
over a real socket, on SQLite and PostgreSQL: run history, failures in a row, the scheduler's
next run, publication latency, and histograms of crawls, deliveries and the outbox."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import httpx
from lxml import html
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import event, update

from crawler.items import Release
from crawler.sites import Site
from crawler.store import RunStats, Store, SubscriberSpec
from crawler.store.schema import crawl_runs, utcnow
from feeds.app import FeedService, create_app
from tests.feeds.conftest import BASE_URL, make_app, serve

HOSTILE_REASON = '<script>alert("reason")</script> listing 503'


@contextmanager
def browsing(store: Store, **kwargs: object) -> Iterator[httpx.Client]:
    with serve(make_app(store, **kwargs)) as url, httpx.Client(base_url=url, timeout=20) as http:
        yield http


def finished(
    store: Store, site: str, status: str = "ok", *, duration: float = 1.0, **stats: Any
) -> None:
    run_id = store.start_run(site)
    reason = HOSTILE_REASON if status == "failed" else None
    store.finish_run(run_id, RunStats(**stats), status=status, reason=reason)
    with store.engine.begin() as conn:
        conn.execute(update(crawl_runs).where(crawl_runs.c.id == run_id).values(duration=duration))


def release(n: int, hours_ago: float) -> Release:
    return Release(
        url=f"https://mali.iom.int/fr/news/s{n}",
        site="mali",
        lang="fr",
        title=f"Communiqué {n}",
        published=utcnow() - timedelta(hours=hours_ago),
        country="Mali",
        body_text=f"Texte {n}.",
    )


def watched(store: Store) -> Store:
    """Mali: two good runs then two failures, alerts sent 1 and 3 hours after publication;
    Egypt: one good run; the rest never crawled."""
    finished(store, "mali", pages=3, items=2, new=2, coverage={"published": 2, "title": 2})
    finished(store, "mali", pages=2, items=1, new=1, duration=20.0, coverage={"published": 1})
    finished(store, "mali", "failed", errors=4, duration=200.0)
    finished(store, "mali", "failed", errors=1, duration=0.2)
    finished(store, "egypt", items=0)
    store.save_release(release(0, 24 * 60))  # the first crawl's backfill: no alert, not counted
    store.add_subscriber(SubscriberSpec("a@example.org"))
    store.save_release(release(1, 1.0))
    store.save_release(release(2, 3.0))
    now = utcnow()
    rows = store.claim_due("email", now=now, limit=10, lease_seconds=60)
    assert len(rows) == 2
    store.mark_sent([r.id for r in rows], at=now)
    store.save_release(release(3, 0.4))  # its alert still waits
    return store


def hook() -> dict[str, object]:
    return {
        "running": [],
        "sites": {
            "mali": {"next_run": "2024-05-11T10:00:00+00:00", "backoff": "4 min"},
            "egypt": {"next_run": "2024-05-11T10:30:00+00:00"},
        },
    }


def test_status_json_keeps_its_keys_and_adds_history_and_latency(store: Store) -> None:
    watched(store)
    with browsing(store, status=hook) as http:
        response = http.get("/status", headers={"Accept": "application/json"})
        assert response.headers["content-type"].startswith("application/json")
        data = response.json()
    assert {"now", "releases", "sites", "running"} <= set(data) and data["releases"] == 4
    sites = {row["id"]: row for row in data["sites"]}
    assert list(sites)[:5] == ["mali", "egypt", "mexico", "brazil", "global"]  # registry order
    mali = sites["mali"]
    for key in ("name", "base_url", "releases", "last_new", "seconds_since_last_new", "last_run"):
        assert key in mali
    assert mali["last_run"]["status"] == "failed" and mali["last_run"]["errors"] == 1
    assert mali["consecutive_failures"] == 2 and len(mali["history"]) == 4
    assert [run["status"] for run in mali["history"]] == ["failed", "failed", "ok", "ok"]
    assert mali["field_coverage"] == {"published": 1.0, "title": round(2 / 3, 4)}
    assert mali["next_run"].startswith("2024-05-11T10:00") and mali["backoff"] == "4 min"
    latency = mali["latency"]
    # Releases 1 and 2 alerted 1 h and 3 h after their date; 3 measured to first seen (0.4 h).
    assert latency["count"] == 3 and latency["alerted"] == 2
    assert abs(latency["median"] - 3600) < 120
    assert abs(latency["p90"] - 2.6 * 3600) < 120  # between 1 h and 3 h, at 0.8 of the way
    assert sites["egypt"]["consecutive_failures"] == 0 and sites["egypt"]["latency"] is None
    assert sites["mexico"]["last_run"] is None and sites["mexico"]["history"] == []


def test_status_html_table(store: Store) -> None:
    watched(store)
    with browsing(store, status=hook) as http:
        response = http.get("/status", headers={"Accept": "text/html"})
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert "<script>alert" not in response.text
    document: html.HtmlElement = html.document_fromstring(response.text)
    assert not document.xpath("//script")
    header = [th.text_content() for th in document.xpath('//table[@id="status"]/thead//th')]
    for column in ("Site", "Last run", "Status", "Next run", "New", "Errors", "Failures in a row"):
        assert column in header
    assert "Latency (median · p90)" in header

    def cells(site: str) -> dict[str, str]:
        row = document.xpath(f'//tr[@id="site-{site}"]')[0]
        values = [" ".join(td.text_content().split()) for td in row.xpath("./td")]
        spread = []
        for td, value in zip(row.xpath("./td"), values, strict=True):
            spread += [value] * int(td.get("colspan", "1"))
        return dict(zip(header, spread, strict=True))

    mali = cells("mali")
    assert mali["Status"].startswith("failed: <script>alert")  # shown as text, escaped
    assert mali["Next run"] == "2024-05-11T10:00:00+00:00" and mali["Backoff"] == "4 min"
    assert mali["New"] == "0" and mali["Errors"] == "1" and mali["Failures in a row"] == "2"
    assert mali["Latency (median · p90)"].startswith("1 h · 2 h")  # p90 of 0.4, 1, 3 h: 2.6 h
    assert mali["Field coverage"] == "(last 4 runs: published 100 %, title 67 %)"
    egypt = cells("egypt")
    assert egypt["Status"] == "ok" and egypt["Failures in a row"] == "0"
    assert egypt["Latency (median · p90)"] == "—"
    assert cells("mexico")["Last run"] == "no crawl yet"


def test_status_costs_the_same_queries_for_5_or_150_sites(sqlite_store: Store) -> None:
    watched(sqlite_store)
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(args[2])

    def queries(sites: int) -> int:
        registry = [Site(f"site{i}", f"https://s{i}.iom.int", ("en",)) for i in range(sites)]
        for i in range(sites):
            finished(sqlite_store, f"site{i}")
        app = create_app(FeedService(sqlite_store, registry, base_url=BASE_URL))
        with serve(app) as url, httpx.Client(base_url=url, timeout=20) as http:
            statements.clear()
            event.listen(sqlite_store.engine, "before_cursor_execute", count)
            try:
                assert http.get("/status?format=json").status_code == 200
            finally:
                event.remove(sqlite_store.engine, "before_cursor_execute", count)
        return len(statements)

    few, many = queries(5), queries(150)
    assert few == many and few <= 6, statements


def metrics(http: httpx.Client) -> dict[str, Any]:
    response = http.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    return {family.name: family for family in text_string_to_metric_families(response.text)}


def samples(family: Any, name: str, **labels: str) -> dict[str, float]:
    """`le` -> value of a histogram's buckets (or '' -> value) with these labels."""
    return {
        s.labels.get("le", ""): s.value
        for s in family.samples
        if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
    }


def test_metrics_histograms(store: Store) -> None:
    watched(store)
    rows = store.claim_due("email", now=utcnow(), limit=10, lease_seconds=0)
    store.claim_due("email", now=utcnow() + timedelta(seconds=1), limit=10, lease_seconds=0)
    store.mark_dead([r.id for r in rows], error="refused")  # the waiting row, given up on try 2
    store.save_release(release(4, 0.1))  # a new row that waits
    with browsing(store) as http:
        http.get("/feed.atom")
        found = metrics(http)
    # Existing metrics are kept.
    assert samples(found["iomwatch_releases"], "iomwatch_releases", site="mali")[""] == 5
    runs = found["iomwatch_crawl_runs"]
    assert samples(runs, "iomwatch_crawl_runs_total", site="mali", status="failed")[""] == 2
    assert "iomwatch_http_requests" in found

    durations = found["iomwatch_crawl_duration_seconds"]
    assert durations.type == "histogram"  # a gauge histogram in the 0.0.4 text format
    buckets = samples(durations, "iomwatch_crawl_duration_seconds_bucket")
    # 0.2, 1, 1, 20 and 200 seconds
    assert buckets["0.1"] == 0 and buckets["0.25"] == 1 and buckets["1.0"] == 3
    assert buckets["30.0"] == 4 and buckets["120.0"] == 4 and buckets["+Inf"] == 5
    total = found["iomwatch_crawl_duration_seconds_gsum"].samples[0].value
    assert abs(total - 222.2) < 1e-6

    streaks = found["iomwatch_site_consecutive_failures"]
    assert samples(streaks, "iomwatch_site_consecutive_failures", site="mali")[""] == 2

    attempts = found["iomwatch_delivery_attempts"]
    sent = samples(attempts, "iomwatch_delivery_attempts_bucket", channel="email", state="sent")
    assert sent["1.0"] == 2 and sent["+Inf"] == 2
    dead = samples(attempts, "iomwatch_delivery_attempts_bucket", channel="email", state="dead")
    assert dead["1.0"] == 0 and dead["2.0"] == 1

    waiting = found["iomwatch_outbox_waiting_age_seconds"]
    assert waiting.type == "histogram"  # a gauge histogram in the 0.0.4 text format
    ages = samples(waiting, "iomwatch_outbox_waiting_age_seconds_bucket", channel="email")
    assert ages["60.0"] == 1 and ages["+Inf"] == 1
    assert found["iomwatch_outbox_waiting_age_seconds_gcount"].samples[0].value == 1

    latency = found["iomwatch_publication_latency_seconds"]
    by_site = samples(latency, "iomwatch_publication_latency_seconds_bucket", site="mali")
    # 0.1 h and 0.4 h (to first seen), just over 1 h and 3 h (to the alert).
    assert by_site["300.0"] == 0 and by_site["900.0"] == 1 and by_site["1800.0"] == 2
    assert by_site["3600.0"] == 2 and by_site["10800.0"] == 3 and by_site["21600.0"] == 4
    assert by_site["+Inf"] == 4
    median = found["iomwatch_publication_latency_median_seconds"]
    assert (
        2400
        < samples(median, "iomwatch_publication_latency_median_seconds", site="mali")[""]
        < 3700
    )


def test_each_app_has_its_own_registry(sqlite_store: Store) -> None:
    watched(sqlite_store)
    with browsing(sqlite_store) as one, browsing(sqlite_store) as two:
        for _ in range(3):
            one.get("/feed.rss")
        first, second = metrics(one), metrics(two)

    def served(found: dict[str, Any]) -> float:
        family = found["iomwatch_http_requests"]
        wanted = samples(family, "iomwatch_http_requests_total", route="/feed.rss", status="200")
        return wanted.get("", 0.0)

    assert served(first) == 3 and served(second) == 0
    # The store's histograms are the same from every app.
    counted = "iomwatch_crawl_duration_seconds_gcount"
    assert second[counted].samples[0].value == 5
    # A run started over a day ago has left the window.
    with sqlite_store.engine.begin() as conn:
        conn.execute(
            update(crawl_runs)
            .where(crawl_runs.c.id == 1)
            .values(started=utcnow() - timedelta(days=3))
        )
    with browsing(sqlite_store) as http:
        assert metrics(http)[counted].samples[0].value == 4


def test_metrics_on_an_empty_store(sqlite_store: Store) -> None:
    with browsing(sqlite_store) as http:
        found = metrics(http)
    buckets = samples(
        found["iomwatch_crawl_duration_seconds"], "iomwatch_crawl_duration_seconds_bucket"
    )
    assert buckets["+Inf"] == 0 and found["iomwatch_crawl_duration_seconds_gcount"]
    assert samples(found["iomwatch_publication_latency_seconds"], "x") == {}
    with browsing(sqlite_store) as http:
        data = http.get("/status?format=json").json()
    assert all(row["latency"] is None and row["history"] == [] for row in data["sites"])
