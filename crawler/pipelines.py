"""Item pipelines, one job each: clean boilerplate, validate, store (spider -> store)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from scrapy.exceptions import DropItem

from crawler.boilerplate import extract_html, learn_html
from crawler.items import Release
from crawler.parsing import fields
from crawler.parsing.sanitize import plain_text
from crawler.parsing.text import summarise

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from scrapy.statscollectors import StatsCollector

    from crawler.spiders.iom import IomSpider

logger = logging.getLogger(__name__)

COVERED_FIELDS = ("title", "published", "dateline", "image_url", "translations", "body_text")


class _SpiderPipeline:
    """Base: reaches the spider (its site, store, template) through the crawler."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> _SpiderPipeline:
        return cls(crawler)

    @property
    def spider(self) -> IomSpider:
        return self.crawler.spider  # type: ignore[return-value]

    @property
    def stats(self) -> StatsCollector:
        assert self.crawler.stats is not None  # set by Scrapy before any item flows
        return self.crawler.stats


class BoilerplatePipeline(_SpiderPipeline):
    """Learns the site template from the page, then keeps only the release: text and safe HTML."""

    def process_item(self, item: Release) -> Release:
        template = self.spider.template
        learn_html(template, item.raw_html, url=item.url)
        page = extract_html(item.raw_html, template, url=item.url, title=item.title)
        item.title = plain_text(item.title) or None
        item.body_text = page.text
        item.body_html = page.html
        item.summary = summarise(page.text)
        item.dateline = fields.parse_dateline(page.text)
        return item


class ValidationPipeline(_SpiderPipeline):
    """Rejects what is not a release (empty body after cleaning) and counts field coverage."""

    def process_item(self, item: Release) -> Release:
        if not item.body_text.strip():
            raise DropItem(f"{item.url}: no body text after boilerplate removal")
        for name in COVERED_FIELDS:
            if getattr(item, name):
                self.stats.inc_value(f"iomwatch/field/{name}")
        return item


class StorePipeline(_SpiderPipeline):
    """Saves the release; the store records a "new" or "updated" event at most once."""

    def __init__(self, crawler: Crawler) -> None:
        super().__init__(crawler)
        self.emit_updates = crawler.settings.getbool("IOMWATCH_EMIT_UPDATES", True)

    def process_item(self, item: Release) -> Release:
        kind = self.spider.store.save_release(item, emit_updates=self.emit_updates)
        if kind:
            self.stats.inc_value(f"iomwatch/{kind}")
            logger.info("%s: %s release %s", item.site, kind, item.url)
        return item
