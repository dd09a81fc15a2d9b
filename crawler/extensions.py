"""Crawl-wide extensions: the crawl's one Store, and the record of the run in `crawl_runs`.

Components find the store with `shared_store(crawler)`. A run's outcome (counters, status,
whether it finished cleanly) is read from the crawl's Scrapy stats by `crawl_outcome()`, so the
run record and the listing validators (ConditionalRequestMiddleware) judge a crawl by one rule.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from scrapy import signals
from scrapy.exceptions import CloseSpider, NotConfigured

from crawler.exceptions import CrawlerError
from crawler.store import RunStats, Store

if TYPE_CHECKING:
    from scrapy import Spider
    from scrapy.crawler import Crawler
    from scrapy.statscollectors import StatsCollector
    from twisted.python.failure import Failure

    from crawler.sites import Site

logger = logging.getLogger(__name__)

# Stats the spider keeps for the run record, besides Scrapy's own.
LISTINGS_OK = "iomwatch/listings_ok"
LISTING_ERRORS = "iomwatch/listing_errors"
LISTING_FAILURES = "iomwatch/listing_failures"  # "url: reason" of each failed listing
LISTINGS_PARSED = "iomwatch/listings_parsed"  # listings answered anew (not 304) and parsed
LISTING_ENTRIES = "iomwatch/listing_entries"  # the entries they held
ARTICLES_UNRESOLVED = "iomwatch/articles_unresolved"  # scheduled, neither a response nor an error
COVERAGE_PREFIX = "iomwatch/field/"  # + field name: items where that field was found
ITEM_ERRORS = "iomwatch/item_errors"  # a pipeline raised: the release was not stored
ITEMS_DROPPED = "iomwatch/items_dropped"  # a pipeline dropped it (none does: never silently)
ITEM_FAILURES = "iomwatch/item_failures"  # "url: reason" of the first failed items
EMPTY = "iomwatch/empty"  # releases stored with no extractable text ("empty_body")
GONE = "iomwatch/gone"  # article URLs skipped: a remembered permanent failure (404, 410, robots)
OVERSIZE = "oversize"  # flag and failure reason of a page over the download bound
FAILURE_RETRY = timedelta(days=7)  # a permanent failure is tried again after this
ITEM_FAILURES_KEPT = 3

# Scrapy's close reason of a crawl whose site another process is crawling: the run is "skipped".
LOCKED = "locked"
SKIPPED_REASON = "another crawl of this site is running"
INTERRUPTED_REASON = "interrupted: the process crawling this site died"

# Each RunStats counter is the sum of these stats.
RUN_STATS_KEYS: dict[str, tuple[str, ...]] = {
    "pages": ("response_received_count",),
    "not_modified": ("iomwatch/not_modified",),
    "items": ("item_scraped_count",),
    "new": ("iomwatch/new",),
    "updated": ("iomwatch/updated",),
    # An article that got neither a response nor an error (a redirect loop ends in Scrapy's
    # duplicate filter, silently), or whose item a pipeline failed on (a locked store: Scrapy
    # only logs it), is an error too: else its listing's validators would be saved and the
    # release hidden behind a 304 for good.
    "errors": (
        ARTICLES_UNRESOLVED,
        "iomwatch/article_errors",
        LISTING_ERRORS,
        "spider_exceptions/count",
        ITEM_ERRORS,
        ITEMS_DROPPED,
    ),
    "bytes": ("downloader/response_bytes",),
    "empty": (EMPTY,),
    "gone": (GONE,),
    "listings": (LISTINGS_PARSED,),
    "entries": (LISTING_ENTRIES,),
}


@dataclass(frozen=True)
class CrawlOutcome:
    """How the crawl of one site ended."""

    stats: RunStats
    status: str  # "ok"; "failed": no listing read or not finished; "skipped": site locked
    reason: str | None
    clean: bool  # finished with no error at all: the listings' validators may be saved


def run_stats(stats: Mapping[str, Any]) -> RunStats:
    """The run's counters from the crawl's Scrapy stats."""
    counters = {
        name: sum(int(stats.get(k, 0)) for k in keys) for name, keys in RUN_STATS_KEYS.items()
    }
    coverage = {
        key.removeprefix(COVERAGE_PREFIX): int(value)
        for key, value in stats.items()
        if key.startswith(COVERAGE_PREFIX)
    }
    return RunStats(**counters, coverage=coverage)


def crawl_outcome(stats: Mapping[str, Any], reason: str) -> CrawlOutcome:
    """The outcome of a crawl from its stats and Scrapy's close reason ("finished" if it did)."""
    counters = run_stats(stats)
    if reason == LOCKED:
        return CrawlOutcome(counters, status="skipped", reason=SKIPPED_REASON, clean=False)
    failures: list[str] = stats.get(LISTING_FAILURES, [])
    failed = not stats.get(LISTINGS_OK) and bool(failures)
    finished = reason == "finished"
    why = [*failures, *_item_failures(stats)]
    return CrawlOutcome(
        stats=counters,
        status="ok" if finished and not failed else "failed",
        reason="; ".join(why) or (None if finished else reason),
        clean=finished and not failed and counters.errors == 0,
    )


