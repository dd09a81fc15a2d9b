"""A site's first crawl: the first bodies are cleaned again once the template has matured.

The pipelines run in process on a real SQLite store; the last test crawls every replica site
with the real CLI and reads the stored bodies.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from scrapy.crawler import Crawler
from scrapy.statscollectors import MemoryStatsCollector

from crawler.boilerplate import SiteTemplate, extract_html, learn_html
from crawler.extensions import StoreExtension
from crawler.items import Release, listing_page
from crawler.parsing.urls import canonical_url
from crawler.pipelines import BoilerplatePipeline, StorePipeline
from crawler.settings import CrawlOptions, scrapy_settings
from crawler.sites import Site
from crawler.spiders.iom import IomSpider
from crawler.store import ReleaseQuery, Store
from replica import ReplicaServer
from replica.phrases import bank
from tests.helpers import iomwatch, write_config

SITE = Site(id="firstsite", base_url="http://127.0.0.1:9", languages=("en",))
LISTING = "http://127.0.0.1:9/news"
# A share bar no class name gives away, with too much text to be a mere row of links: only
# its repetition across articles shows it is chrome.
SHARE = (
    "<div class='post-tools'><p>Share this release with your colleagues and friends</p>"
    "<a href='https://www.facebook.com/sharer'>Facebook</a> <a href='https://x.com/intent'>X</a> "
    "<a href='https://www.linkedin.com/share'>LinkedIn</a></div>"
)
ARTICLE = (
    "<html><body><nav><a href='/'>Home</a> <a href='/news'>News</a></nav>"
    "<div class='page'><h1>Release number {n}</h1><div class='body'>"
    "<p>{place} – Release {n} opens with its own first paragraph, told in one long sentence.</p>"
    "<p>Its second paragraph says more about what happened in {place} and who took part.</p>"
    "{share}</div></div></body></html>"
)
PLACES = ("Niamey", "Agadez", "Zinder", "Maradi", "Tahoua", "Dosso")  # fingerprints ignore digits
LISTING_PAGE = (
    "<html><body><nav><a href='/'>Home</a> <a href='/news'>News</a></nav><main>"
    + "".join(f"<p><a href='/news/{n}'>Release number {n}</a></p>" for n in range(6))
    + "</main></body></html>"
)


def article(n: int) -> Release:
    return Release(
        url=f"{LISTING}/{n}",
        site=SITE.id,
        lang="en",
        title=f"Release number {n}",
        raw_html=ARTICLE.format(n=n, place=PLACES[n], share=SHARE),
    )


class Crawl:
    """The boilerplate and store pipelines of one crawl of SITE, on one shared store."""

    def __init__(self, url: str) -> None:
        crawler = Crawler(IomSpider, scrapy_settings(CrawlOptions(), database_url=url))
        crawler.spider = IomSpider(SITE)
        self.crawler = crawler
        stores = StoreExtension(url)
        self.cleaner = BoilerplatePipeline(crawler, stores)
        self.storer = StorePipeline(stores, MemoryStatsCollector(crawler), emit_updates=True)
        crawler.signals.connect(self.cleaner.learn_listing, signal=listing_page)
        self.storer.open_spider()
        self.cleaner.open_spider()

    def listing(self) -> None:
        self.crawler.signals.send_catch_log(listing_page, html=LISTING_PAGE, url=LISTING)

    def item(self, n: int) -> None:
        self.storer.process_item(self.cleaner.process_item(article(n)))

    def close(self) -> None:
        self.cleaner.close_spider()
        self.storer.close_spider()


def bodies(store: Store) -> dict[str, str]:
    return {r.url: r.body_text for r in store.query_releases(ReleaseQuery(), limit=100)}


def assert_clean(store: Store, count: int) -> None:
    found = bodies(store)
    assert len(found) == count
    for url, body in found.items():
        assert "Release" in body and "second paragraph" in body, url
        assert "Share this" not in body and "LinkedIn" not in body, (url, body)
    assert {e.kind for e in store.events_since()} == {"new"}, "a re-clean is not an edit"


def test_a_first_page_alone_cannot_tell_its_share_bar() -> None:
    """Why the pipeline re-cleans: one article and a listing leave the share bar in."""
    template = SiteTemplate()
    learn_html(template, LISTING_PAGE, url=LISTING)
    learn_html(template, article(0).raw_html, url=article(0).url, article=True)
    assert not template.mature
    assert "Share this" in extract_html(article(0).raw_html, template).text


def test_first_crawl_stores_no_share_bar(sqlite_store: Store) -> None:
    crawl = Crawl(sqlite_store.url)
    crawl.listing()
    for n in range(5):
        crawl.item(n)
    crawl.close()
    assert_clean(sqlite_store, 5)


def test_a_small_site_is_cleaned_again_when_the_crawl_closes(sqlite_store: Store) -> None:
    crawl = Crawl(sqlite_store.url)
    crawl.listing()
    for n in range(2):  # never mature: the close re-cleans with both articles learned
        crawl.item(n)
    crawl.close()
    assert_clean(sqlite_store, 2)


@pytest.mark.parametrize("new_items", [0, 1], ids=["nothing-new", "one-new"])
def test_a_killed_first_crawl_is_cleaned_by_the_next(sqlite_store: Store, new_items: int) -> None:
    """Killed before its close: two bodies stored provisionally, no template saved."""
    killed = Crawl(sqlite_store.url)
    killed.listing()
    for n in range(2):
        killed.item(n)
    assert sqlite_store.load_template(SITE.id) is None
    assert any("Share this" in b for b in bodies(sqlite_store).values())

    again = Crawl(sqlite_store.url)
    again.listing()  # the first page to learn from loads the template
    assert again.cleaner.template.articles == 2, "the stored pages were learned first"
    for n in range(2, 2 + new_items):
        again.item(n)
    again.close()
    assert_clean(sqlite_store, 2 + new_items)
    state = sqlite_store.load_template(SITE.id)
    assert state is not None and state["articles"] == 2 + new_items


def test_replica_first_crawl_stores_no_chrome(
    replica: ReplicaServer, sqlite_store: Store, tmp_path: Path
) -> None:
    """Every replica site's first crawl: each stored body line is the release's own text, or
    the lead image's caption (content, though the truth keeps only the paragraphs)."""
    config = write_config(
        tmp_path / "config.toml",
        sites_file=replica.write_sites_file(tmp_path / "sites.toml"),
        database_url=sqlite_store.url,
        data_dir=tmp_path,
    )
    result = iomwatch("crawl", "--config", str(config))
    assert result.returncode == 0, result.stdout + result.stderr
    truth = {canonical_url(r.url): r for r in replica.releases()}
    stored = sqlite_store.query_releases(ReleaseQuery(), limit=10_000)
    assert len(stored) == len(truth)
    assert len({r.site for r in stored}) == len(replica.site_ids) >= 5
    for release in stored:
        expected = truth[canonical_url(release.url)]
        own = " ".join(" ".join(expected.body_paragraphs).split()).casefold()
        lines = [" ".join(line.split()).casefold() for line in release.body_text.splitlines()]
        credit = bank(expected.lang)["photo"].split("{")[0].casefold()
        foreign = [line for line in lines if line and line not in own and credit not in line]
        assert foreign == [], release.url


