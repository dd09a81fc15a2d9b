"""The IOM spider: listings (with the Drupal pager) until known releases, then article pages.

One spider instance crawls one site. Each field of a release has its own parse function in
`crawler.parsing.fields`; this module only walks pages and assembles the Release item.

An article that is gone (404, 410) or forbidden by robots.txt is remembered in the store with a
retry-after: later crawls skip it (counted as `gone`, not as an error), so one dead link does not
keep the site's listings from ever answering 304 again. An article over the download bound is
still a release: it is stored from its listing entry (title, date, link) with the "oversize" flag.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import charset_normalizer
import scrapy
from parsel import Selector
from scrapy import signals
from scrapy.exceptions import DownloadCancelledError, IgnoreRequest
from scrapy.http import HtmlResponse, Request, Response, TextResponse
from twisted.internet.defer import CancelledError
from twisted.python.failure import Failure

from crawler.extensions import (
    ARTICLES_UNRESOLVED,
    FAILURE_RETRY,
    GONE,
    LISTING_ERRORS,
    LISTING_FAILURES,
    LISTINGS_OK,
    OVERSIZE,
    shared_store,
)
from crawler.items import Release, listing_page
from crawler.middlewares import CONDITIONAL
from crawler.parsing import fields
from crawler.parsing.fields import ListingEntry
from crawler.parsing.urls import canonical_url

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from scrapy.statscollectors import StatsCollector

    from crawler.sites import Site
    from crawler.store import Store

logger = logging.getLogger(__name__)
# A request that failed (DNS, timeout, 5xx, 404): the crawl's run records it, and the service
# logs a failed crawl once with these reasons; its own logger lets the service quiet it.
request_logger = logging.getLogger(f"{__name__}.requests")

PERMANENT_STATUSES = frozenset({404, 410})
ROBOTS_FORBIDDEN = "forbidden by robots.txt"
EMPTY_PAGE = Selector(text="<html></html>")  # a stub's fields come from its URL and listing
RETRYING = "iomwatch_retrying"  # request meta: the retry of a remembered permanent failure


class IomSpider(scrapy.Spider):
    """Crawls one IOM site: news listings, pagination, article pages.

    It reads the store (which releases are known) and reports what happened in the crawl's
    stats; the run record, validators and template belong to the components that write them.
    """

    name = "iom"

    def __init__(
        self,
        site: Site,
        *,
        max_backfill_pages: int = 5,
        max_pages: int = 20,
        recheck: tuple[timedelta, timedelta] | None = None,
    ) -> None:
        super().__init__(name=self.name)
        self.site = site
        self.max_backfill_pages = max_backfill_pages
        self.max_pages = max_pages
        self.recheck = recheck
        self.first_crawl = False  # known once the spider opens: no release of the site stored
        self.scheduled: set[str] = set()
        self.resolved: set[str] = set()  # scheduled articles that got an item or an error
        self.allowed_domains = [site.host.split(":")[0]]

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, site: Site, **kwargs: Any) -> IomSpider:
        settings = crawler.settings
        spider = cls(
            site,
            max_backfill_pages=settings.getint("IOMWATCH_MAX_BACKFILL_PAGES"),
            max_pages=settings.getint("IOMWATCH_MAX_PAGES"),
            recheck=(
                timedelta(days=settings.getfloat("IOMWATCH_RECHECK_DAYS")),
                timedelta(hours=settings.getfloat("IOMWATCH_RECHECK_HOURS")),
            ),
        )
        spider._set_crawler(crawler)
        crawler.signals.connect(spider.opened, signal=signals.spider_opened)
        return spider

    @property
    def store(self) -> Store:
        return shared_store(self.crawler).store

    @property
    def page_limit(self) -> int:
        """Listing pages to follow per listing: deeper on a site's first crawl."""
        return self.max_backfill_pages if self.first_crawl else self.max_pages

    def opened(self) -> None:
        """On spider_opened: take the crawl's store, and learn whether the site is new to it."""
        store = shared_store(self.crawler).acquire(self)
        self.first_crawl = store.release_count(self.site.id) == 0

    def closed(self, reason: str) -> None:
        """Called by Scrapy on spider_closed."""
        shared_store(self.crawler).release(self)

    async def start(self) -> AsyncIterator[Request]:
        for path in self.site.listing_paths:
            yield self._listing_request(self.site.base_url + path, page=0)
        for url in self._due_for_recheck():
            yield self._refetch_request(url)
        for url in self.store.expired_failures(self.site.id):
            if url not in self.scheduled:  # a young stub (oversize) may be due for both
                yield self._refetch_request(url, retrying=True)

    def _refetch_request(self, url: str, *, retrying: bool = False) -> Request:
        """A known article fetched again without its listing: an edit, or a failure's retry.

        Expired failures are retried here because their listing may keep answering 304 for
        good, and then nothing else would ever fetch the page again.
        """
        self._schedule(url)
        meta = {"entry_url": url, RETRYING: retrying}
        return Request(url, callback=self.parse_article, errback=self.article_failed, meta=meta)

    def _due_for_recheck(self) -> list[str]:
        """Young known releases to fetch again: edits never show on an unchanged listing."""
        if self.recheck is None or self.first_crawl:
            return []
        young, every = self.recheck
        due = self.store.due_for_recheck(self.site.id, young=young, every=every)
        failing = self.store.failing_urls(due)
        return [url for url in due if url not in failing]

    def _listing_request(self, url: str, *, page: int) -> Request:
        return Request(
            url,
            callback=self.parse_listing,
            errback=self.listing_failed,
            dont_filter=page == 0,
            meta={
                CONDITIONAL: "listing" if page == 0 else None,
                "page": page,
                "handle_httpstatus_list": [304],
            },
        )

    def parse_listing(self, response: Response) -> Iterator[Request]:
        """One listing page: new article links, then the next page while new ones may remain."""
        self.stats.inc_value(LISTINGS_OK)
        if response.status == 304 or not isinstance(response, TextResponse):
            return
        self.crawler.signals.send_catch_log(listing_page, html=response.text, url=response.url)
        entries, next_url = fields.parse_listing(response.selector, response.url)
        self.stats.inc_value("iomwatch/listings_parsed")  # the operator alerts read both
        self.stats.inc_value("iomwatch/listing_entries", len(entries))
        known = self.store.known_urls(e.url for e in entries)
        known |= self._gone(e.url for e in entries if e.url not in known)
        for entry in entries:
            if entry.url not in known and entry.url not in self.scheduled:
                self._schedule(entry.url)
                yield self._article_request(entry)
        page = int(response.meta.get("page", 0)) + 1
        if next_url and entries and entries[-1].url not in known and page < self.page_limit:
            yield self._listing_request(next_url, page=page)

    def _gone(self, urls: Iterable[str]) -> set[str]:
        """The new-looking URLs that failed for good lately (404, 410, robots): skipped."""
        gone = self.store.failing_urls(urls)
        if gone:
            self.stats.inc_value(GONE, len(gone))
            logger.info(
                "%s: skipped %d article(s) that failed for good lately", self.site.id, len(gone)
            )
        return gone

    def _schedule(self, url: str) -> None:
        self.scheduled.add(url)
        self.stats.inc_value(ARTICLES_UNRESOLVED)

    def _resolve(self, url: str) -> None:
        """An article got its item or its error (each scheduled article is resolved once)."""
        if url in self.scheduled and url not in self.resolved:
            self.resolved.add(url)
            self.stats.inc_value(ARTICLES_UNRESOLVED, -1)

    def _article_request(self, entry: ListingEntry) -> Request:
        return Request(
            entry.url,
            callback=self.parse_article,
            errback=self.article_failed,
            meta={
                "listing_date": entry.date_text,
                "listing_title": entry.title,
                "entry_url": entry.url,
            },
        )

    def parse_article(self, response: Response) -> Iterator[Release]:
        """An article page -> a Release with every field; the body is filled by the pipelines."""
        self._resolve(response.meta.get("entry_url", response.url))
        if not isinstance(response, HtmlResponse):
            self.stats.inc_value("iomwatch/not_html")
            logger.warning("%s: %s is not an HTML page", self.site.id, response.url)
            return
        yield self.build_release(response)

    def build_release(self, response: HtmlResponse) -> Release:
        url = response.url
        html = fields.decode_cloudflare_emails(decoded_text(response))
        sel = Selector(text=html) if html != response.text else response.selector
        lang = fields.parse_language(sel, url, self.site.languages)
        redirects = response.meta.get("redirect_urls") or [url]
        return Release(
            url=fields.parse_canonical_url(sel, url),
            fetched_url=canonical_url(redirects[0]),
            site=self.site.id,
            lang=lang,
            title=fields.parse_title(sel),
            published=fields.parse_published(
                sel, lang, response.meta.get("listing_date"), reference=datetime.now(UTC).date()
            ),
            type=fields.parse_type(sel, url),
            country=self.site.country,
            region=self.site.region,
            node_id=fields.parse_node_id(sel),
            image_url=fields.parse_image(sel, url),
            attachments=fields.parse_attachments(sel, url),
            translations=fields.parse_translations(sel, url),
            raw_html=html,
        )

    @property
    def stats(self) -> StatsCollector:
        return self.crawler.stats

    def listing_failed(self, failure: Failure) -> None:
        request = failure.request  # type: ignore[attr-defined]
        reason = _failure_reason(failure)
        failures = self.stats.get_value(LISTING_FAILURES, [])
        self.stats.set_value(LISTING_FAILURES, [*failures, f"{request.url}: {reason}"])
        self.stats.inc_value(LISTING_ERRORS)
        request_logger.error("%s: listing %s failed: %s", self.site.id, request.url, reason)

    def article_failed(self, failure: Failure) -> Iterator[Release]:
        """A failed article: an error; remembered when permanent; a stub when oversize."""
        request = failure.request  # type: ignore[attr-defined]
        url = request.meta.get("entry_url", request.url)
        self._resolve(url)
        if _is_oversize(failure):
            yield from self._oversize(request, url)
            return
        permanent = _permanent_reason(failure)
        if permanent and request.meta.get(RETRYING):
            # Still gone on its retry: known already, so counted as `gone` like a skip, not as
            # a new error on every retry; remembered again with a new retry-after.
            self.stats.inc_value(GONE)
            logger.info("%s: article %s still failing: %s", self.site.id, request.url, permanent)
        else:
            self.stats.inc_value("iomwatch/article_errors")
            request_logger.error(
                "%s: article %s failed: %s", self.site.id, request.url, _failure_reason(failure)
            )
        if permanent:
            retry = datetime.now(UTC) + FAILURE_RETRY
            self.store.remember_failure(self.site.id, url, permanent, retry_after=retry)

    def _oversize(self, request: Request, url: str) -> Iterator[Release]:
        """A page over the download bound: a stub from its listing entry, not an error."""
        self.stats.inc_value("iomwatch/oversize")
        logger.warning(
            "%s: article %s is over the download bound; kept from its listing entry",
            self.site.id,
            request.url,
        )
        if "listing_title" in request.meta:
            yield self.build_stub(request, url)  # the store pipeline remembers it once stored
        else:  # a re-check of a stored release: keep it as it is, retry later
            retry = datetime.now(UTC) + FAILURE_RETRY
            self.store.remember_failure(self.site.id, url, OVERSIZE, retry_after=retry)

    def build_stub(self, request: Request, url: str) -> Release:
        """The release as its listing entry shows it: title (the link text), date, URL."""
        lang = fields.parse_language(EMPTY_PAGE, url, self.site.languages)
        listing_date = request.meta.get("listing_date")
        return Release(
            url=url,
            fetched_url=url,
            site=self.site.id,
            lang=lang,
            title=request.meta.get("listing_title"),
            published=fields.parse_published(
                EMPTY_PAGE, lang, listing_date, reference=datetime.now(UTC).date()
            ),
            type=fields.parse_type(EMPTY_PAGE, url),
            country=self.site.country,
            region=self.site.region,
            flags=[OVERSIZE],
        )


