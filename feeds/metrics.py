"""Prometheus metrics: request counters (ASGI middleware) and store gauges read at scrape time.

Each app gets its own `CollectorRegistry`, so several apps (tests, bench) never collide.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

    from crawler.store import Store
    from feeds.caching import RenderCache


class StoreCollector(Collector):
    """Releases per site, crawl runs per site and status, freshness: read from the store."""

    def __init__(self, store: Store, cache: RenderCache) -> None:
        self.store = store
        self.cache = cache

    def collect(self) -> Iterator[Any]:
        summaries = self.store.site_summaries()
        releases = GaugeMetricFamily(
            "iomwatch_releases", "Releases stored, per site", labels=["site"]
        )
        since = GaugeMetricFamily(
            "iomwatch_seconds_since_last_new_release", "Age of the newest release", labels=["site"]
        )
        now = datetime.now(UTC)
        for site, summary in sorted(summaries.items()):
            releases.add_metric([site], summary["releases"])
            if summary["last_new"] is not None:
                last = summary["last_new"]
                last = last if last.tzinfo else last.replace(tzinfo=UTC)
                since.add_metric([site], (now - last).total_seconds())
        yield releases
        yield since
        runs = CounterMetricFamily(
            "iomwatch_crawl_runs",
            "Crawl runs recorded, per site and status",
            labels=["site", "status"],
        )
        for (site, status), count in self.store.run_counts().items():
            runs.add_metric([site, status], count)
        yield runs
        cache = CounterMetricFamily(
            "iomwatch_feed_render_cache", "Render cache lookups", labels=["result"]
        )
        cache.add_metric(["hit"], self.cache.hits)
        cache.add_metric(["miss"], self.cache.misses)
        yield cache
        held = GaugeMetricFamily(
            "iomwatch_feed_render_cache_bytes", "Bytes of rendered bodies held in the cache"
        )
        held.add_metric([], self.cache.size)
        yield held


class RequestMetrics:
    """The request counter and latency histogram of one app."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "iomwatch_http_requests",
            "HTTP requests served",
            ["route", "method", "status"],
            registry=registry,
        )
        self.latency = Histogram(
            "iomwatch_http_request_duration_seconds",
            "Time to answer an HTTP request",
            ["route"],
            registry=registry,
        )


class MetricsMiddleware:
    """Counts every HTTP request by route template (never raw path: bounded label values)."""

    def __init__(self, app: ASGIApp, metrics: RequestMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            label = getattr(route, "path", None) or "unmatched"
            self.metrics.requests.labels(label, scope["method"], str(status)).inc()
            self.metrics.latency.labels(label).observe(time.perf_counter() - started)
