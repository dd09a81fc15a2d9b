"""The IOM spider: listings (with the Drupal pager) until known releases, then article pages.

One spider instance crawls one site. Each field of a release has its own parse function in
`crawler.parsing.fields`; this module only walks pages and assembles the Release item.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import charset_normalizer
import scrapy
from parsel import Selector
from scrapy import signals
from scrapy.http import HtmlResponse, Request, Response, TextResponse
from twisted.python.failure import Failure

from crawler.boilerplate import SiteTemplate, learn_html
from crawler.items import Release
from crawler.middlewares import CONDITIONAL
from crawler.parsing import fields
from crawler.parsing.fields import ListingEntry
from crawler.parsing.urls import canonical_url
from crawler.store import RunStats, Store

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from scrapy.statscollectors import StatsCollector

    from crawler.sites import Site

logger = logging.getLogger(__name__)


class IomSpider(scrapy.Spider):
    """Crawls one IOM site: news listings, pagination, article pages."""

    name = "iom"

    def __init__(
        self,
        site: Site,
        store: Store,
        *,
        max_backfill_pages: int = 5,
        max_pages: int = 20,
        recheck: tuple[timedelta, timedelta] | None = None,
    ) -> None:
        super().__init__(name=self.name)
        self.site = site
        self.store = store
        self.first_crawl = store.release_count(site.id) == 0
        self.page_limit = max_backfill_pages if self.first_crawl else max_pages
        self.template = SiteTemplate.from_state(store.load_template(site.id))
        self.pending_validators: dict[str, tuple[str | None, str | None]] = {}
        self.scheduled: set[str] = set()
        self.resolved: set[str] = set()  # scheduled articles that got an item or an error
        self.listing_failures: list[str] = []
        self.listings_ok = 0
        self.recheck = recheck
        self.run_id = store.start_run(site.id)
        self.allowed_domains = [site.host.split(":")[0]]

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, site: Site, **kwargs: Any) -> IomSpider:
        settings = crawler.settings
        store = Store(settings.get("IOMWATCH_DATABASE_URL"))
        spider = cls(
            site,
            store,
            max_backfill_pages=settings.getint("IOMWATCH_MAX_BACKFILL_PAGES"),
            max_pages=settings.getint("IOMWATCH_MAX_PAGES"),
            recheck=(
                timedelta(days=settings.getfloat("IOMWATCH_RECHECK_DAYS")),
                timedelta(hours=settings.getfloat("IOMWATCH_RECHECK_HOURS")),
            ),
        )
        spider._set_crawler(crawler)
        crawler.signals.connect(spider.on_closed, signal=signals.spider_closed)
        return spider

    async def start(self) -> AsyncIterator[Request]:
        for path in self.site.listing_paths:
            yield self._listing_request(self.site.base_url + path, page=0)
        for url in self._due_for_recheck():
            self.scheduled.add(url)
            yield Request(
                url,
                callback=self.parse_article,
                errback=self.article_failed,
                meta={"entry_url": url},
            )

    def _due_for_recheck(self) -> list[str]:
        """Young known releases to fetch again: edits never show on an unchanged listing."""
        if self.recheck is None or self.first_crawl:
            return []
        young, every = self.recheck
        return self.store.due_for_recheck(self.site.id, young=young, every=every)

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
        self.listings_ok += 1
        if response.status == 304 or not isinstance(response, TextResponse):
            return
        learn_html(self.template, response.text, url=response.url)
        entries, next_url = fields.parse_listing(response.selector, response.url)
        self.stats.inc_value("iomwatch/listing_entries", len(entries))
        known = self.store.known_urls(e.url for e in entries)
        for entry in entries:
            if entry.url not in known and entry.url not in self.scheduled:
                self.scheduled.add(entry.url)
                yield self._article_request(entry)
        page = int(response.meta.get("page", 0)) + 1
        if next_url and entries and entries[-1].url not in known and page < self.page_limit:
            yield self._listing_request(next_url, page=page)

    def _article_request(self, entry: ListingEntry) -> Request:
        return Request(
            entry.url,
            callback=self.parse_article,
            errback=self.article_failed,
            meta={"listing_date": entry.date_text, "entry_url": entry.url},
        )

    def parse_article(self, response: Response) -> Iterator[Release]:
        """An article page -> a Release with every field; the body is filled by the pipelines."""
        self.resolved.add(response.meta.get("entry_url", response.url))
        if not isinstance(response, HtmlResponse):
            self.stats.inc_value("iomwatch/not_html")
            logger.warning("%s: %s is not an HTML page", self.site.id, response.url)
            return
        yield self.build_release(response)

    def build_release(self, response: HtmlResponse) -> Release:
        url = response.url
        html = fields.decode_cloudflare_emails(page_text(response))
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
        assert self.crawler.stats is not None  # Scrapy sets it before the spider opens
        return self.crawler.stats

    def listing_failed(self, failure: Failure) -> None:
        request = failure.request  # type: ignore[attr-defined]
        reason = _failure_reason(failure)
        self.listing_failures.append(f"{request.url}: {reason}")
        logger.error("%s: listing %s failed: %s", self.site.id, request.url, reason)

    def article_failed(self, failure: Failure) -> None:
        request = failure.request  # type: ignore[attr-defined]
        self.resolved.add(request.meta.get("entry_url", request.url))
        self.stats.inc_value("iomwatch/article_errors")
        logger.error(
            "%s: article %s failed: %s", self.site.id, request.url, _failure_reason(failure)
        )

    def on_closed(self, spider: scrapy.Spider, reason: str) -> None:
        """Record the run; save validators and the template only after a clean finish."""
        stats = self.run_stats()
        failed = self.listings_ok == 0 and bool(self.listing_failures)
        clean = reason == "finished" and not failed and stats.errors == 0
        if clean:
            for url, (etag, last_modified) in self.pending_validators.items():
                self.store.set_validators(url, etag, last_modified)
        self.store.save_template(self.site.id, self.template.to_state(), self.template.pages)
        status = "failed" if failed or reason != "finished" else "ok"
        why = "; ".join(self.listing_failures) or (None if reason == "finished" else reason)
        self.store.finish_run(self.run_id, stats, status=status, reason=why)
        self.store.close()

    def run_stats(self) -> RunStats:
        get = self.stats.get_value
        coverage = {
            key.removeprefix("iomwatch/field/"): int(value)
            for key, value in self.stats.get_stats().items()
            if key.startswith("iomwatch/field/")
        }
        return RunStats(
            pages=int(get("response_received_count", 0)),
            not_modified=int(get("iomwatch/not_modified", 0)),
            items=int(get("item_scraped_count", 0)),
            new=int(get("iomwatch/new", 0)),
            updated=int(get("iomwatch/updated", 0)),
            # An article that got neither a response nor an error (a redirect loop ends in
            # Scrapy's duplicate filter, silently) is an error too: else its listing's
            # validators would be saved and the release hidden behind a 304 for good.
            errors=len(self.scheduled - self.resolved)
            + int(get("iomwatch/article_errors", 0))
            + len(self.listing_failures)
            + int(get("spider_exceptions/count", 0)),
            bytes=int(get("downloader/response_bytes", 0)),
            coverage=coverage,
        )


def _failure_reason(failure: Failure) -> str:
    """A short human reason: the HTTP status, or the network error."""
    response = getattr(failure.value, "response", None)
    if response is not None:
        return f"HTTP {response.status}"
    return f"{failure.type.__name__}: {failure.getErrorMessage()}"[:300]  # type: ignore[union-attr]


def page_text(response: TextResponse) -> str:
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
