"""parse_translations on small pages: each rule of crawler/parsing/translations.py (issue 8)."""

from __future__ import annotations

import time

import pytest
from parsel import Selector

from crawler.parsing import fields

URL = "https://mali.iom.int/news/retour-de-338-maliens"
EN = "https://mali.iom.int/en/news/338-malians-return"


def switcher(*items: str, cls: str = "language-switcher") -> str:
    return f'<div class="{cls}"><ul class="links">{"".join(items)}</ul></div>'


def li(lang: str, href: str | None, *, active: bool = False, attr: str = "hreflang") -> str:
    mark = " is-active" if active else ""
    if href is None:
        return f'<li><span class="language-link{mark}" {attr}="{lang}">{lang}</span></li>'
    return f'<li><a href="{href}" class="language-link{mark}" {attr}="{lang}">{lang}</a></li>'


RELATED = (
    '<section class="related-news"><ul>'
    '<li><a href="/news/autre-communique" hreflang="fr">Autre</a></li>'
    '<li><a href="/news/encore-un" hreflang="fr">Encore</a></li>'
    "</ul></section>"
)
BREADCRUMB = '<nav class="breadcrumb"><a href="/">Accueil</a> <a href="/news">Actualités</a></nav>'
SHORTLINK = '<link rel="shortlink" href="https://mali.iom.int/node/5121">'


def page(body: str, head: str = "", lang: str = "fr") -> dict[str, str]:
    html = f'<html lang="{lang}"><head>{head}</head><body><header>{body}</header></body></html>'
    return fields.parse_translations(Selector(text=html), URL)


def head_link(lang: str, href: str) -> str:
    return f'<link rel="alternate" hreflang="{lang}" href="{href}">'


CASES = {
    "switcher: the translation": (switcher(li("fr", URL, active=True), li("en", EN)), {"en": EN}),
    "switcher: current marked by pointing to itself": (
        switcher(li("fr", URL), li("en", EN)),
        {"en": EN},
    ),
    "switcher: current as an active label": (
        switcher(li("fr", None, active=True), li("en", EN)),
        {"en": EN},
    ),
    "switcher: Drupal 7 xml:lang, untranslated label": (
        switcher(
            li("fr", URL, active=True, attr="xml:lang"),
            li("en", EN, attr="xml:lang"),
            li("es", None, attr="xml:lang"),
        ),
        {"en": EN},
    ),
    "switcher to the language's home": (
        switcher(li("fr", URL, active=True), li("en", "/en")),
        {},
    ),
    "switcher to the language's listing (linked by the breadcrumb)": (
        BREADCRUMB + switcher(li("fr", URL, active=True), li("en", "/en/news")),
        {},
    ),
    "switcher to a shallower page": (
        switcher(li("fr", URL, active=True), li("en", "/en/actualites")),
        {},
    ),
    "switcher to the same node under another prefix": (
        switcher(li("fr", URL, active=True), li("en", "/en/news/retour-de-338-maliens")),
        {},
    ),
    "switcher to the node path under another prefix": (
        SHORTLINK + switcher(li("fr", URL, active=True), li("en", "/en/node/5121")),
        {},
    ),
    "switcher to another host": (
        switcher(li("fr", URL, active=True), li("en", "https://www.iom.int/news/x")),
        {},
    ),
    "switcher without a current language": (switcher(li("fr", "/fr/x"), li("en", EN)), {}),
    "a lone language link": (switcher(li("en", EN)), {}),
    "related news only": (RELATED, {}),
    "related news before a switcher with a label": (
        RELATED + switcher(li("fr", None, active=True), li("en", EN)),
        {"en": EN},
    ),
    "two switchers that agree": (
        switcher(li("fr", URL, active=True), li("en", EN)) * 2,
        {"en": EN},
    ),
    "two switchers that disagree": (
        switcher(li("fr", URL, active=True), li("en", EN))
        + switcher(li("fr", URL, active=True), li("en", EN + "-other")),
        {},
    ),
    "x-default in a switcher": (
        switcher(li("fr", URL, active=True), li("x-default", EN)),
        {},
    ),
}


@pytest.mark.parametrize(("body", "expected"), CASES.values(), ids=list(CASES))
def test_switcher_rules(body: str, expected: dict[str, str]) -> None:
    assert page(body) == expected


def test_head_links_first_without_itself_or_x_default() -> None:
    head = head_link("fr", URL) + head_link("en", "/en/news/338-malians-return")
    head += head_link("x-default", URL)
    body = switcher(li("fr", URL, active=True), li("es", "https://mali.iom.int/es/news/otro"))
    assert page(body, head) == {"en": EN}


def test_head_links_that_name_only_the_page_mean_no_translation() -> None:
    body = switcher(li("fr", URL, active=True), li("en", EN))
    assert page(body, head_link("fr", URL) + head_link("x-default", URL)) == {}


def test_head_links_to_a_home_page_are_dropped() -> None:
    head = head_link("fr", URL) + head_link("en", "https://mali.iom.int/en")
    assert page("", head) == {}


def test_head_link_in_the_page_language_is_no_translation() -> None:
    head = head_link("fr", "https://mali.iom.int/news/autre-version") + head_link("en", EN)
    assert page("", head) == {"en": EN}


def test_head_links_naming_two_targets_for_a_language_are_dropped() -> None:
    head = head_link("en", EN) + head_link("en", EN + "-bis") + head_link("es", EN + "-es")
    assert page("", head) == {"es": EN + "-es"}


def test_feed_alternates_are_not_translations() -> None:
    head = '<link rel="alternate" type="application/rss+xml" hreflang="en" href="/en/rss.xml">'
    assert page(switcher(li("fr", URL, active=True), li("en", EN)), head) == {"en": EN}


def test_many_language_links_stay_bounded() -> None:
    teasers = "".join(
        f'<li><a href="/news/n{i}" hreflang="fr">n{i}</a></li>' for i in range(20_000)
    )
    started = time.perf_counter()
    assert page(f"<ul>{teasers}</ul>") == {}
    assert time.perf_counter() - started < 5
