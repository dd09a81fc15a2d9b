"""Nothing dropped, nothing hidden, in process: the pipelines, the run's counters, the item repr."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Protocol

import pytest
from scrapy.crawler import Crawler
from scrapy.exceptions import CloseSpider, DownloadCancelledError, IgnoreRequest
from scrapy.http import Request, Response
from scrapy.logformatter import LogFormatter
from scrapy.spidermiddlewares.httperror import HttpError
from scrapy.statscollectors import MemoryStatsCollector
from twisted.python.failure import Failure

from crawler.extensions import (
    ITEM_ERRORS,
    LISTINGS_OK,
    LOCKED,
    SKIPPED_REASON,
    CrawlRunExtension,
    StoreExtension,
    crawl_outcome,
    run_stats,
)
from crawler.items import Release
from crawler.pipelines import (
    BoilerplatePipeline,
    StorePipeline,
    ValidationPipeline,
    XmlSafeTextPipeline,
)
from crawler.settings import CrawlOptions, scrapy_settings
from crawler.sites import Site
from crawler.spiders.iom import IomSpider
from crawler.store import ReleaseQuery, Store

SITE = Site(id="testsite", base_url="http://127.0.0.1:9", languages=("en",))
ARTICLE = "http://127.0.0.1:9/news/migrants-rescued-at-sea"
PAGE = (
    "<html lang='en'><head><title>{title}</title></head><body>"
    "<nav><a href='/'>Home</a></nav><main><h1>{title}</h1>{body}</main>"
    "<footer>International Organization for Migration</footer></body></html>"
)
BODY = "<p>Geneva – IOM teams rescued 40 people at sea on Tuesday.</p>" * 3


class Step(Protocol):
    """What the chain needs of a pipeline (open_spider/close_spider are optional)."""

    def process_item(self, item: Release) -> Release: ...


class Pipelines:
    """The project's item pipelines in order, opened on one store, as a crawl runs them."""

    def __init__(self, database_url: str) -> None:
        self.crawler = Crawler(
            IomSpider, scrapy_settings(CrawlOptions(), database_url=database_url)
        )
        self.crawler.spider = IomSpider(SITE)
        self.stats = MemoryStatsCollector(self.crawler)
        stores = StoreExtension(database_url)
        self.steps: list[Step] = [
            BoilerplatePipeline(self.crawler, stores),
            XmlSafeTextPipeline(),
            ValidationPipeline(self.stats),
            StorePipeline(stores, self.stats, emit_updates=True),
        ]

    def __enter__(self) -> Pipelines:
        for step in self.steps:
            if hasattr(step, "open_spider"):
                step.open_spider()
        return self

    def __exit__(self, *exc: object) -> None:
        for step in self.steps:
            if hasattr(step, "close_spider"):
                step.close_spider()

    def process(self, item: Release) -> Release:
        for step in self.steps:
            item = step.process_item(item)
        return item


@pytest.fixture
def pipelines(sqlite_store: Store) -> Iterator[Pipelines]:
    with Pipelines(sqlite_store.url) as chain:
        yield chain


def release(html: str, *, title: str = "Migrants rescued at sea") -> Release:
    published = datetime(2026, 5, 1, tzinfo=UTC)
    return Release(
        url=ARTICLE, fetched_url=ARTICLE, site=SITE.id, lang="en", title=title,
        published=published, raw_html=html,
    )  # fmt: skip


def test_a_page_with_no_text_is_stored_flagged_and_counted(
    pipelines: Pipelines, sqlite_store: Store
) -> None:
    html = PAGE.format(title="Migrants rescued at sea", body="<div class='media'></div>")
    pipelines.process(release(html))
    [stored] = sqlite_store.query_releases(ReleaseQuery(), limit=5)
    assert stored.url == ARTICLE and stored.title == "Migrants rescued at sea"
    assert stored.published is not None
    assert "empty_body" in stored.flags
    assert run_stats(pipelines.stats.get_stats()).empty == 1


def test_xml_invalid_characters_are_stripped_at_ingest(
    pipelines: Pipelines, sqlite_store: Store
) -> None:
    body = "<p>Geneva – IOM teams\x0b rescued 40 people\x0c at sea on Tuesday.\x01</p>" * 3
    pipelines.process(release(PAGE.format(title="Rescued\x0b at sea", body=body)))
    [stored] = sqlite_store.query_releases(ReleaseQuery(), limit=5)
    for name in ("title", "body_text", "body_html", "summary", "dateline"):
        value = getattr(stored, name) or ""
        assert not set(value) & {"\x0b", "\x0c", "\x01"}, name
    assert "rescued 40 people at sea" in stored.body_text


