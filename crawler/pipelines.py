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
from crawler.boilerplate.dom import parse_page
from crawler.boilerplate.rebuild import learn_stored, reclean_stored
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
from crawler.store.identity import content_hash, release_id

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from scrapy.statscollectors import StatsCollector

    from crawler.extensions import StoreExtension

logger = logging.getLogger(__name__)

COVERED_FIELDS = ("title", "published", "dateline", "image_url", "translations", "body_text")
XML_TEXT_FIELDS = ("title", "body_text", "body_html", "summary", "dateline")
REASON_CHARS = 300


class BoilerplatePipeline:
    """Learns the site template from every page, then keeps only the release: text and safe HTML.

    The template is the site's: loaded when the spider opens, saved when it closes, and learned
    from listing pages (the `listing_page` signal) as well as from articles.

    A site's first crawl cleans its first articles before the template has seen a second one,
    so a share bar no class name gives away stays in them. Those bodies are stored at once (a
    crawl killed now loses nothing) and cleaned again, silently, once the template is mature,
    or when the crawl closes. A crawl that opens on a young template (the first one was cut
    short) learns the stored pages first and re-cleans them the same way.
    """

    def __init__(self, crawler: Crawler, stores: StoreExtension) -> None:
        self.crawler = crawler  # to learn which site its spider crawls, once it opens
        self.stores = stores
        self.site: str | None = None  # the spider's site, once it opens
        self.site_id: str | None = None  # set once the template is loaded (first page)
        self.template = SiteTemplate()
        self.learned = 0  # pages learned from in this crawl
        self.provisional = False  # stored bodies were cleaned by a young template

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> BoilerplatePipeline:
        pipeline = cls(crawler, shared_store(crawler))
        crawler.signals.connect(pipeline.learn_listing, signal=listing_page)
        return pipeline

    def open_spider(self) -> None:
        self.stores.acquire(self)
        self.site = crawled_site(self.crawler.spider).id

    def _load(self) -> None:
        """The site's template, at the first page to learn from: an idle check (every listing
        a 304) needs none, and loading a mature template is most of such a check's own CPU."""
        if self.site_id is not None or self.site is None:
            return
        site_id = self.site
        store = self.stores.store
        self.template = SiteTemplate.from_state(store.load_template(site_id))
        self.site_id = site_id
        if not self.template.mature:
            self.learned += learn_stored(store, site_id, self.template)
            self.provisional = store.release_count(site_id) > 0
            self._settle()

    def close_spider(self) -> None:
        """Save the template if it learned anything, whatever the crawl's outcome.

        A crawl that read no page (skipped: another process crawls the site) saves nothing,
        so it cannot overwrite the template the other crawl learns. Bodies still provisional
        are cleaned again with all the crawl has learned.
        """
        try:
            if self.site_id is not None and self.learned:
                store = self.stores.store
                self._settle(final=True)
                store.save_template(self.site_id, self.template.to_state(), self.template.pages)
        finally:
            self.stores.release(self)

    def _settle(self, *, final: bool = False) -> None:
        """Re-clean the provisional bodies once the template is mature (or the crawl ends)."""
        if self.provisional and self.site_id is not None and (final or self.template.mature):
            changed = reclean_stored(self.stores.store, self.site_id, self.template)
            self.provisional = not self.template.mature
            logger.info("%s: %d early bodies cleaned again", self.site_id, changed)

    def _drift_only(self, item: Release, body_text: str) -> bool:
        """Whether a known release's new body differs from the stored one only because the
        template changed: its stored page, cleaned with today's template, gives this body.

        A material edit changes the page itself; a template that learned one more block (a
        share bar, a "related" box) changes every body it cleans, and is no edit at all.
        """
        store = self.stores.store
        rid = release_id(item.site, item.url, item.node_id, item.lang)
        # The hash, title and URL only (a new release, most of a backfill, is one index probe);
        # the page only when the body changed.
        stored = store.stored_digest(rid)
        digest = content_hash(item.title, body_text)
        if stored is None or stored[0] == digest:
            return False
        raw = store.raw_html(rid)
        if not raw:
            return False
        _, title, url = stored
        again = extract_html(raw, self.template, url=url, title=title)
        return content_hash(title, again.text) == digest

    def learn_listing(self, html: str, url: str) -> None:
        self._load()
        learn_html(self.template, html, url=url)
        self.learned += 1

    def process_item(self, item: Release) -> Release:
        if not item.raw_html:  # a release stored from its listing entry: no page to clean
            item.title = plain_text(item.title) or None
            return item
        parsed = parse_page(item.raw_html)  # once, for learning and then extracting
        self._load()
        learn_html(self.template, parsed, url=item.url, article=True)
        self.learned += 1
        self._settle()  # the items before this one are stored already
        self.provisional = self.provisional or not self.template.mature
        page = extract_html(parsed, self.template, url=item.url, title=item.title)
        item.title = plain_text(item.title) or None
        item.template_drift = self._drift_only(item, page.text)
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
        url = item.fetched_url or item.url
        oversize = OVERSIZE in item.flags
        try:
            emit = self.emit_updates and not item.template_drift
            # Any page but an oversize one clears the URL's failure, in the save's transaction.
            kind = store.save_release(
                item, emit_updates=emit, cleared_failure=None if oversize else url
            )
            if oversize:  # remembered once its stub is stored
                retry = datetime.now(UTC) + FAILURE_RETRY
                store.remember_failure(item.site, url, OVERSIZE, retry_after=retry)
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


def _short_reason(exc: Exception) -> str:
    """The database's own message (not SQLAlchemy's, which quotes the parameters), cut short."""
    reason = str(exc.orig) if isinstance(exc, DBAPIError) else str(exc)
    return f"{type(exc).__name__}: {reason}"[:REASON_CHARS]
