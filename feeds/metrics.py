"""Prometheus metrics: request counters (ASGI middleware) and store gauges read at scrape time.

Each app gets its own `CollectorRegistry`, so several apps (tests, bench) never collide.

The histograms of the crawl and the alerts are counted by the database at scrape time
(`crawler.store.health`), not observed in this process: crawls and deliveries happen in other
processes (workers, senders), and the store is what they share. Each describes a recent window
(crawls started and alerts finished in the last day, alerts still waiting, releases of the last
30 days), so they are gauge histograms: counts go down as rows leave the window. Counting every
run ever kept instead read all 1.5 million rows of 180 days' retention per scrape (1.4 s).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeHistogramMetricFamily,
    GaugeMetricFamily,
)
from prometheus_client.registry import Collector

from crawler.store.health import quantile

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

    from crawler.store import Store
    from feeds.caching import RenderCache

CRAWL_SECONDS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)
ATTEMPTS = (1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0)
WAIT_SECONDS = (10.0, 60.0, 300.0, 900.0, 3600.0, 4 * 3600.0, 86400.0, 7 * 86400.0)
LATENCY_SECONDS = (60.0, 300.0, 900.0, 1800.0, 3600.0, 3 * 3600.0, 6 * 3600.0, 86400.0,
                   3 * 86400.0, 7 * 86400.0)  # fmt: skip
LATENCY_WINDOW = timedelta(days=30)
RECENT = timedelta(days=1)  # the window of the crawl-duration and delivery-attempt histograms


def _le(bounds: Sequence[float], counts: Sequence[int], count: int) -> list[tuple[str, float]]:
    """Cumulative (le, count) pairs, +Inf last, as the metric families take them."""
    return [*((str(b), float(c)) for b, c in zip(bounds, counts, strict=True)), ("+Inf", count)]


def _observe(values: Sequence[float], bounds: Sequence[float]) -> list[tuple[str, float]]:
    return _le(bounds, [sum(1 for v in values if v <= b) for b in bounds], len(values))


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


class HealthCollector(Collector):
    """Crawl durations, failures in a row, delivery attempts, outbox ages, publication latency."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def collect(self) -> Iterator[Any]:
        since = datetime.now(UTC) - RECENT
        durations = GaugeHistogramMetricFamily(
            "iomwatch_crawl_duration_seconds", "Duration of the crawl runs of the last day"
        )
        found = self.store.crawl_duration_buckets(CRAWL_SECONDS, since=since)
        durations.add_metric([], _le(found.bounds, found.counts, found.count), found.total)
        yield durations
        streaks = GaugeMetricFamily(
            "iomwatch_site_consecutive_failures",
            "Failed crawls of a site since its last good one (last 2 days)",
            labels=["site"],
        )
        for site, count in sorted(self.store.consecutive_failures().items()):
            streaks.add_metric([site], count)
        yield streaks
        yield self._attempts(since)
        yield self._waiting()
        yield from self._latency()

    def _attempts(self, since: datetime) -> GaugeHistogramMetricFamily:
        attempts = GaugeHistogramMetricFamily(
            "iomwatch_delivery_attempts",
            "Attempts the alerts finished in the last day took, per channel and state (sent, dead)",
            labels=["channel", "state"],
        )
        found = self.store.delivery_attempt_buckets(ATTEMPTS, since=since)
        for (channel, state), buckets in sorted(found.items()):
            attempts.add_metric(
                [channel, state], _le(buckets.bounds, buckets.counts, buckets.count), buckets.total
            )
        return attempts

    def _waiting(self) -> GaugeHistogramMetricFamily:
        ages = GaugeHistogramMetricFamily(
            "iomwatch_outbox_waiting_age_seconds",
            "How long the alerts still to send have waited since queued, per channel",
            labels=["channel"],
        )
        for channel, found in sorted(self.store.waiting_outbox_ages(WAIT_SECONDS).items()):
            ages.add_metric(
                [channel], _le(found.bounds, found.counts, found.count), gsum_value=found.total
            )
        return ages

    def _latency(self) -> Iterator[Any]:
        """The histogram and the median and p90 gauges, from one read of the samples."""
        samples = {
            site: [seconds for seconds, _ in pairs]
            for site, pairs in sorted(self.store.latency_samples(window=LATENCY_WINDOW).items())
        }
        histogram = GaugeHistogramMetricFamily(
            "iomwatch_publication_latency_seconds",
            "Release date to our first alert (else first seen), releases of the last 30 days",
            labels=["site"],
        )
        for site, values in samples.items():
            histogram.add_metric([site], _observe(values, LATENCY_SECONDS), gsum_value=sum(values))
        yield histogram
        for name, q in (("median", 0.5), ("p90", 0.9)):
            gauge = GaugeMetricFamily(
                f"iomwatch_publication_latency_{name}_seconds",
                f"Publication latency per site, {name} over the last 30 days",
                labels=["site"],
            )
            for site, values in samples.items():
                gauge.add_metric([site], quantile(values, q))
            yield gauge


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


# CPU of one crawl in the long-lived worker: an idle check should cost a few tens of ms.
CRAWL_CPU_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class CrawlMetrics:
    """What each crawl cost, as the service's worker reported it (not in the store)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.cpu = Histogram(
            "iomwatch_crawl_cpu_seconds",
            "CPU seconds of one crawl in the crawl worker; idle: no article fetched",
            ["idle"],
            buckets=CRAWL_CPU_BUCKETS,
            registry=registry,
        )

    def observe(self, outcome: Mapping[str, Any]) -> None:
        """One finished crawl (crawler.jobs.CrawlOutcome as a dict); a lost one has no CPU."""
        cpu = outcome.get("cpu_seconds")
        if not isinstance(cpu, int | float) or isinstance(cpu, bool) or cpu <= 0:
            return
        counters = outcome.get("counters") or {}
        idle = "true" if not counters.get("items") else "false"
        self.cpu.labels(idle=idle).observe(float(cpu))


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