def _item_failures(stats: Mapping[str, Any]) -> list[str]:
    """The releases not stored, for the run's reason: the first few, and how many in all."""
    failed = int(stats.get(ITEM_ERRORS, 0))
    if not failed:
        return []
    kept: list[str] = stats.get(ITEM_FAILURES, [])
    more = f" (and {failed - len(kept)} more)" if failed > len(kept) else ""
    return [f"{failed} release(s) not stored: {'; '.join(kept)}{more}"]


@runtime_checkable
class SiteSpider(Protocol):
    """A spider that crawls one site (IomSpider): runs and templates are kept per site."""

    site: Site


def crawled_site(spider: Spider | None) -> Site:
    """The site the crawler's spider crawls."""
    if not isinstance(spider, SiteSpider):
        raise CrawlerError(f"spider {spider!r} crawls no site (it has no `site` attribute)")
    return spider.site


class StoreExtension:
    """The crawl's one Store (one connection pool), shared by the spider and its components.

    Each user acquires it when it opens and releases it when it closes; the first acquire opens
    the Store and the last release closes it. No single Scrapy hook spans every user: pipelines
    open before `spider_opened` and close before `spider_closed`, while the run and the listing
    validators are written on `spider_closed`.
    """

    def __init__(
        self,
        database_url: str,
        *,
        backfill_window: timedelta | None = None,
        keep_open: bool = False,
    ) -> None:
        self.database_url = database_url
        self.backfill_window = backfill_window  # None: the store's default
        self.keep_open = keep_open  # a long-lived worker's store outlives each crawl
        self.users: set[object] = set()
        self._store: Store | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> StoreExtension:
        database_url = crawler.settings.get("IOMWATCH_DATABASE_URL")
        if not database_url:
            raise NotConfigured("IOMWATCH_DATABASE_URL is not set")
        hours = crawler.settings.getfloat("IOMWATCH_BACKFILL_WINDOW_HOURS", 24.0)
        return cls(
            database_url,
            backfill_window=timedelta(hours=hours),
            keep_open=crawler.settings.getbool("IOMWATCH_KEEP_STORE_OPEN"),
        )

    @property
    def store(self) -> Store:
        """The open Store, between a user's acquire() and release()."""
        if self._store is None:
            raise CrawlerError("the crawl's store is not open: acquire() it first")
        return self._store

    def acquire(self, user: object) -> Store:
        if self._store is None:
            self._store = (
                kept_store(self.database_url) if self.keep_open else Store(self.database_url)
            )
            if self.backfill_window is not None:  # the alerts this crawl queues honour it
                self._store.backfill_window = self.backfill_window
        self.users.add(user)
        return self._store

    def release(self, user: object) -> None:
        """Let the store go (a user that never acquired it changes nothing)."""
        self.users.discard(user)
        if not self.users and self._store is not None:
            if not self.keep_open:
                self._store.close()
            self._store = None