def _is_oversize(failure: Failure) -> bool:
    """The download stopped at the size bound (announced, streamed, or once decompressed)."""
    message = failure.getErrorMessage()
    if isinstance(failure.value, DownloadCancelledError):
        return "max size" in message
    if isinstance(failure.value, IgnoreRequest):
        return "exceeded DOWNLOAD_MAXSIZE" in message
    # A timeout also cancels, but reaches the errback as DownloadTimeoutError.
    return isinstance(failure.value, CancelledError)


def _permanent_reason(failure: Failure) -> str | None:
    """Why the article will not come back soon (gone, or forbidden to us), if it will not."""
    response = getattr(failure.value, "response", None)
    if response is not None:
        return f"HTTP {response.status}" if response.status in PERMANENT_STATUSES else None
    if isinstance(failure.value, IgnoreRequest) and "robots.txt" in failure.getErrorMessage():
        return ROBOTS_FORBIDDEN
    return None


def _failure_reason(failure: Failure) -> str:
    """A short human reason: the HTTP status, or the network error."""
    response = getattr(failure.value, "response", None)
    if response is not None:
        return f"HTTP {response.status}"
    return f"{failure.type.__name__}: {failure.getErrorMessage()}"[:300]  # type: ignore[union-attr]


def decoded_text(response: TextResponse) -> str:
    """The page as text; a body that is not in its declared charset is re-detected, not mangled."""
    encoding = response.encoding
    try:
        return response.body.decode(encoding)
    except (UnicodeDecodeError, LookupError):
        best = charset_normalizer.from_bytes(response.body).best()
        logger.warning(
            "%s is not valid %s; decoded as %s",
            response.url,
            encoding,
            best.encoding if best else "utf-8 with replacements",
        )
        return str(best) if best else response.text
