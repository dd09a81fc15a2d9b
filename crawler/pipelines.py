"""Item pipelines, one job each: clean boilerplate, make text XML-safe, flag, store.

Nothing is dropped: a page with no extractable text is still a release (title, date and
link), stored with the "empty_body" flag; a release that cannot be stored raises, and the
crawl counts the item error (CrawlRunExtension), so the listing is read again next time.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from crawler.boilerplate import SiteTemplate, extract_html, learn_html
from crawler.exceptions import StoreError
from crawler.extensions import (
    COVERAGE_PREFIX,
    EMPTY,
    FAILURE_RETRY,
    OVERSIZE,
    crawled_site,
    shared_store,
)
from crawler.items import Release, listing_page
from crawler.parsing import fields
from crawler.parsing.sanitize import plain_text
from crawler.parsing.text import strip_xml_invalid, summarise

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from scrapy.statscollectors import StatsCollector

    from crawler.extensions import StoreExtension
    from crawler.store import Store

logger = logging.getLogger(__name__)

COVERED_FIELDS = ("title", "published", "dateline", "image_url", "translations", "body_text")
XML_TEXT_FIELDS = ("title", "body_text", "body_html", "summary", "dateline")
REASON_CHARS = 300


class BoilerplatePipeline:
    """Learns the site template from every page, then keeps only the release: text and safe HTML.

    The template is the site's: loaded when the spider opens, saved when it closes, and learned
    from listing pages (the `listing_page` signal) as well as from articles.
    """

    def __init__(self, crawler: Crawler, stores: StoreExtension) -> None:
        self.crawler = crawler  # to learn which site its spider crawls, once it opens
        self.stores = stores
        self.site_id: str | None = None  # set once the template is loaded
        self.template = SiteTemplate()
        self.learned = 0  # pages learned from in this crawl

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> BoilerplatePipeline:
        pipeline = cls(crawler, shared_store(crawler))
        crawler.signals.connect(pipeline.learn_listing, signal=listing_page)
        return pipeline

    def open_spider(self) -> None:
        site_id = crawled_site(self.crawler.spider).id
        state = self.stores.acquire(self).load_template(site_id)
        self.template = SiteTemplate.from_state(state)
        self.site_id = site_id

    def close_spider(self) -> None:
        """Save the template if it learned anything, whatever the crawl's outcome.

        A crawl that read no page (skipped: another process crawls the site) saves nothing,
        so it cannot overwrite the template the other crawl learns.
        """
        try:
            if self.site_id is not None and self.learned:
                store = self.stores.store
                store.save_template(self.site_id, self.template.to_state(), self.template.pages)
        finally:
            self.stores.release(self)

    def learn_listing(self, html: str, url: str) -> None:
        learn_html(self.template, html, url=url)
        self.learned += 1

    def process_item(self, item: Release) -> Release:
        if not item.raw_html:  # a release stored from its listing entry: no page to clean
            item.title = plain_text(item.title) or None
            return item
        learn_html(self.template, item.raw_html, url=item.url)
        self.learned += 1
        page = extract_html(item.raw_html, self.template, url=item.url, title=item.title)
        item.title = plain_text(item.title) or None
        item.body_text = page.text
        item.body_html = page.html
        item.summary = summarise(page.text)
        item.dateline = fields.parse_dateline(page.text)
        return item


class XmlSafeTextPipeline:
    """Removes the characters XML 1.0 forbids from the text fields, once, at ingest.

    A vertical tab pasted from Word would otherwise make every Atom/RSS feed holding the
    release unparsable.
    """

    def process_item(self, item: Release) -> Release:
        for name in XML_TEXT_FIELDS:
            value = getattr(item, name)
            if value:
                setattr(item, name, strip_xml_invalid(value))
        return item


class ValidationPipeline:
    """Flags a release with no extractable text ("empty_body") and counts field coverage.

    It drops nothing: a page whose text the cleaner cannot find is still a release.
    """

    def __init__(self, stats: StatsCollector) -> None:
        self.stats = stats

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ValidationPipeline:
        return cls(crawler.stats)

    def process_item(self, item: Release) -> Release:
        if not item.body_text.strip() and OVERSIZE not in item.flags:
            item.flags.append("empty_body")
            logger.warning(
                "%s: %s has no extractable text: kept with its title, date and link",
                item.site,
                item.url,
            )
        for name in COVERED_FIELDS:
            if getattr(item, name):
                self.stats.inc_value(COVERAGE_PREFIX + name)
        return item


class StorePipeline:
    """Saves the release; the store records a "new" or "updated" event at most once."""

    def __init__(
        self, stores: StoreExtension, stats: StatsCollector, *, emit_updates: bool
    ) -> None:
        self.stores = stores
        self.stats = stats
        self.emit_updates = emit_updates

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> StorePipeline:
        emit_updates = crawler.settings.getbool("IOMWATCH_EMIT_UPDATES", True)
        return cls(shared_store(crawler), crawler.stats, emit_updates=emit_updates)

    def open_spider(self) -> None:
        self.stores.acquire(self)

    def close_spider(self) -> None:
        self.stores.release(self)

    def process_item(self, item: Release) -> Release:
        store = self.stores.store
        try:
            kind = store.save_release(item, emit_updates=self.emit_updates)
            self._settle_failure(store, item)
        except (StoreError, SQLAlchemyError) as exc:
            # Raised anew without its chain: a database error's text holds the statement's
            # parameters (the page), and logs carry URLs and reasons, never bodies.
            raise StoreError(f"{item.url}: not stored: {_short_reason(exc)}") from None
        if "empty_body" in item.flags:
            self.stats.inc_value(EMPTY)
        if kind:
            self.stats.inc_value(f"iomwatch/{kind}")
            logger.info("%s: %s release %s", item.site, kind, item.url)
        return item

    @staticmethod
    def _settle_failure(store: Store, item: Release) -> None:
        """An oversize page is remembered once its stub is stored; any other page clears it."""
        url = item.fetched_url or item.url
        if OVERSIZE in item.flags:
            retry = datetime.now(UTC) + FAILURE_RETRY
            store.remember_failure(item.site, url, OVERSIZE, retry_after=retry)
        else:
            store.forget_failure(url)


def _short_reason(exc: Exception) -> str:
    """The database's own message (not SQLAlchemy's, which quotes the parameters), cut short."""
    reason = str(exc.orig) if isinstance(exc, DBAPIError) else str(exc)
    return f"{type(exc).__name__}: {reason}"[:REASON_CHARS]
