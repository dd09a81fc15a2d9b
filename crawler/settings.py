"""Scrapy settings of the iomwatch crawler.

Module-level names are the project's Scrapy settings (scrapy.cfg points here). The crawl keys a
user may configure travel as one `CrawlOptions` value: the service's `[crawl]` configuration
extends it, and `scrapy_settings()` turns it into Scrapy settings. This module reads the
environment only for IOMWATCH_DATABASE_URL, so Scrapy's own tools find the same store.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from crawler import __version__

CONTACT_URL = "https://github.com/iomwatch/iomwatch"
DEFAULT_USER_AGENT = f"iomwatch/{__version__} (+{CONTACT_URL})"


@dataclass(frozen=True)
class CrawlOptions:
    """What a user may set about a crawl (the `[crawl]` keys the spider and Scrapy read)."""

    max_backfill_pages: int = 5  # listing pages per listing on a site's first crawl
    max_pages: int = 20  # ...and on later crawls (they stop at the first known release anyway)
    timeout_seconds: int = 900  # a crawl still running after this is closed; 0: no limit
    download_timeout: int = 30
    download_delay: float = 1.0
    concurrent_per_host: int = 2
    user_agent: str = DEFAULT_USER_AGENT
    obey_robots: bool = True
    emit_updates: bool = True  # an edited release gives an "updated" event
    recheck_days: float = 14.0  # known releases this young are re-fetched to catch edits...
    recheck_hours: float = 24.0  # ...at most this often


def scrapy_settings(
    options: CrawlOptions, *, database_url: str, backfill_window_hours: float = 24.0
) -> dict[str, Any]:
    """The Scrapy settings of one crawl: its options and the store to write to.

    `backfill_window_hours` is `[alerts]`'s: the crawl queues the alerts of what it stores,
    and a site's first crawl queues only releases published this recently.
    """
    return {
        "IOMWATCH_DATABASE_URL": database_url,
        "IOMWATCH_BACKFILL_WINDOW_HOURS": backfill_window_hours,
        "IOMWATCH_MAX_BACKFILL_PAGES": options.max_backfill_pages,
        "IOMWATCH_MAX_PAGES": options.max_pages,
        "IOMWATCH_EMIT_UPDATES": options.emit_updates,
        "IOMWATCH_RECHECK_DAYS": options.recheck_days,
        "IOMWATCH_RECHECK_HOURS": options.recheck_hours,
        "USER_AGENT": options.user_agent,
        "DOWNLOAD_TIMEOUT": options.download_timeout,
        "DOWNLOAD_DELAY": options.download_delay,
        # AutoThrottle starts from the configured delay (it would start from 1 s otherwise).
        "AUTOTHROTTLE_START_DELAY": max(options.download_delay, 0.01),
        "CONCURRENT_REQUESTS_PER_DOMAIN": options.concurrent_per_host,
        "ROBOTSTXT_OBEY": options.obey_robots,
        "CLOSESPIDER_TIMEOUT": options.timeout_seconds,
    }


BOT_NAME = "iomwatch"
SPIDER_MODULES = ["crawler.spiders"]
NEWSPIDER_MODULE = "crawler.spiders"

# Politeness: at most 2 requests at a time per host (concurrent_per_host). AutoThrottle adapts
# the delay; its start delay is kept low because it never lowers the delay on 304s (an idle
# re-check of 45 listings took ~225 s with the default 5 s start delay).
CONCURRENT_REQUESTS = 16
# Scrapy starts CONCURRENT_ITEMS asyncio workers for every response's output: 100 (the
# default) cost ~3 ms of CPU a page, and the pipelines are synchronous (no concurrency to
# gain). Kept above a listing page's outputs (its entries and next page), so a listing's
# requests still reach the scheduler in one go, in the order the default gives them.
CONCURRENT_ITEMS = 32
# Scrapy reads a callback's source (inspect.getsource, then a scan of sys.modules) for every
# response to warn about a generator that returns a value: its cache is keyed on the bound
# method, new with every request. ~0.5 ms of CPU a page, for a warning aimed at spider authors.
WARN_ON_GENERATOR_RETURN_VALUE = False
AUTOTHROTTLE_ENABLED = True
AUTOTHROTTLE_MAX_DELAY = 30.0
AUTOTHROTTLE_TARGET_CONCURRENCY = 1.0

# Listings and articles are bounded (robots.txt smaller: ConditionalRequestMiddleware). A real
# IOM page weighs 50-300 KB; one over the bound is stored from its listing entry ("oversize").
DOWNLOAD_MAXSIZE = 4 * 1024 * 1024
DOWNLOAD_WARNSIZE = 1024 * 1024
RETRY_ENABLED = True
RETRY_TIMES = 2
REDIRECT_MAX_TIMES = 5
COOKIES_ENABLED = False
TELNETCONSOLE_ENABLED = False
HTTPCACHE_ENABLED = False  # conditional requests are ours: ConditionalRequestMiddleware
LOG_LEVEL = "INFO"
TWISTED_REACTOR = "twisted.internet.asyncioreactor.AsyncioSelectorReactor"
REQUEST_FINGERPRINTER_IMPLEMENTATION = "2.7"

# Scrapy imports every component its lists name, enabled or not, before it asks (it loads each
# key to compare them): these were ~10 MB of a crawl worker's memory (the aiohttp web server,
# tldextract, twisted.conch), so crawler.run.project_settings takes them out of Scrapy's base
# lists (this module cannot: the service imports it, and must not import Scrapy). Remote
# control (Scrapy 2.19, on by default) would also start, per crawl, a server that runs posted
# code; cookies are off (COOKIES_ENABLED) and so is the telnet console (TELNETCONSOLE_ENABLED).
REMOTE_CONTROL_ENABLED = False
IOMWATCH_SKIPPED_COMPONENTS = {  # Scrapy setting -> components it never loads
    "EXTENSIONS_BASE": (
        "scrapy.extensions.remote_control.RemoteControl",
        "scrapy.extensions.telnet.TelnetConsole",
    ),
    "DOWNLOADER_MIDDLEWARES_BASE": ("scrapy.downloadermiddlewares.cookies.CookiesMiddleware",),
}
EXTENSIONS = {
    "crawler.extensions.StoreExtension": 100,
    "crawler.extensions.CrawlRunExtension": 200,
}
DOWNLOADER_MIDDLEWARES = {
    "crawler.middlewares.ConditionalRequestMiddleware": 560,
}
ITEM_PIPELINES = {
    "crawler.pipelines.BoilerplatePipeline": 300,
    "crawler.pipelines.XmlSafeTextPipeline": 400,
    "crawler.tags.CountryPipeline": 450,
    "crawler.pipelines.ValidationPipeline": 500,
    "crawler.pipelines.StorePipeline": 600,
}

# The options' defaults as module-level settings (USER_AGENT, DOWNLOAD_DELAY, IOMWATCH_*...),
# written by scrapy_settings() so that the option -> setting mapping exists once.
globals().update(
    scrapy_settings(
        CrawlOptions(),
        database_url=os.environ.get("IOMWATCH_DATABASE_URL", "sqlite:///./data/iomwatch.db"),
    )
)
