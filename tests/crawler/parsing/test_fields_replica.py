"""The field and listing parsers on every page of the local replica sites, against its ground truth.

The replica (port 0 on 127.0.0.1) knows what each release must yield; this walks each
site's listings with `parse_listing` only, then checks every field of every article.
Saved replica pages in tests/fixtures/replica/ (when present) are parsed too.
"""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest
from parsel import Selector

from crawler.parsing import fields
from crawler.parsing.dates import parse_date
from crawler.parsing.fields import ListingEntry
from crawler.parsing.urls import canonical_url
from crawler.sites import Site, load_sites
from replica import ReplicaRelease, ReplicaServer
from replica.sites import SITES

SAVED = Path(__file__).resolve().parents[2] / "fixtures" / "replica"
MAX_LISTING_PAGES = 60


@dataclass
class SiteCrawl:
    """One replica site walked through its listings: entries by canonical URL, and the truth."""

    site: Site
    entries: dict[str, ListingEntry]
    truth: dict[str, ReplicaRelease]


def fetch(url: str) -> tuple[str, str]:
    """The decoded body and final URL of a loopback page."""
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read().decode("utf-8", "replace"), response.geturl()


def walk_listings(site: Site) -> dict[str, ListingEntry]:
    """Every entry of every listing page of a site, following `parse_listing`'s next page."""
    found: dict[str, ListingEntry] = {}
    for path in site.listing_paths:
        url: str | None = site.base_url + path
        for _ in range(MAX_LISTING_PAGES):
            if url is None:
                break
            html, final = fetch(url)
            entries, url = fields.parse_listing(Selector(text=html), final)
            for entry in entries:
                found.setdefault(entry.url, entry)
    return found


@pytest.fixture(scope="module")
def crawls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, SiteCrawl]]:
    with ReplicaServer() as server:
        sites = load_sites(server.write_sites_file(tmp_path_factory.mktemp("replica") / "s.toml"))
        out = {}
        for site in sites:
            truth = {canonical_url(r.url): r for r in server.releases(site.id)}
            out[site.id] = SiteCrawl(site, walk_listings(site), truth)
        yield out


def listing_day(listing_date: str | None, lang: str) -> date | None:
    """The day a listing date names, to resolve year-less datelines against."""
    value = parse_date(listing_date, lang) if listing_date else None
    return value.date() if value else None


def extract(site: Site, url: str, entry: ListingEntry) -> tuple[dict[str, object], str]:
    """Every field the parsers give for one article page, and the page's clear HTML."""
    html, final = fetch(url)
    html = fields.decode_cloudflare_emails(html)
    sel = Selector(text=html)
    lang = fields.parse_language(sel, final, site.languages)
    published = fields.parse_published(
        sel, lang, entry.date_text, reference=listing_day(entry.date_text, lang)
    )
    got: dict[str, object] = {
        "url": canonical_url(fields.parse_canonical_url(sel, final)),
        "lang": lang,
        "title": fields.parse_title(sel),
        "published": published.date() if published else None,
        "type": fields.parse_type(sel, final),
        "node_id": fields.parse_node_id(sel),
        "image_url": fields.parse_image(sel, final),
        "attachments": tuple(fields.parse_attachments(sel, final)),
        "translations": {
            k: canonical_url(v) for k, v in fields.parse_translations(sel, final).items()
        },
    }
    return got, html


def expected(release: ReplicaRelease) -> dict[str, object]:
    return {
        "url": canonical_url(release.url),
        "lang": release.lang,
        "title": release.title,
        "published": release.published,
        "type": release.type,
        "node_id": release.node_id,
        "image_url": release.image_url,
        "attachments": release.attachments,
        "translations": {k: canonical_url(v) for k, v in release.translations.items()},
    }


SITE_IDS = [profile.id for profile in SITES]


@pytest.mark.parametrize("site_id", SITE_IDS)
def test_listings_find_every_release_and_nothing_else(
    crawls: dict[str, SiteCrawl], site_id: str
) -> None:
    crawl = crawls[site_id]
    assert crawl.truth
    assert set(crawl.entries) == set(crawl.truth)


@pytest.mark.parametrize("site_id", SITE_IDS)
def test_every_article_field_matches_ground_truth(
    crawls: dict[str, SiteCrawl], site_id: str
) -> None:
    crawl = crawls[site_id]
    mismatches = []
    for url, release in crawl.truth.items():
        entry = crawl.entries.get(url, ListingEntry(url, None, None))
        got, html = extract(crawl.site, url, entry)
        want = expected(release)
        mismatches += [(url, k, got[k], want[k]) for k in want if got[k] != want[k]]
        mismatches += [(url, "email", e, None) for e in release.emails if e not in html]
        if (place := fields.parse_dateline("\n".join(release.body_paragraphs))) != (
            release.dateline_place
        ):
            mismatches.append((url, "dateline", place, release.dateline_place))
    assert mismatches == []


def saved_pages() -> list[Path]:
    return sorted(SAVED.rglob("*.html")) if SAVED.is_dir() else []


@pytest.mark.parametrize("path", saved_pages(), ids=lambda p: p.name)
def test_saved_replica_pages_parse(path: Path) -> None:
    html = fields.decode_cloudflare_emails(path.read_text(encoding="utf-8", errors="replace"))
    assert "data-cfemail" not in html
    sel = Selector(text=html)
    url = f"http://127.0.0.1/{path.stem}"
    entries, _ = fields.parse_listing(sel, url)
    title = fields.parse_title(sel)
    if not entries:  # an article: stories may lack a title, never a type or language
        assert fields.parse_type(sel, url) in {"press_release", "news", "story", "statement"}
        assert title is None or (title.strip() == title and title)
