"""The replica's translations: a ground truth per release, and pages as misleading as real ones.

Real pages name a release's other-language versions in a head link, or only in a language
switcher that also points to homes and listings, next to related-news boxes whose links carry
`hreflang` too (issue 8). The replica must print all of it, or parser tests pass on kind pages.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from lxml import html as lxml_html

from replica import ReplicaRelease, ReplicaServer
from replica.sites import SITES, SITES_BY_ID

TAG = "@hreflang or @*[name()='xml:lang']"
SWITCHER = f"//*[contains(@class, 'language-switcher')]//*[self::a or self::span][{TAG}]"


@pytest.fixture(scope="module")
def pages(replica: ReplicaServer) -> Iterator[dict[str, lxml_html.HtmlElement]]:
    with httpx.Client() as client:
        yield {r.url: lxml_html.fromstring(client.get(r.url).text) for r in replica.releases()}


def lang_of(node: lxml_html.HtmlElement) -> str:
    return str(node.get("hreflang") or node.get("xml:lang"))


def test_truth_is_the_other_language_versions_of_the_same_node(replica: ReplicaServer) -> None:
    releases = {r.url: r for r in replica.releases()}
    for release in releases.values():
        assert release.lang not in release.translations
        for lang, url in release.translations.items():
            other = releases[url]
            assert (other.lang, other.node_id) == (lang, release.node_id)
            assert other.translations[release.lang] == release.url  # symmetric
    assert sum(len(r.translations) for r in releases.values()) == 58
    assert sum(not r.translations for r in releases.values()) == 52


@pytest.mark.parametrize("site_id", [p.id for p in SITES])
def test_head_links_only_on_sites_that_print_them(
    replica: ReplicaServer, pages: dict[str, lxml_html.HtmlElement], site_id: str
) -> None:
    with_links = SITES_BY_ID[site_id].head_alternates
    for release in replica.releases(site_id):
        found = pages[release.url].xpath("//link[@rel='alternate'][@hreflang]")
        assert bool(found) == with_links, release.url
    assert not all(p.head_alternates for p in SITES if len(p.languages) > 1)


def fallback(replica: ReplicaServer, site_id: str, lang: str) -> str | None:
    """Where the switcher points for a language the release lacks."""
    kind = SITES_BY_ID[site_id].switcher_fallback
    langs = replica.languages(site_id)
    if kind == "listing":
        return dict(zip(langs, replica.listing_paths(site_id), strict=True))[lang]
    return None if kind == "none" else ("/" if lang == langs[0] else f"/{lang}")


@pytest.mark.parametrize("site_id", [p.id for p in SITES])
def test_switcher_points_to_home_or_listing_when_no_translation(
    replica: ReplicaServer, pages: dict[str, lxml_html.HtmlElement], site_id: str
) -> None:
    profile = SITES_BY_ID[site_id]
    for release in replica.releases(site_id):
        links = {lang_of(n): n for n in pages[release.url].xpath(SWITCHER)}
        assert set(links) == set(profile.languages), release.url
        for lang, node in links.items():
            if lang == release.lang:
                _check_current(release, node)
            elif lang in release.translations:
                assert release.translations[lang].endswith(node.get("href")), release.url
            else:
                assert node.get("href") == fallback(replica, site_id, lang), release.url


def _check_current(release: ReplicaRelease, node: lxml_html.HtmlElement) -> None:
    mode = SITES_BY_ID[release.site_id].switcher_current
    marked = "active" in node.get("class", "")
    if mode == "span":
        assert node.tag == "span" and marked
    else:
        assert release.url.endswith(node.get("href")) and marked == (mode == "active")


def test_related_news_links_carry_the_page_language(
    replica: ReplicaServer, pages: dict[str, lxml_html.HtmlElement]
) -> None:
    boxes = 0
    releases = {r.url: r for r in replica.releases()}
    for release in releases.values():
        base = replica.base_url(release.site_id)
        doc = pages[release.url]
        for box in doc.xpath("//section[contains(@class, 'related') or contains(@class, 'more')]"):
            boxes += 1
            for link in box.xpath(".//a"):
                other = releases[base + link.get("href")]
                assert link.get("hreflang") == release.lang == other.lang
                assert other.node_id != release.node_id
    assert boxes >= 70