# A long-lived crawl worker (crawler/worker.py) keeps one Store per database for all its
# crawls: opening one checks the migrations and builds a connection pool, which would
# otherwise be a large part of an idle check's cost.
_KEPT_STORES: dict[str, Store] = {}


def kept_store(database_url: str) -> Store:
    """The process's open Store of a database (opened, and migrated, on first use)."""
    if database_url not in _KEPT_STORES:
        _KEPT_STORES[database_url] = Store(database_url)
    return _KEPT_STORES[database_url]


def close_kept_stores() -> None:
    """Close the stores a worker kept open (at its exit)."""
    while _KEPT_STORES:
        _KEPT_STORES.popitem()[1].close()


def shared_store(crawler: Crawler) -> StoreExtension:
    """The crawl's StoreExtension (built before the spider opens: extensions come first)."""
    found = crawler.get_extension(StoreExtension)
    if found is None:
        raise CrawlerError("StoreExtension is not enabled: set IOMWATCH_DATABASE_URL")
    return found


class CrawlRunExtension:
    """The crawl's row in `crawl_runs`, and its hold on the site.

    When the spider opens it takes the site's lock in the store (one crawl of a site at a time,
    across processes) and starts the run; when another process holds the site, the run is
    recorded as skipped and the spider closed ("locked") before any request. It also counts the
    items a pipeline failed on: Scrapy only logs them, and a release not stored must keep the
    listing's validators from being saved.
    """

    def __init__(self, stats: StatsCollector) -> None:
        self.stats = stats
        self.stores: StoreExtension | None = None  # found when the spider opens: extensions
        self.run_id: int | None = None  # are built together, none can look another up earlier
        self.held = ExitStack()  # the site lock, released when the spider closes

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> CrawlRunExtension:
        extension = cls(crawler.stats)
        crawler.signals.connect(extension.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(extension.spider_closed, signal=signals.spider_closed)
        crawler.signals.connect(extension.item_error, signal=signals.item_error)
        crawler.signals.connect(extension.item_dropped, signal=signals.item_dropped)
        return extension

    def spider_opened(self, spider: Spider) -> None:
        site = crawled_site(spider)
        self.stores = shared_store(spider.crawler)
        store = self.stores.acquire(self)
        locked = self.held.enter_context(store.site_lock(site.id))
        if locked:  # holding the site, a run of it still "running" is a dead process's
            store.abandon_running(site.id, reason=INTERRUPTED_REASON)
        self.run_id = store.start_run(site.id)
        if not locked:
            logger.warning("%s: skipped: %s", site.id, SKIPPED_REASON)
            raise CloseSpider(LOCKED)

    def spider_closed(self, reason: str) -> None:
        if self.stores is None:
            return
        outcome = crawl_outcome(self.stats.get_stats(), reason)
        try:
            if self.run_id is not None:
                self.stores.store.finish_run(
                    self.run_id, outcome.stats, status=outcome.status, reason=outcome.reason
                )
        finally:
            try:
                self.held.close()
            finally:
                self.stores.release(self)

    def item_error(self, item: object, failure: Failure) -> None:
        """A pipeline raised on an item (Scrapy has logged it): count it, keep its reason."""
        self.stats.inc_value(ITEM_ERRORS)
        kept: list[str] = self.stats.get_value(ITEM_FAILURES, [])
        if len(kept) < ITEM_FAILURES_KEPT:
            reason = failure.getErrorMessage()[:300]
            url = getattr(item, "url", "?")
            self.stats.set_value(
                ITEM_FAILURES, [*kept, reason if url in reason else f"{url}: {reason}"]
            )

    def item_dropped(self) -> None:
        self.stats.inc_value(ITEMS_DROPPED)
