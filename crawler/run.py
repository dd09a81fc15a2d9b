"""Run one crawl of some sites in this process (Scrapy's reactor), and report per site."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from scrapy.crawler import Crawler, CrawlerProcess
from scrapy.settings import Settings

from crawler import settings as default_settings
from crawler.extensions import CrawlRunExtension
from crawler.sites import Site
from crawler.spiders.iom import IomSpider
from crawler.store import CrawlRun, Store

logger = logging.getLogger(__name__)

RECENT_RUNS = 20  # where a site's own run is looked for: others may have started since


def project_settings(overrides: dict[str, Any], *, log_level: str = "INFO") -> Settings:
    """This project's Scrapy settings (crawler.settings) with a crawl's own on top."""
    settings = Settings()
    settings.setmodule(default_settings, priority="project")
    settings.update({**overrides, "LOG_LEVEL": log_level}, priority="cmdline")
    return settings


def crawl_sites(
    sites: Sequence[Site], overrides: dict[str, Any], *, log_level: str = "INFO"
) -> dict[str, CrawlRun]:
    """Crawl every site once, concurrently (one spider per site); returns each site's run record.

    `overrides` are Scrapy settings, from `crawler.settings.scrapy_settings()`.

    A site that fails is recorded as failed with its reason; the others complete. A site that
    another process is crawling right now is recorded as skipped. Each site's run is the one
    this process recorded (another process may have recorded a later one meanwhile).
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
    process.start()
    with Store(settings["IOMWATCH_DATABASE_URL"], migrate=False) as store:
        return own_runs(store, crawlers)


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