def test_a_failed_store_write_raises_a_short_error_naming_the_url(
    pipelines: Pipelines, sqlite_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlalchemy.exc import OperationalError

    def locked(*args: object, **kwargs: object) -> None:
        raise OperationalError(
            "INSERT INTO releases ...", {"body_text": BODY * 100}, Exception("database is locked")
        )

    store = pipelines.steps[3].stores.store  # type: ignore[attr-defined]
    monkeypatch.setattr(store, "save_release", locked)
    with pytest.raises(
        Exception, match="not stored: OperationalError: database is locked"
    ) as caught:
        pipelines.process(release(PAGE.format(title="Rescued", body=BODY)))
    assert ARTICLE in str(caught.value)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    assert "rescued 40 people" not in str(caught.value)


def test_the_release_repr_leaves_the_page_out() -> None:
    item = release(PAGE.format(title="Rescued", body=BODY * 2000))
    item.body_text = item.body_html = "rescued 40 people " * 5000
    text = repr(item)
    assert len(text) < 400 and ARTICLE in text and "40 people" not in text
    long = Release(url="http://x/" + "a" * 5000, site="s", lang="en", title="t" * 5000)
    assert len(repr(long)) < 600


def test_scrapy_logs_a_failed_item_in_under_one_kilobyte(caplog: pytest.LogCaptureFixture) -> None:
    item = release(PAGE.format(title="Rescued", body=BODY * 5000))
    item.body_text = "rescued 40 people " * 5000
    crawler = Crawler(IomSpider, {})
    formatter = LogFormatter.from_crawler(crawler)
    logged = formatter.item_error(item, RuntimeError("x"), None, IomSpider(SITE))
    with caplog.at_level(logging.ERROR):
        logging.getLogger("scrapy.core.scraper").log(logged["level"], logged["msg"], logged["args"])
    [record] = caplog.records
    assert len(record.getMessage().encode()) < 1024
    assert ARTICLE in record.getMessage()


@pytest.mark.parametrize(
    ("stats", "status", "reason", "clean"),
    [
        ({LISTINGS_OK: 1, ITEM_ERRORS: 1}, "ok", "1 release(s) not stored: ", False),
        ({LISTINGS_OK: 1, "iomwatch/items_dropped": 1}, "ok", None, False),
        ({LISTINGS_OK: 1, "iomwatch/gone": 2, "iomwatch/empty": 1}, "ok", None, True),
    ],
)
def test_item_errors_count_and_gone_articles_do_not(
    stats: dict[str, object], status: str, reason: str | None, clean: bool
) -> None:
    outcome = crawl_outcome(stats, "finished")
    assert (outcome.status, outcome.clean) == (status, clean)
    assert outcome.reason == reason or (
        reason and outcome.reason and outcome.reason.startswith(reason)
    )


def test_a_locked_site_closes_the_spider_and_the_run_is_skipped(
    spider: IomSpider, sqlite_store: Store
) -> None:
    outcome = crawl_outcome({}, LOCKED)
    assert (outcome.status, outcome.reason, outcome.clean) == ("skipped", SKIPPED_REASON, False)
    extension = CrawlRunExtension(spider.crawler.stats)
    with sqlite_store.site_lock(SITE.id) as held:
        assert held
        with pytest.raises(CloseSpider) as closed:
            extension.spider_opened(spider)
        assert closed.value.reason == LOCKED
        extension.spider_closed(LOCKED)
    [run] = sqlite_store.runs(SITE.id)
    assert (run.status, run.reason) == ("skipped", SKIPPED_REASON)


def failure_of(exc: Exception, url: str = ARTICLE, **meta: object) -> Failure:
    failure = Failure(exc)  # type: ignore[no-untyped-call]  # twisted leaves __init__ untyped
    failure.request = Request(url, meta={"entry_url": url, **meta})  # type: ignore[attr-defined]
    return failure


@pytest.fixture
def spider(sqlite_store: Store) -> Iterator[IomSpider]:
    crawler = Crawler(IomSpider, scrapy_settings(CrawlOptions(), database_url=sqlite_store.url))
    stores = StoreExtension(sqlite_store.url)
    # every extension asked for is this one; a lambda is not the generic method it replaces
    crawler.get_extension = lambda cls: stores  # type: ignore[assignment, return-value]
    crawler.stats = MemoryStatsCollector(crawler)
    spider = IomSpider(SITE)
    spider._set_crawler(crawler)
    stores.acquire(spider)
    yield spider
    stores.release(spider)


@pytest.mark.parametrize(
    ("exc", "remembered"),
    [
        (HttpError(Response(ARTICLE, status=404), "Ignoring non-200 response"), "HTTP 404"),
        (HttpError(Response(ARTICLE, status=410), "Ignoring non-200 response"), "HTTP 410"),
        (IgnoreRequest("Forbidden by robots.txt"), "forbidden by robots.txt"),
        (HttpError(Response(ARTICLE, status=500), "Ignoring non-200 response"), None),
    ],
)
def test_permanent_article_failures_are_remembered(
    spider: IomSpider, sqlite_store: Store, exc: Exception, remembered: str | None
) -> None:
    assert list(spider.article_failed(failure_of(exc))) == []
    assert spider.crawler.stats.get_value("iomwatch/article_errors") == 1
    assert sqlite_store.failing_urls([ARTICLE]) == ({ARTICLE} if remembered else set())


@pytest.mark.parametrize(
    "exc",
    [
        DownloadCancelledError(
            "Expected to receive 52428800 bytes which is larger than download max size "
            f"(4194304) in request <GET {ARTICLE}>."
        ),
        IgnoreRequest(  # a gzipped page is bounded while it is decompressed
            f"Ignored response <200 {ARTICLE}> because its body (138393 B compressed, 4259840 B "
            "decompressed so far) exceeded DOWNLOAD_MAXSIZE (4194304 B) during decompression."
        ),
    ],
)
def test_an_oversize_article_becomes_a_stub_from_its_listing_entry(
    spider: IomSpider, exc: Exception
) -> None:
    meta = {"listing_title": "Migrants rescued at sea", "listing_date": "1 May 2026"}
    failure = failure_of(exc, **meta)
    [stub] = list(spider.article_failed(failure))
    assert (stub.url, stub.title, stub.flags) == (ARTICLE, "Migrants rescued at sea", ["oversize"])
    assert stub.published is not None and stub.published.date().isoformat() == "2026-05-01"
    assert not spider.crawler.stats.get_value("iomwatch/article_errors")
