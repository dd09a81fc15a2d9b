"""The Scrapy components in process: who owns the store, the run, the validators, the template."""

from __future__ import annotations

import warnings
from collections.abc import Generator
from pathlib import Path

import pytest
from scrapy.crawler import Crawler
from scrapy.http import HtmlResponse, Request
from scrapy.statscollectors import MemoryStatsCollector
from scrapy.utils.misc import warn_on_generator_with_return_value

from crawler.extensions import (
    ARTICLES_UNRESOLVED,
    LISTING_ERRORS,
    LISTING_FAILURES,
    LISTINGS_OK,
    RUN_STATS_KEYS,
    CrawlRunExtension,
    StoreExtension,
    crawl_outcome,
    run_stats,
)
from crawler.items import listing_page
from crawler.middlewares import CONDITIONAL, ConditionalRequestMiddleware
from crawler.pipelines import BoilerplatePipeline, StorePipeline, ValidationPipeline
from crawler.run import project_settings
from crawler.settings import CrawlOptions, scrapy_settings
from crawler.sites import Site
from crawler.spiders.iom import IomSpider
from crawler.store import RUN_COUNTERS, Store

SITE = Site(id="testsite", base_url="http://127.0.0.1:9", languages=("en",))
LISTING = "http://127.0.0.1:9/news"
PAGE = (
    "<html><body><nav><a href='/'>Home</a> <a href='/news'>News</a></nav>"
    "<main><p>{}</p></main><footer>International Organization for Migration</footer>"
    "</body></html>"
)


def make_crawler(database_url: str) -> Crawler:
    """A crawler with the project's settings; not started (no reactor, no engine)."""
    return Crawler(IomSpider, scrapy_settings(CrawlOptions(), database_url=database_url))


def test_the_spider_and_components_open_nothing_when_built(tmp_path: Path) -> None:
    missing = tmp_path / "missing"
    url = f"sqlite:///{missing / 'iomwatch.db'}"
    crawler = make_crawler(url)
    spider = IomSpider.from_crawler(crawler, site=SITE)
    stores = StoreExtension.from_crawler(crawler)
    stats = MemoryStatsCollector(crawler)
    CrawlRunExtension(stats)
    ConditionalRequestMiddleware(stores, stats)
    BoilerplatePipeline(crawler, stores)
    StorePipeline(stores, stats, emit_updates=True)
    ValidationPipeline(stats)
    assert spider.site is SITE
    assert not missing.exists(), "a constructor opened the store"
    assert not stores.users


def _returns_a_value() -> Generator[int, None, int]:
    yield 1
    return 2  # what Scrapy's check would warn about, after reading this source


def test_scrapy_reads_no_callback_source_per_response(tmp_path: Path) -> None:
    """Scrapy's check of a callback (its source read and parsed) is off: it ran for every
    response, its cache keyed on a bound method that each request makes anew."""
    url = f"sqlite:///{tmp_path / 'iomwatch.db'}"
    settings = project_settings(scrapy_settings(CrawlOptions(), database_url=url))
    spider = IomSpider.from_crawler(Crawler(IomSpider, settings), site=SITE)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        warn_on_generator_with_return_value(spider, _returns_a_value)
    assert seen == []
    spider.settings.frozen = False
    spider.settings.set("WARN_ON_GENERATOR_RETURN_VALUE", True)  # Scrapy's default
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        warn_on_generator_with_return_value(spider, _returns_a_value)
    assert seen, "the check would have run"


def test_the_store_opens_at_the_first_acquire_and_closes_at_the_last_release(
    tmp_path: Path,
) -> None:
    stores = StoreExtension(f"sqlite:///{tmp_path / 'iomwatch.db'}")
    first, second = object(), object()
    stores.release(first)  # never acquired: nothing happens
    store = stores.acquire(first)
    assert stores.acquire(second) is store
    stores.release(first)
    assert stores.store is store, "still in use by the second user"
    stores.release(second)
    with pytest.raises(Exception, match="not open"):
        _ = stores.store


def test_run_stats_keys_cover_every_run_counter() -> None:
    assert list(RUN_STATS_KEYS) == list(RUN_COUNTERS)


