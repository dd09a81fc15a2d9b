"""`iomwatch_crawl_cpu_seconds`: what each crawl cost in the worker, by idle or not, on
/metrics over a real socket, parsed back with prometheus_client's own parser."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

from crawler.store import Store
from feeds.app import FeedService, create_app
from tests.feeds.conftest import BASE_URL, SITES, serve


def _samples(text: str) -> dict[tuple[str, str, str], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        if family.name == "iomwatch_crawl_cpu_seconds":
            for sample in family.samples:
                key = (sample.name, sample.labels.get("idle", ""), sample.labels.get("le", ""))
                found[key] = sample.value
    return found


def test_each_crawl_cpu_is_observed_idle_or_not(sqlite_store: Store) -> None:
    service = FeedService(sqlite_store, SITES, base_url=BASE_URL)
    idle = {"status": "ok", "cpu_seconds": 0.06, "counters": {"items": 0, "not_modified": 4}}
    busy = {"status": "ok", "cpu_seconds": 1.7, "counters": {"items": 12, "new": 12}}
    lost = {"status": "failed", "reason": "the crawl worker was killed", "counters": {}}
    for outcome in (idle, idle, busy, lost):
        service.crawl_metrics.observe(outcome)
    with serve(create_app(service)) as url:
        text = httpx.get(f"{url}/metrics", timeout=10).text
    found = _samples(text)
    assert found[("iomwatch_crawl_cpu_seconds_count", "true", "")] == 2
    assert found[("iomwatch_crawl_cpu_seconds_count", "false", "")] == 1  # the lost one: none
    assert found[("iomwatch_crawl_cpu_seconds_bucket", "true", "0.1")] == 2
    assert found[("iomwatch_crawl_cpu_seconds_bucket", "false", "1.0")] == 0
    assert found[("iomwatch_crawl_cpu_seconds_bucket", "false", "2.5")] == 1
    assert abs(found[("iomwatch_crawl_cpu_seconds_sum", "true", "")] - 0.12) < 1e-9
