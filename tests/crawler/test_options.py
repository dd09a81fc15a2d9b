"""One test per crawl option (`CrawlOptions`, the `[crawl]` keys Scrapy reads): set it, observe it.

Each key is followed from the TOML file to the Scrapy settings of the crawl; then, where a crawl
of the small replica site shows it in a few seconds, its effect on a real crawl.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import timedelta
from importlib.metadata import version
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from scrapy.crawler import Crawler

from crawler.parsing.urls import canonical_url
from crawler.run import project_settings
from crawler.settings import CrawlOptions
from crawler.sites import Site
from crawler.spiders.iom import IomSpider
from crawler.store import CrawlRun, ReleaseQuery, Store
from replica import ReplicaServer
from scheduler.commands import crawl_overrides
from scheduler.config import ServiceConfig
from tests.helpers import iomwatch

SITE = "southsudan"  # one language, 11 releases on two listing pages

# A value for every option, and the Scrapy settings it must give.
SETTINGS_OF: dict[str, tuple[Any, dict[str, Any]]] = {
    "max_backfill_pages": (3, {"IOMWATCH_MAX_BACKFILL_PAGES": 3}),
    "max_pages": (4, {"IOMWATCH_MAX_PAGES": 4}),
    "timeout_seconds": (60, {"CLOSESPIDER_TIMEOUT": 60}),
    "download_timeout": (7, {"DOWNLOAD_TIMEOUT": 7}),
    "download_delay": (2.5, {"DOWNLOAD_DELAY": 2.5, "AUTOTHROTTLE_START_DELAY": 2.5}),
    "concurrent_per_host": (1, {"CONCURRENT_REQUESTS_PER_DOMAIN": 1}),
    "user_agent": ("agent-test/1.0", {"USER_AGENT": "agent-test/1.0"}),
    "obey_robots": (False, {"ROBOTSTXT_OBEY": False}),
    "emit_updates": (False, {"IOMWATCH_EMIT_UPDATES": False}),
    "recheck_days": (3.0, {"IOMWATCH_RECHECK_DAYS": 3.0}),
    "recheck_hours": (0.5, {"IOMWATCH_RECHECK_HOURS": 0.5}),
}
TEST_DEFAULTS = {"download_delay": 0, "max_backfill_pages": 10, "download_timeout": 3}


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    return f'"{value}"' if isinstance(value, str) else str(value)


def crawl_table(**keys: Any) -> str:
    return "[crawl]\n" + "".join(f"{k} = {toml_value(v)}\n" for k, v in keys.items())


def load(tmp_path: Path, **keys: Any) -> ServiceConfig:
    path = tmp_path / "loaded.toml"
    path.write_text(f'data_dir = "{tmp_path}"\n{crawl_table(**keys)}', encoding="utf-8")
    return ServiceConfig.from_env(str(path), environ={})


def test_every_option_has_a_test() -> None:
    assert set(SETTINGS_OF) == {f.name for f in dataclasses.fields(CrawlOptions)}


def test_the_crawl_configuration_extends_the_crawl_options() -> None:
    crawl, defaults = ServiceConfig().crawl, CrawlOptions()
    assert isinstance(crawl, CrawlOptions)
    for field in dataclasses.fields(CrawlOptions):
        assert getattr(crawl, field.name) == getattr(defaults, field.name), field.name


def test_the_default_user_agent_carries_the_package_version() -> None:
    assert CrawlOptions().user_agent.startswith(f"iomwatch/{version('iomwatch')} (+https://")


@pytest.mark.parametrize("key", SETTINGS_OF)
def test_a_configured_option_reaches_the_scrapy_settings(tmp_path: Path, key: str) -> None:
    value, expected = SETTINGS_OF[key]
    settings = project_settings(crawl_overrides(load(tmp_path, **{key: value})))
    defaults = project_settings(crawl_overrides(load(tmp_path)))
    for name, wanted in expected.items():
        assert settings[name] == wanted, name
        assert defaults[name] != wanted, f"{name}: the test value is the default"


def test_the_max_pages_flag_sets_both_page_limits(tmp_path: Path) -> None:
    overrides = crawl_overrides(load(tmp_path, max_pages=9, max_backfill_pages=8), max_pages=2)
    assert overrides["IOMWATCH_MAX_PAGES"] == overrides["IOMWATCH_MAX_BACKFILL_PAGES"] == 2


def test_the_spider_reads_its_options_from_the_settings(tmp_path: Path) -> None:
    config = load(tmp_path, max_backfill_pages=3, max_pages=4, recheck_days=2.0, recheck_hours=6.0)
    site = Site(id="x", base_url="http://127.0.0.1:9", languages=("en",))
    spider = IomSpider.from_crawler(Crawler(IomSpider, crawl_overrides(config)), site=site)
    assert (spider.max_backfill_pages, spider.max_pages) == (3, 4)
    assert spider.recheck == (timedelta(days=2), timedelta(hours=6))
    spider.first_crawl = True
    assert spider.page_limit == 3
    spider.first_crawl = False
    assert spider.page_limit == 4


# --- real crawls of one replica site -----------------------------------------------------------


@pytest.fixture
def replica() -> Iterator[ReplicaServer]:
    server = ReplicaServer(sites=[SITE])
    server.start()
    yield server
    server.stop()


class Crawls:
    """Crawl the replica site with the real command line and these `[crawl]` options."""

    def __init__(self, replica: ReplicaServer, tmp_path: Path) -> None:
        self.replica = replica
        self.tmp_path = tmp_path
        self.url = f"sqlite:///{tmp_path / 'iomwatch.db'}"
        self.sites = replica.write_sites_file(tmp_path / "sites.toml")

    def run(self, *flags: str, ok: bool = True, **keys: Any) -> str:
        """One crawl; the replica's request log then holds only this crawl's requests."""
        config = self.tmp_path / "config.toml"
        config.write_text(
            f'sites_file = "{self.sites}"\ndata_dir = "{self.tmp_path}"\n'
            f'[database]\nurl = "{self.url}"\n' + crawl_table(**{**TEST_DEFAULTS, **keys}),
            encoding="utf-8",
        )
        self.replica.reset_log()
        result = iomwatch("crawl", "--config", str(config), *flags)
        assert (result.returncode == 0) is ok, result.stdout + result.stderr[-3000:]
        return result.stderr

    def stall(self, count: int) -> None:
        """The newest `count` articles never answer (until the download timeout)."""
        for release in self.replica.releases(SITE)[:count]:
            self.replica.set_fault(SITE, urlsplit(release.url).path, "timeout")

    def paths(self) -> list[str]:
        return [r.path for r in self.replica.requests]

    def articles_fetched(self) -> list[str]:
        """Article pages downloaded (news and stories), listings and robots.txt left out."""
        listings = {"/robots.txt", "/news"}
        return [
            r.path
            for r in self.replica.requests
            if r.status == 200 and r.path not in listings and "page=" not in r.path
        ]

    def last_run(self) -> CrawlRun:
        with Store(self.url) as store:
            return store.runs(SITE, limit=1)[0]

    def stored(self) -> int:
        with Store(self.url) as store:
            return store.count_releases(ReleaseQuery(site=(SITE,)))


@pytest.fixture
def crawls(replica: ReplicaServer, tmp_path: Path) -> Crawls:
    return Crawls(replica, tmp_path)


def test_max_backfill_pages_bounds_the_first_crawl(crawls: Crawls) -> None:
    crawls.run(max_backfill_pages=1)
    assert not [p for p in crawls.paths() if "page=" in p], "only the first listing page"
    assert crawls.stored() == 10 < len(crawls.replica.releases())


def test_max_pages_bounds_the_later_crawls(crawls: Crawls) -> None:
    crawls.run(max_pages=1)
    assert crawls.stored() == len(crawls.replica.releases()), "the first crawl backfills"
    for n in range(12):  # more new releases than one listing page shows
        crawls.replica.publish(SITE, title=f"Twelve new releases for South Sudan, number {n}")
    crawls.run(max_pages=1)
    assert not [p for p in crawls.paths() if "page=" in p]
    assert crawls.stored() == 11 + 10


def test_the_max_pages_flag_bounds_the_first_crawl_too(crawls: Crawls) -> None:
    crawls.run("--max-pages", "1", max_backfill_pages=10, max_pages=10)
    assert not [p for p in crawls.paths() if "page=" in p]
    assert crawls.stored() == 10


def test_timeout_seconds_closes_a_crawl_that_runs_too_long(crawls: Crawls) -> None:
    crawls.stall(1)
    # Without the limit the stalled article would hold the crawl for three tries of 4 s; on
    # closing, Scrapy lets the download in flight end (its download_timeout) but retries none.
    crawls.run(ok=False, timeout_seconds=1, download_timeout=4)
    run = crawls.last_run()
    assert (run.status, run.reason) == ("failed", "closespider_timeout")
    assert (run.duration or 0) < 8


def test_download_timeout_ends_a_stalled_download(crawls: Crawls) -> None:
    crawls.stall(1)
    log = crawls.run(download_timeout=1)
    assert "took longer than 1.0 seconds" in log
    run = crawls.last_run()
    assert run.status == "ok" and run.errors == 1


def test_download_delay_spaces_the_requests(crawls: Crawls) -> None:
    crawls.run(download_delay=0.5)
    gaps = len(crawls.paths()) - 1
    assert gaps >= 13
    # Scrapy waits 0.5 to 1.5 times the delay between two requests to one host.
    assert (crawls.last_run().duration or 0) >= gaps * 0.25


def test_concurrent_per_host_limits_parallel_downloads(crawls: Crawls) -> None:
    crawls.stall(2)  # two articles, three tries each, that end only by download_timeout
    crawls.run(concurrent_per_host=1, download_timeout=1)
    serial = crawls.last_run()
    crawls.run(concurrent_per_host=3, download_timeout=1)
    parallel = crawls.last_run()
    assert serial.errors == parallel.errors == 2
    assert (serial.duration or 0) >= 6, "one download at a time: six stalls in a row"
    assert (parallel.duration or 0) < (serial.duration or 0) - 1.5


def test_user_agent_is_sent_with_every_request(crawls: Crawls) -> None:
    agent = "agent-test/1.0 (+https://example.org/bot)"
    crawls.run(user_agent=agent)
    assert crawls.replica.requests
    assert {r.header("User-Agent") for r in crawls.replica.requests} == {agent}


def test_obey_robots_fetches_robots_txt_first(crawls: Crawls) -> None:
    crawls.run()
    assert "/robots.txt" in crawls.paths()
    crawls.run(obey_robots=False)
    assert crawls.paths() and "/robots.txt" not in crawls.paths()


def test_emit_updates_off_stores_an_edit_without_an_event(crawls: Crawls) -> None:
    crawls.run(recheck_hours=0, emit_updates=False)
    target = crawls.replica.releases(SITE)[0]
    crawls.replica.edit(target.url, body="Juba – update: 4,200 people now reached.")
    crawls.run(recheck_hours=0, emit_updates=False)
    with Store(crawls.url) as store:
        assert [e.kind for e in store.events_since()] == ["new"] * 11
        stored = {canonical_url(r.url): r for r in store.query_releases(ReleaseQuery())}
    assert "4,200" in stored[canonical_url(target.url)].body_text, "the edit is stored"


def test_recheck_hours_is_how_often_a_young_release_is_fetched_again(crawls: Crawls) -> None:
    crawls.run()
    crawls.run()
    assert not crawls.articles_fetched(), "fetched less than 24 hours ago"
    crawls.run(recheck_hours=0)
    assert len(crawls.articles_fetched()) == 11


def test_recheck_days_is_how_young_a_release_is_fetched_again(crawls: Crawls) -> None:
    crawls.run(recheck_hours=0)
    crawls.run(recheck_hours=0, recheck_days=0)
    assert not crawls.articles_fetched(), "no release is younger than 0 days"
