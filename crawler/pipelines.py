"""Item pipelines, one job each: clean boilerplate, validate, store (spider -> store)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from scrapy.exceptions import DropItem

from crawler.boilerplate import SiteTemplate, extract_html, learn_html
from crawler.extensions import COVERAGE_PREFIX, crawled_site, shared_store
from crawler.items import Release, listing_page
from crawler.parsing import fields
from crawler.parsing.sanitize import plain_text
from crawler.parsing.text import summarise

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from scrapy.statscollectors import StatsCollector

    from crawler.extensions import StoreExtension

logger = logging.getLogger(__name__)

COVERED_FIELDS = ("title", "published", "dateline", "image_url", "translations", "body_text")


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
        """Save the template, whatever the crawl's outcome: what it learned stays true."""
        try:
            if self.site_id is not None:
                store = self.stores.store
                store.save_template(self.site_id, self.template.to_state(), self.template.pages)
        finally:
            self.stores.release(self)

    def learn_listing(self, html: str, url: str) -> None:
        learn_html(self.template, html, url=url)

    def process_item(self, item: Release) -> Release:
        learn_html(self.template, item.raw_html, url=item.url)
        page = extract_html(item.raw_html, self.template, url=item.url, title=item.title)
        item.title = plain_text(item.title) or None
        item.body_text = page.text
        item.body_html = page.html
        item.summary = summarise(page.text)
        item.dateline = fields.parse_dateline(page.text)
        return item


class ValidationPipeline:
    """Rejects what is not a release (empty body after cleaning) and counts field coverage."""

    def __init__(self, stats: StatsCollector) -> None:
        self.stats = stats

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ValidationPipeline:
        return cls(crawler.stats)

    def process_item(self, item: Release) -> Release:
        if not item.body_text.strip():
            raise DropItem(f"{item.url}: no body text after boilerplate removal")
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
        kind = self.stores.store.save_release(item, emit_updates=self.emit_updates)
        if kind:
            self.stats.inc_value(f"iomwatch/{kind}")
            logger.info("%s: %s release %s", item.site, kind, item.url)
        return item