def test_run_stats_sums_the_stats_of_each_counter() -> None:
    stats = {
        "response_received_count": 12,
        "iomwatch/article_errors": 1,
        "spider_exceptions/count": 2,
        ARTICLES_UNRESOLVED: 1,
        "iomwatch/field/title": 9,
    }
    counters = run_stats(stats)
    assert counters.pages == 12
    assert counters.errors == 4
    assert counters.coverage == {"title": 9}


@pytest.mark.parametrize(
    ("stats", "reason", "status", "why", "clean"),
    [
        ({LISTINGS_OK: 2}, "finished", "ok", None, True),
        ({LISTINGS_OK: 2, "iomwatch/article_errors": 1}, "finished", "ok", None, False),
        ({LISTINGS_OK: 2, ARTICLES_UNRESOLVED: 1}, "finished", "ok", None, False),
        ({LISTINGS_OK: 2}, "closespider_timeout", "failed", "closespider_timeout", False),
        (
            {LISTING_ERRORS: 1, LISTING_FAILURES: ["http://x/news: HTTP 503"]},
            "finished",
            "failed",
            "http://x/news: HTTP 503",
            False,
        ),
        (  # one listing of two failed: the site was crawled, but not cleanly
            {LISTINGS_OK: 1, LISTING_ERRORS: 1, LISTING_FAILURES: ["http://x/en/news: HTTP 500"]},
            "finished",
            "ok",
            "http://x/en/news: HTTP 500",
            False,
        ),
    ],
)
def test_crawl_outcome(
    stats: dict[str, object], reason: str, status: str, why: str | None, clean: bool
) -> None:
    outcome = crawl_outcome(stats, reason)
    assert (outcome.status, outcome.reason, outcome.clean) == (status, why, clean)


@pytest.mark.parametrize(
    ("stats", "saved"),
    [({LISTINGS_OK: 1}, True), ({LISTINGS_OK: 1, "iomwatch/article_errors": 1}, False)],
)
def test_listing_validators_are_saved_only_after_a_clean_crawl(
    sqlite_store: Store, stats: dict[str, int], saved: bool
) -> None:
    crawler = make_crawler(sqlite_store.url)
    collector = MemoryStatsCollector(crawler)
    middleware = ConditionalRequestMiddleware(StoreExtension(sqlite_store.url), collector)
    middleware.spider_opened()
    request = Request(LISTING, meta={CONDITIONAL: "listing"})
    response = HtmlResponse(LISTING, body=b"<html></html>", headers={"ETag": '"v1"'})
    middleware.process_response(request, response)
    assert sqlite_store.get_validators(LISTING) is None, "pending until the crawl closes"
    for key, value in stats.items():
        collector.set_value(key, value)
    middleware.spider_closed("finished")
    expected = ('"v1"', None, None) if saved else None
    assert sqlite_store.get_validators(LISTING) == expected


def test_the_boilerplate_pipeline_owns_the_site_template(sqlite_store: Store) -> None:
    crawler = make_crawler(sqlite_store.url)
    crawler.spider = IomSpider(SITE)
    pipeline = BoilerplatePipeline(crawler, StoreExtension(sqlite_store.url))
    crawler.signals.connect(pipeline.learn_listing, signal=listing_page)
    pipeline.open_spider()
    for n in range(2):
        crawler.signals.send_catch_log(listing_page, html=PAGE.format(n), url=f"{LISTING}?p={n}")
    pipeline.close_spider()
    saved = sqlite_store.load_template(SITE.id)
    assert saved is not None and saved["pages"] == 2

    again = BoilerplatePipeline(crawler, StoreExtension(sqlite_store.url))
    again.open_spider()
    assert again.template.pages == 0, "an idle check loads no template"
    again.close_spider()
    saved = sqlite_store.load_template(SITE.id)
    assert saved is not None and saved["pages"] == 2, "nor overwrites it"

    third = BoilerplatePipeline(crawler, StoreExtension(sqlite_store.url))
    crawler.signals.connect(third.learn_listing, signal=listing_page)
    third.open_spider()
    crawler.signals.send_catch_log(listing_page, html=PAGE.format(2), url=f"{LISTING}?p=2")
    assert third.template.pages == 3, "the next page to learn from starts from the saved one"
    third.close_spider()