def test_a_body_changed_only_by_the_template_is_no_edit(sqlite_store: Store) -> None:
    """A release stored with its share bar (cleaned by an earlier template), fetched again
    once the template knows the bar: the new body differs, the page does not. No "updated";
    a real edit of the page is one."""
    crawl = Crawl(sqlite_store.url)
    crawl.listing()
    for n in range(1, 5):  # the template learns the share bar from four articles
        crawl.item(n)
    earlier = article(0)
    earlier.body_text = extract_html(earlier.raw_html, SiteTemplate()).text
    assert "Share this" in earlier.body_text
    assert sqlite_store.save_release(earlier) == "new"
    again = crawl.cleaner.process_item(article(0))
    assert again.template_drift and "Share this" not in again.body_text
    crawl.storer.process_item(again)
    edited = article(0)
    edited.raw_html = edited.raw_html.replace("who took part", "who took part, and why")
    changed = crawl.cleaner.process_item(edited)
    assert not changed.template_drift
    crawl.storer.process_item(changed)
    crawl.close()
    kinds = [e.kind for e in sqlite_store.events_since()]
    assert kinds.count("updated") == 1, kinds  # the edit, not the template's drift
    [stored] = [
        r for r in sqlite_store.query_releases(ReleaseQuery(), limit=10) if r.url == earlier.url
    ]
    assert "and why" in stored.body_text and "Share this" not in stored.body_text
