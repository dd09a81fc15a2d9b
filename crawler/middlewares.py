"""Request-level concerns: conditional requests so an unchanged listing costs one 304."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from scrapy.http import Request, Response

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

    from crawler.store import Store

logger = logging.getLogger(__name__)

# Request.meta["conditional"]: "listing" -> a 304 reaches the spider (nothing new, stop there);
# "cache" -> a 304 is answered with the body stored last time (robots.txt).
CONDITIONAL = "conditional"


class ConditionalRequestMiddleware:
    """Adds If-None-Match / If-Modified-Since from the store; remembers validators of 200s.

    Listing validators are only *proposed* here (spider.pending_validators): the spider saves
    them once the crawl finished cleanly, so a crash mid-crawl never hides a release behind a 304.
    `Cache-Control: max-age=0` makes any cache between us and the site revalidate too.
    """

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ConditionalRequestMiddleware:
        return cls(crawler)

    @property
    def store(self) -> Store:
        return self.crawler.spider.store  # type: ignore[union-attr,no-any-return]

    @staticmethod
    def mode(request: Request) -> str | None:
        if request.url.endswith("/robots.txt"):
            return "cache"
        return request.meta.get(CONDITIONAL)

    def process_request(self, request: Request) -> None:
        if self.mode(request) is None:
            return
        known = self.store.get_validators(request.url)
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
            self.store.set_validators(request.url, etag, last_modified, response.body)
        else:
            pending: dict[str, tuple[str | None, str | None]] = getattr(
                self.crawler.spider, "pending_validators", {}
            )
            pending[request.url] = (etag, last_modified)
        return response

    def _not_modified(self, request: Request, response: Response, mode: str) -> Response:
        stats = self.crawler.stats
        if stats is not None:
            stats.inc_value("iomwatch/not_modified")
        if mode != "cache":
            return response
        known = self.store.get_validators(request.url)
        if known is None or known[2] is None:
            return response
        return response.replace(status=200, body=known[2], flags=[*response.flags, "revalidated"])


def _header(response: Response, name: bytes) -> str | None:
    value: Any = response.headers.get(name)
    return value.decode("latin-1") if value else None
