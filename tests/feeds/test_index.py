"""The index page as a visitor uses it, over a real socket: the filter form, pages past the
first 50 followed by their links, the view's feeds (parsed with feedparser) next to the
"subscribe to this view" form, one entry per translated release, and the release page's
language and translations."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import feedparser
import httpx
import pytest
from lxml import html

from crawler.items import Release
from crawler.store import ReleaseQuery, Store
from tests.feeds.alerts.test_smtp import free_port
from tests.feeds.conftest import BASE_URL, make_app, seed, serve
from tests.feeds.test_subscriptions import alerts_app, smtp_on

START = datetime(2024, 3, 1, 9, tzinfo=UTC)


@contextmanager
def browsing(store: Store, **kwargs: object) -> Iterator[httpx.Client]:
    with serve(make_app(store, **kwargs)) as url, httpx.Client(base_url=url, timeout=20) as http:
        yield http


def local(link: str) -> str:
    """A link of our pages (made from BASE_URL) as the path to ask the test server."""
    assert link.startswith(BASE_URL), link
    return link[len(BASE_URL) :]


def page_of(http: httpx.Client, path: str) -> Any:
    response = http.get(path)
    assert response.status_code == 200, (path, response.text[:500])
    return html.document_fromstring(response.text)


def titles(document: Any) -> list[str]:
    return [a.text_content() for a in document.xpath('//section[@id="latest"]//article/h3/a')]


def bulk(n: int, *, lang: str = "fr") -> list[Release]:
    """n releases of Mali a day apart (the newest is number n-1)."""
    return [
        Release(
            url=f"https://mali.iom.int/{lang}/news/bulk-{i}",
            site="mali",
            lang=lang,
            title=f"Communiqué {lang} {i:03d}",
            published=START + timedelta(days=i),
            country="Mali",
            body_text=f"Texte numéro {i} ({lang}).",
        )
        for i in range(n)
    ]


def test_filter_form_uses_the_feed_vocabulary(seeded: Store) -> None:
    with browsing(seeded) as http:
        document = page_of(http, "/?site=mali&lang=FR&type=press-release")
        form = document.xpath('//form[@class="filters"]')[0]
        assert form.get("method") == "get" and form.get("action") == f"{BASE_URL}/"
        selects = {s.get("name"): s for s in form.xpath(".//select")}
        assert set(selects) == {"site", "country", "region", "lang", "type"}
        chosen = {
            name: [o.get("value") for o in s.xpath("./option[@selected]")]
            for name, s in selects.items()
        }
        # Canonical values: the same parsing as the feeds (lang lower case, type with "_").
        assert chosen == {
            "site": ["mali"],
            "country": [],
            "region": [],
            "lang": ["fr"],
            "type": ["press_release"],
        }
        options = {n: {o.get("value") for o in s.xpath("./option")} for n, s in selects.items()}
        assert {"mali", "egypt", "global"} <= options["site"]
        assert {"Mali", "Egypt", "Brazil"} <= options["country"]
        assert {"en", "fr", "es", "ar", "pt"} <= options["lang"]
        assert options["type"] >= {"press_release", "news", "story", "statement"}
        arabic = selects["lang"].xpath('./option[@value="ar"]')[0]
        assert arabic.get("lang") == "ar" and arabic.text == "العربية"
        assert titles(document) == ["Réintégration durable des migrants de retour à Bamako"]
        # Several values of one key (OR): a multiple select with each chosen.
        both = page_of(http, "/?lang=fr&lang=ar")
        langs = both.xpath('//form[@class="filters"]//select[@name="lang"]')[0]
        assert langs.get("multiple") is not None
        assert {o.get("value") for o in langs.xpath("./option[@selected]")} == {"ar", "fr"}
        assert len(titles(both)) == 2
        bad = http.get("/?lang=xx")
        assert bad.status_code == 400 and "lang" in bad.text


def test_the_views_feeds_and_subscription_sit_together(seeded: Store) -> None:
    port = free_port()
    app = alerts_app(seeded, port)
    view = "country=Mali&lang=fr"
    with (
        smtp_on(port),
        serve(app) as url,
        httpx.Client(base_url=url, timeout=20) as http,
    ):
        document = page_of(http, f"/?{view}")
        autodiscovery = document.xpath('//head/link[@rel="alternate"]')
        assert {link.get("type") for link in autodiscovery} == {
            "application/atom+xml",
            "application/rss+xml",
            "application/feed+json",
        }
        block = document.xpath('//section[@id="this-view"]')[0]
        hrefs = [a.get("href") for a in block.xpath('.//span[@class="feeds"]/a')]
        assert hrefs == [link.get("href") for link in autodiscovery]
        for href in hrefs:
            assert href.endswith(f"?{view}")
            body = http.get(local(href))
            assert body.status_code == 200
            if "feed.json" in href:
                items = body.json()["items"]
                assert [i["title"] for i in items] == [
                    "Réintégration durable des migrants de retour à Bamako"
                ]
            else:
                feed = feedparser.parse(body.content)
                assert not feed.bozo, feed.bozo_exception
                assert [e.title for e in feed.entries] == [
                    "Réintégration durable des migrants de retour à Bamako"
                ]
        subscribe = block.xpath('.//form[@class="subscribe"]')[0]
        assert subscribe.get("action") == f"{BASE_URL}/subscribe"
        hidden = [
            (i.get("name"), i.get("value")) for i in subscribe.xpath('.//input[@type="hidden"]')
        ]
        assert hidden == [("country", "Mali"), ("lang", "fr")]
        answer = http.post("/subscribe", data={**dict(hidden), "email": "a@example.org"})
        assert answer.status_code == 200
        (subscriber,) = seeded.subscribers()
        assert subscriber.filters == ReleaseQuery(country=("Mali",), lang=("fr",))


def test_pages_past_the_first_fifty_keep_the_filter(sqlite_store: Store) -> None:
    seed(sqlite_store, [*bulk(120), *bulk(7, lang="en")])
    with browsing(sqlite_store) as http:
        seen: list[str] = []
        path: str | None = "/?lang=fr"
        pages = 0
        while path is not None:
            document = page_of(http, path)
            pages += 1
            seen += titles(document)
            heading = document.xpath('//section[@id="latest"]/h2')[0].text_content()
            assert heading == "Latest releases (120)"
            nav = document.xpath('//nav[@class="pager"]')[0]
            assert f"Page {pages} of 3" in nav.text_content()
            older = nav.xpath('.//a[@rel="next"]')
            newer = nav.xpath('.//a[@rel="prev"]')
            assert bool(newer) == (pages > 1)
            for link in (*older, *newer):
                assert "lang=fr" in link.get("href")
            path = local(older[0].get("href")) if older else None
        assert pages == 3
        assert seen == [f"Communiqué fr {i:03d}" for i in range(119, -1, -1)]
        # Back from the last page, and a page size of one's own.
        last = page_of(http, "/?lang=fr&page=3")
        back = last.xpath('//nav[@class="pager"]//a[@rel="prev"]')[0].get("href")
        assert back == f"{BASE_URL}/?lang=fr&page=2"
        small = page_of(http, "/?lang=fr&per_page=10&page=12")
        assert titles(small) == [f"Communiqué fr {i:03d}" for i in range(9, -1, -1)]
        beyond = page_of(http, "/?lang=fr&page=9")
        assert titles(beyond) == [] and "No releases on this page." in beyond.text_content()
        first, second = http.get("/?lang=fr"), http.get("/?lang=fr&page=2")
        assert first.headers["etag"] != second.headers["etag"]
        bad = http.get("/?page=0")
        assert bad.status_code == 400 and "page" in bad.text


def translated(lang: str, title: str, url: str) -> Release:
    urls = {
        "fr": "https://mali.iom.int/fr/news/frontiere",
        "en": "https://mali.iom.int/news/border",
        "ar": "https://mali.iom.int/ar/news/hudud",
    }
    assert urls[lang] == url
    return Release(
        url=url,
        site="mali",
        lang=lang,
        title=title,
        published=START,
        country="Mali",
        body_text=f"{title}.",
        translations=urls,
    )


TRANSLATED = [
    translated("fr", "Gestion des frontières à Gao", "https://mali.iom.int/fr/news/frontiere"),
    translated("en", "Border management in Gao", "https://mali.iom.int/news/border"),
    translated("ar", "إدارة الحدود في غاو", "https://mali.iom.int/ar/news/hudud"),
]


def test_a_translated_release_is_listed_once_with_its_other_languages(store: Store) -> None:
    seed(store, TRANSLATED)
    with browsing(store) as http:
        document = page_of(http, "/")
        (article,) = document.xpath('//section[@id="latest"]/article')
        assert article.get("lang") == "fr"  # the original: the site's first language
        assert "(1)" in document.xpath('//section[@id="latest"]/h2')[0].text_content()
        others = {a.get("hreflang"): a for a in article.xpath('.//p[@class="translations"]/a')}
        assert set(others) == {"en", "ar"}
        assert others["ar"].text == "العربية" and others["ar"].get("lang") == "ar"
        english = page_of(http, "/?lang=en")
        (shown,) = english.xpath('//section[@id="latest"]/article')
        assert shown.get("lang") == "en" and shown.get("dir") == "ltr"
        assert titles(english) == ["Border management in Gao"]
        arabic = page_of(http, "/?lang=ar").xpath('//section[@id="latest"]/article')[0]
        assert arabic.get("dir") == "rtl" and arabic.get("lang") == "ar"
        # The translations paragraph stays English and left-to-right inside the Arabic entry.
        note = arabic.xpath('.//p[@class="translations"]')[0]
        assert (note.get("lang"), note.get("dir")) == ("en", "ltr")

        # The release page: its language shown, its translations linked to our pages.
        page = http.get(local(others["ar"].get("href")))
        assert page.status_code == 200
        release: html.HtmlElement = html.document_fromstring(page.text)
        root = release.xpath("/html")[0]
        assert (root.get("lang"), root.get("dir")) == ("ar", "rtl")
        label = release.xpath('//span[@class="language"]')[0].text_content()
        assert "العربية" in label and "(ar)" in label
        links = release.xpath('//p[@class="translations"]/a')
        assert [(a.get("hreflang"), a.text) for a in links] == [
            ("en", "English"),
            ("fr", "Français"),
        ]
        for link in links:
            other = page_of(http, local(link.get("href")))
            assert other.xpath("/html")[0].get("lang") == link.get("hreflang")


def test_a_translation_we_do_not_store_links_to_iom(seeded: Store) -> None:
    mali = seeded.query_releases(ReleaseQuery(site=("mali",)))[0]
    with browsing(seeded) as http:
        release = page_of(http, f"/releases/{mali.id}")
        label = release.xpath('//span[@class="language"]')[0].text_content()
        assert "Français" in label
        (link,) = release.xpath('//p[@class="translations"]/a')
        assert link.get("href") == "https://mali.iom.int/news/sustainable-reintegration"
        assert link.get("hreflang") == "en" and "nofollow" in link.get("rel")


@pytest.mark.parametrize(
    "qs",
    [
        "q=%22%3E%3Cscript%3Ealert(1)%3C/script%3E",
        "q=%3Cimg%20src%3Dx%20onerror%3Dalert(2)%3E&lang=ar",
    ],
)
def test_hostile_filter_values_are_escaped(seeded: Store, qs: str) -> None:
    with browsing(seeded) as http:
        response = http.get(f"/?{qs}")
        assert response.status_code == 200
        assert "<script>alert" not in response.text and "<img src=x" not in response.text
        document: html.HtmlElement = html.document_fromstring(response.text)
        assert not document.xpath("//script|//img[@onerror]")
        keyword = document.xpath('//form[@class="filters"]//input[@name="q"]')[0]
        assert "alert(" in keyword.get("value")  # kept as text, in the field
