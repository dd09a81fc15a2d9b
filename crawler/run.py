"""Run one crawl of some sites in this process (Scrapy's reactor), and report per site."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from scrapy import signals
from scrapy.crawler import Crawler, CrawlerProcess
from scrapy.settings import Settings

from crawler import settings as default_settings
from crawler.extensions import ARTICLES_UNRESOLVED, CrawlRunExtension, crawl_outcome, run_stats
from crawler.sites import Site
from crawler.spiders.iom import IomSpider
from crawler.store import CrawlRun, RunStats, Store

logger = logging.getLogger(__name__)

RECENT_RUNS = 20  # where a site's own run is looked for: others may have started since
PROGRESS_SECONDS = 0.5  # how often an observer hears the open crawls' counters


@dataclass(frozen=True)
class SiteResult:
    """How one site's crawl ended, judged as its run record is (crawl_outcome's rule)."""

    site: str
    status: str  # "ok", "failed", "skipped"
    reason: str | None
    stats: RunStats
    seconds: float


class CrawlObserver(Protocol):
    """Told how each site's crawl goes (a progress display); called in the reactor's thread."""

    def site_opened(self, site_id: str) -> None: ...

    def site_progress(self, site_id: str, stats: RunStats) -> None: ...

    def site_closed(self, result: SiteResult) -> None: ...


def project_settings(overrides: dict[str, Any], *, log_level: str = "INFO") -> Settings:
    """This project's Scrapy settings (crawler.settings) with a crawl's own on top."""
    settings = Settings()
    settings.setmodule(default_settings, priority="project")
    for name, dropped in default_settings.IOMWATCH_SKIPPED_COMPONENTS.items():
        kept = {k: v for k, v in settings.getdict(name).items() if k not in dropped}
        settings.set(name, kept, priority="project")
    settings.update({**overrides, "LOG_LEVEL": log_level}, priority="cmdline")
    return settings


def crawl_sites(
    sites: Sequence[Site],
    overrides: dict[str, Any],
    *,
    log_level: str = "INFO",
    observer: CrawlObserver | None = None,
) -> dict[str, CrawlRun]:
    """Crawl every site once, concurrently (one spider per site); returns each site's run record.

    `overrides` are Scrapy settings, from `crawler.settings.scrapy_settings()`.

    A site that fails is recorded as failed with its reason; the others complete. A site that
    another process is crawling right now is recorded as skipped. Each site's run is the one
    this process recorded (another process may have recorded a later one meanwhile).
    `observer`, when given, hears each site open, its counters as it goes, and how it ended.
    """
    settings = project_settings(overrides, log_level=log_level)
    # Scrapy owns logging during a crawl: its root handler filters at LOG_LEVEL (a handler
    # configured earlier by the command line would let Scrapy's DEBUG lines through).
    for handler in list(logging.root.handlers):
        logging.root.removeHandler(handler)
    process = CrawlerProcess(settings)
    # An unreachable robots.txt is logged with a traceback by Scrapy; the listing request's
    # own failure (recorded with its reason) already says the site is unreachable.
    logging.getLogger("scrapy.downloadermiddlewares.robotstxt").setLevel(logging.CRITICAL)
    crawlers: dict[str, Crawler] = {}
    for site in sites:
        crawlers[site.id] = process.create_crawler(IomSpider)
        process.crawl(crawlers[site.id], site=site)
    if observer is None:
        process.start()
    else:
        with _Watch(crawlers, observer):
            process.start()
    with Store(settings["IOMWATCH_DATABASE_URL"], migrate=False) as store:
        return own_runs(store, crawlers)


class _Watch:
    """Relays the crawls' Scrapy signals, and their stats every PROGRESS_SECONDS, to an observer.

    Stats are read in the reactor's thread, where they are written: a display refreshing from
    its own thread would iterate a dict that the crawl is growing.
    """

    def __init__(self, crawlers: dict[str, Crawler], observer: CrawlObserver) -> None:
        from twisted.internet import task

        self.crawlers = crawlers
        self.observer = observer
        self.started: dict[str, float] = {}  # the open crawls
        for site_id, crawler in crawlers.items():
            crawler.signals.connect(self._opener(site_id), signal=signals.spider_opened, weak=False)
            crawler.signals.connect(self._closer(site_id), signal=signals.spider_closed, weak=False)
        self.loop = task.LoopingCall(self.tick)

    def __enter__(self) -> _Watch:
        self.loop.start(PROGRESS_SECONDS, now=False).addErrback(
            lambda failure: logger.error("progress display failed: %s", failure.getErrorMessage())
        )
        return self

    def __exit__(self, *exc: object) -> None:
        if self.loop.running:
            self.loop.stop()

    def _opener(self, site_id: str) -> Callable[[], None]:
        def opened() -> None:
            self.started[site_id] = time.monotonic()
            self.observer.site_opened(site_id)

        return opened

    def _closer(self, site_id: str) -> Callable[[str], None]:
        def closed(reason: str) -> None:
            began = self.started.pop(site_id, time.monotonic())
            outcome = crawl_outcome(self.crawlers[site_id].stats.get_stats(), reason)
            self.observer.site_closed(
                SiteResult(
                    site_id,
                    outcome.status,
                    outcome.reason,
                    outcome.stats,
                    time.monotonic() - began,
                )
            )

        return closed

    def tick(self) -> None:
        for site_id in list(self.started):
            stats = dict(self.crawlers[site_id].stats.get_stats())
            # Articles still in flight are errors only once the crawl ends without them.
            stats.pop(ARTICLES_UNRESOLVED, None)
            self.observer.site_progress(site_id, run_stats(stats))


def own_runs(store: Store, crawlers: dict[str, Crawler]) -> dict[str, CrawlRun]:
    """Each site's run as recorded by its crawler (none when its spider never opened)."""
    runs: dict[str, CrawlRun] = {}
    for site_id, crawler in crawlers.items():
        run_id = _run_id(crawler)
        found = [r for r in store.runs(site_id, limit=RECENT_RUNS) if r.id == run_id]
        if found:
            runs[site_id] = found[0]
    return runs


def _run_id(crawler: Crawler) -> int | None:
    try:
        extension = crawler.get_extension(CrawlRunExtension)
    except RuntimeError:  # the crawl never started: its extensions were never built
        return None
    return extension.run_id if extension is not None else None


def latest_runs(store: Store, site_ids: Sequence[str]) -> dict[str, CrawlRun]:
    runs: dict[str, CrawlRun] = {}
    for site_id in site_ids:
        found = store.runs(site_id, limit=1)
        if found:
            runs[site_id] = found[0]
    return runs
