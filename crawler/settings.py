"""Scrapy settings of the iomwatch crawler.

Module-level names are Scrapy's defaults for this project (scrapy.cfg points here). The service
passes its own values through `crawl_settings()`; this module reads the environment only for
IOMWATCH_DATABASE_URL, so `scrapy crawl iom` works by hand too.
"""

from __future__ import annotations

import os
from typing import Any

BOT_NAME = "iomwatch"
SPIDER_MODULES = ["crawler.spiders"]
NEWSPIDER_MODULE = "crawler.spiders"

USER_AGENT = "iomwatch/0.1.0 (+https://github.com/iomwatch/iomwatch)"
ROBOTSTXT_OBEY = True

# Politeness: at most 2 requests at a time per host. AutoThrottle adapts the delay; its start
# delay is kept low because it never lowers the delay on 304s (an idle re-check of 45 listings
# took ~225 s with the default 5 s start delay).
CONCURRENT_REQUESTS = 16
CONCURRENT_REQUESTS_PER_DOMAIN = 2
DOWNLOAD_DELAY = 1.0
AUTOTHROTTLE_ENABLED = True
AUTOTHROTTLE_START_DELAY = 1.0
AUTOTHROTTLE_MAX_DELAY = 30.0
AUTOTHROTTLE_TARGET_CONCURRENCY = 1.0

DOWNLOAD_TIMEOUT = 30
DOWNLOAD_MAXSIZE = 20 * 1024 * 1024  # a 50 MB "article" is a broken page, not a release
DOWNLOAD_WARNSIZE = 5 * 1024 * 1024
RETRY_ENABLED = True
RETRY_TIMES = 2
REDIRECT_MAX_TIMES = 5
COOKIES_ENABLED = False
TELNETCONSOLE_ENABLED = False
HTTPCACHE_ENABLED = False  # conditional requests are ours: ConditionalRequestMiddleware
LOG_LEVEL = "INFO"
TWISTED_REACTOR = "twisted.internet.asyncioreactor.AsyncioSelectorReactor"
REQUEST_FINGERPRINTER_IMPLEMENTATION = "2.7"

DOWNLOADER_MIDDLEWARES = {
    "crawler.middlewares.ConditionalRequestMiddleware": 560,
}
ITEM_PIPELINES = {
    "crawler.pipelines.BoilerplatePipeline": 300,
    "crawler.pipelines.ValidationPipeline": 400,
    "crawler.pipelines.StorePipeline": 500,
}

IOMWATCH_DATABASE_URL = os.environ.get("IOMWATCH_DATABASE_URL", "sqlite:///./data/iomwatch.db")
IOMWATCH_MAX_BACKFILL_PAGES = 5
IOMWATCH_MAX_PAGES = 20
IOMWATCH_EMIT_UPDATES = True
IOMWATCH_RECHECK_DAYS = 14.0  # known releases this young are re-fetched to catch edits...
IOMWATCH_RECHECK_HOURS = 24.0  # ...at most this often


def crawl_settings(
    *,
    database_url: str,
    user_agent: str,
    max_backfill_pages: int,
    max_pages: int,
    download_timeout: int,
    download_delay: float,
    concurrent_per_host: int,
    obey_robots: bool = True,
    emit_updates: bool = True,
    timeout_seconds: int = 0,
    recheck_days: float = 14.0,
    recheck_hours: float = 24.0,
) -> dict[str, Any]:
    """Scrapy settings for one crawl, from the service's plain configuration values."""
    return {
        "IOMWATCH_DATABASE_URL": database_url,
        "IOMWATCH_MAX_BACKFILL_PAGES": max_backfill_pages,
        "IOMWATCH_MAX_PAGES": max_pages,
        "IOMWATCH_EMIT_UPDATES": emit_updates,
        "USER_AGENT": user_agent,
        "DOWNLOAD_TIMEOUT": download_timeout,
        "DOWNLOAD_DELAY": download_delay,
        "AUTOTHROTTLE_START_DELAY": max(download_delay, 0.01),
        "CONCURRENT_REQUESTS_PER_DOMAIN": concurrent_per_host,
        "ROBOTSTXT_OBEY": obey_robots,
        "CLOSESPIDER_TIMEOUT": timeout_seconds,
        "IOMWATCH_RECHECK_DAYS": recheck_days,
        "IOMWATCH_RECHECK_HOURS": recheck_hours,
    }
