"""Request-level concerns: conditional requests so an unchanged listing costs one 304."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from scrapy import signals
from scrapy.http import Request, Response

from crawler.extensions import StoreExtension, crawl_outcome, shared_store

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from scrapy.statscollectors import StatsCollector

logger = logging.getLogger(__name__)

# Request.meta["conditional"]: "listing" -> a 304 reaches the spider (nothing new, stop there);
# "cache" -> a 304 is answered with the body stored last time (robots.txt).
CONDITIONAL = "conditional"
ROBOTS_MAXSIZE = 512 * 1024  # Google reads the first 500 KiB of a robots.txt; so do we


class ConditionalRequestMiddleware:
    """Adds If-None-Match / If-Modified-Since from the store; remembers validators of 200s.

    A listing's validators are only kept pending here until the crawl closes, and saved only if
    it finished cleanly (`crawl_outcome`), so a crash mid-crawl never hides a release behind a
    304. `Cache-Control: max-age=0` makes any cache between us and the site revalidate too.
    """

    def __init__(self, stores: StoreExtension, stats: StatsCollector) -> None:
        self.stores = stores
        self.stats = stats
        self.pending_validators: dict[str, tuple[str | None, str | None]] = {}

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ConditionalRequestMiddleware:
        middleware = cls(shared_store(crawler), crawler.stats)
        crawler.signals.connect(middleware.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(middleware.spider_closed, signal=signals.spider_closed)
        return middleware

    def spider_opened(self) -> None:
        self.stores.acquire(self)

    def spider_closed(self, reason: str) -> None:
        """Save the listings' validators if nothing failed; then let the store go."""
        try:
            if crawl_outcome(self.stats.get_stats(), reason).clean:
                for url, (etag, last_modified) in self.pending_validators.items():
                    self.stores.store.set_validators(url, etag, last_modified)
        finally:
            self.stores.release(self)

    @staticmethod
    def mode(request: Request) -> str | None:
        if request.url.endswith("/robots.txt"):
            return "cache"
        return request.meta.get(CONDITIONAL)

    def process_request(self, request: Request) -> None:
        mode = self.mode(request)
        if mode is None:
            return
        if mode == "cache":
            request.meta.setdefault("download_maxsize", ROBOTS_MAXSIZE)
        known = self.stores.store.get_validators(request.url)
        request.headers["Cache-Control"] = "max-age=0"
        if known is None:
            return
        etag, last_modified, _body = known
        if etag:
            request.headers["If-None-Match"] = etag
        if last_modified:
            request.headers["If-Modified-Since"] = last_modified

    def process_response(self, request: Request, response: Response) -> Response:
        mode = self.mode(request)
        if mode is None:
            return response
        if response.status == 304:
            return self._not_modified(request, response, mode)
        if response.status != 200:
            return response
        etag = _header(response, b"ETag")
        last_modified = _header(response, b"Last-Modified")
        if not (etag or last_modified):
            return response
        if mode == "cache":
            self.stores.store.set_validators(request.url, etag, last_modified, response.body)
        else:
            self.pending_validators[request.url] = (etag, last_modified)
        return response

    def _not_modified(self, request: Request, response: Response, mode: str) -> Response:
        self.stats.inc_value("iomwatch/not_modified")
        if mode != "cache":
            return response
        known = self.stores.store.get_validators(request.url)
        if known is None or known[2] is None:
            return response
        return response.replace(status=200, body=known[2], flags=[*response.flags, "revalidated"])


def _header(response: Response, name: bytes) -> str | None:
    value: Any = response.headers.get(name)
    return value.decode("latin-1") if value else None
