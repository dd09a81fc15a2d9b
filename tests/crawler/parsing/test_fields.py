"""Field parsers on hand-written Drupal-like IOM pages (tests/fixtures/fields) in five languages."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from parsel import Selector
from scrapy.http import HtmlResponse

from crawler.parsing import fields
from crawler.parsing.fields import ListingEntry

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "fields"

# fixture -> (page URL, site languages)
PAGES = {
    "mali_fr_press_release": (
        "https://mali.iom.int/news/bloques-depuis-trois-mois-338-maliens-rentrent-chez-eux",
        ("fr", "en"),
    ),
    "www_en_news_time": (
        "http://iom.int/news/suspended-two-years-iom-resumes-voluntary-humanitarian-return-flights-southern-libya",
        ("en", "fr", "es"),
    ),
    "www_fr_communique_meta": (
        "https://www.iom.int/fr/news/un-programme-de-retour-et-de-reinsertion",
        ("en", "fr", "es"),
    ),
    "lac_es_jsonld": (
        "https://peru.iom.int/es/news/oim-peru-refuerza-la-capacidad-operativa",
        ("es", "en"),
    ),
    "brazil_pt_broken_jsonld": (
        "https://brazil.iom.int/pt-br/news/oim-inicia-nova-rodada",
        ("pt-br", "en"),
    ),
    "mena_ar_story_untitled": ("https://mena.iom.int/ar/stories/ahmad", ("en", "ar")),
    "mozambique_en_story_autotitle": (
        "https://mozambique.iom.int/stories/cyclone-freddy-marias-journey-safety",
        ("en", "pt-pt"),
    ),
    "bangladesh_en_date_publish": (
        "https://bangladesh.iom.int/news/un-migration-agency-serving-bangladesh-20-years",
        ("en",),
    ),
    "kenya_en_old_article": (
        "http://kenya.iom.int/article/displacement-yemen-horn-africa",
        ("en",),
    ),
    "www_en_statement": (
        "https://www.iom.int/statements/statement-director-general-world-refugee-day",
        ("en", "fr", "es"),
    ),
    "broken_truncated": ("https://mali.iom.int/news/broken", ("fr", "en")),
}


def page(name: str) -> tuple[Selector, str, tuple[str, ...]]:
    """The fixture as the spider sees it: an HtmlResponse's selector with its real URL."""
    url, languages = PAGES.get(name, (f"https://sudan.iom.int/{name}", ("en",)))
    body = (FIXTURES / f"{name}.html").read_bytes()
    response = HtmlResponse(url=url, body=body, encoding="utf-8")
    return response.selector, url, languages


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


# --- canonical URL, node id, language -------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (
            "mali_fr_press_release",
            "https://mali.iom.int/news/bloques-depuis-trois-mois-338-maliens-rentrent-chez-eux",
        ),
        # the canonical link points to another host: og:url (www of the same site) wins
        (
            "www_en_news_time",
            "https://www.iom.int/news/suspended-two-years-iom-resumes-voluntary-humanitarian-return-flights-southern-libya",
        ),
        ("www_fr_communique_meta", "https://www.iom.int/fr/news/un-programme-de-retour-et-de-reinsertion"),
        ("broken_truncated", "https://mali.iom.int/news/broken"),
    ],
)  # fmt: skip
def test_canonical_url(name: str, expected: str) -> None:
    sel, url, _ = page(name)
    assert fields.parse_canonical_url(sel, url) == expected


def test_canonical_url_elsewhere_is_ignored() -> None:
    sel = Selector(text='<link rel="canonical" href="https://evil.example.com/news/x">')
    url = "https://mali.iom.int/news/x/?utm_source=fb"
    assert fields.parse_canonical_url(sel, url) == "https://mali.iom.int/news/x"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("mali_fr_press_release", "5121"),
        ("mena_ar_story_untitled", "113086"),
        ("www_en_news_time", None),
    ],
)
def test_node_id(name: str, expected: str | None) -> None:
    assert fields.parse_node_id(page(name)[0]) == expected


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        ('<div data-history-node-id="77"></div>', "77"),
        ('<body class="path-node page-node-88 x"></body>', "88"),
        ('<article id="node-99"></article>', "99"),
    ],
)
def test_node_id_sources(html: str, expected: str) -> None:
    assert fields.parse_node_id(Selector(text=html)) == expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("mali_fr_press_release", "fr"),
        ("www_fr_communique_meta", "fr"),  # no <html lang>: the /fr/ URL prefix
        ("lac_es_jsonld", "es"),
        ("brazil_pt_broken_jsonld", "pt-br"),  # pt-BR normalised
        ("mena_ar_story_untitled", "ar"),
        ("kenya_en_old_article", "en"),  # nothing: the site default
    ],
)
def test_language(name: str, expected: str) -> None:
    sel, url, languages = page(name)
    assert fields.parse_language(sel, url, languages) == expected


@pytest.mark.parametrize(
    ("html", "url", "languages", "expected"),
    [
        ('<html lang="en-US"><body></body></html>', "https://x.iom.int/", ("en",), "en"),
        ('<html lang="pt"><body></body></html>', "https://brazil.iom.int/", ("pt-br", "en"), "pt-br"),
        ('<html lang="el"><body></body></html>', "https://greece.iom.int/el/x", ("en",), "el"),
        ('<html lang="und"><body></body></html>', "https://panama.iom.int/en/news/x", ("es", "en"), "en"),
        ("<html><body></body></html>", "https://brazil.iom.int/pt-br/news/x", ("pt-br",), "pt-br"),
        ("<html><body></body></html>", "https://mali.iom.int/news/x", ("fr", "en"), "fr"),
        ("<html><body></body></html>", "https://mena.iom.int/ar/node/1", ("en", "ar"), "ar"),
    ],
)  # fmt: skip
def test_language_rules(html: str, url: str, languages: tuple[str, ...], expected: str) -> None:
    assert fields.parse_language(Selector(text=html), url, languages) == expected


# --- title ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("mali_fr_press_release", "Bloqués depuis trois mois, 338 Maliens rentrent chez eux"),
        ("www_fr_communique_meta", "Un programme de retour et de réinsertion aide des centaines de migrants"),
        ("kenya_en_old_article", "Displacement in Yemen and the Horn of Africa"),
        ("mena_ar_story_untitled", None),  # site name in <h1 class=site-name> and <title>
        ("mozambique_en_story_autotitle", None),  # og:title is the body's first sentence
    ],
)  # fmt: skip
def test_title(name: str, expected: str | None) -> None:
    assert fields.parse_title(page(name)[0]) == expected


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        ("<title>Return flights resume | IOM Libya</title>", "Return flights resume"),
        ("<title>Stories | International Organization for Migration</title>", None),
        ("<title>IOM Mali</title>", None),
        ("<title>OIM Mali - Organisation internationale pour les migrations</title>", None),
        ("<title>Migrants - not a suffix</title>", "Migrants - not a suffix"),
        ("<title></title><h1>  </h1>", None),
    ],
)
def test_title_from_title_tag(html: str, expected: str | None) -> None:
    assert fields.parse_title(Selector(text=html)) == expected


# --- publication date ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("www_en_news_time", utc(2020, 12, 10, 8, 30)),  # <time> beats the meta tag
        ("www_fr_communique_meta", utc(2019, 3, 29, 11, 10)),  # article:published_time first
        ("lac_es_jsonld", utc(2016, 7, 15, 19, 0)),  # JSON-LD @graph
        ("brazil_pt_broken_jsonld", utc(2023, 1, 6, 13, 0)),  # broken JSON-LD
        ("bangladesh_en_date_publish", utc(2018, 3, 8)),  # visible "Date Publish:"
        ("kenya_en_old_article", utc(2016, 4, 25, 9, 57)),  # "News Mon, 04/25/2016 - 09:57"
        ("mena_ar_story_untitled", utc(2024, 5, 21)),  # full date in the Arabic dateline
        ("mali_fr_press_release", None),  # related box <time> ignored; dateline has no year
        ("mozambique_en_story_autotitle", None),  # a date later in the body is not a dateline
    ],
)
def test_published(name: str, expected: datetime | None) -> None:
    sel, url, languages = page(name)
    lang = fields.parse_language(sel, url, languages)
    assert fields.parse_published(sel, lang) == expected


def test_published_from_listing_date_then_dateline_with_reference() -> None:
    sel, _, _ = page("mali_fr_press_release")
    assert fields.parse_published(sel, "fr", "06/24/2020") == utc(2020, 6, 24)
    assert fields.parse_published(sel, "fr", reference=date(2020, 6, 30)) == utc(2020, 6, 23)
    assert fields.parse_published(sel, "fr", "not a date", reference=date(2021, 1, 1)) == utc(
        2020, 6, 23
    )


# --- type ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("mali_fr_press_release", "press_release"),  # node--type-press-release
        ("www_en_news_time", "news"),  # "News - " label
        ("www_fr_communique_meta", "press_release"),  # "Communiqué" label
        ("lac_es_jsonld", "news"),  # node--type-news beats the label
        ("brazil_pt_broken_jsonld", "news"),  # "Notícias"
        ("mena_ar_story_untitled", "story"),
        ("mozambique_en_story_autotitle", "story"),  # /stories/ URL
        ("kenya_en_old_article", "news"),  # default
        ("www_en_statement", "statement"),  # "Official Statements"
    ],
)
def test_type(name: str, expected: str) -> None:
    sel, url, _ = page(name)
    assert fields.parse_type(sel, url) == expected


@pytest.mark.parametrize(
    ("label", "expected"),
    [
        ("Communiqué de presse", "press_release"),
        ("Comunicado de prensa", "press_release"),
        ("Comunicado de imprensa", "press_release"),
        ("بيان صحفي", "press_release"),
        ("Communiqués", "press_release"),
        ("Actualités", "news"),
        ("أخبار", "news"),
        ("Histoire", "story"),
        ("História", "story"),
        ("قصة", "story"),
        ("Déclaration", "statement"),
        ("Declaración", "statement"),
    ],
)
def test_type_labels(label: str, expected: str) -> None:
    html = f'<main><div class="field--name-field-type">{label}</div><h1>T</h1></main>'
    assert fields.parse_type(Selector(text=html), "https://x.iom.int/node/1") == expected


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://rovienna.iom.int/story/turkey-eu-border", "story"),
        ("https://www.iom.int/statements/x", "statement"),
        ("https://www.iom.int/news/x", "news"),
    ],
)
def test_type_from_url(url: str, expected: str) -> None:
    assert fields.parse_type(Selector(text="<p>x</p>"), url) == expected


# --- dateline ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("Bamako – Mardi (23/06), 338 migrants maliens", "Bamako"),
        ("Genève/ Port-au-Prince, 9 mars – L'OIM", "Genève/ Port-au-Prince"),
        ("Port-au-Prince, le 15 avril 2025 – L'OIM", "Port-au-Prince"),
        ("Lima, 15 de julio de 2016.- La OIM entregó", "Lima"),
        ("Boa Vista, 6 de janeiro - A OIM iniciou", "Boa Vista"),
        ("طرابلس،  21  مايو  2024  – عندما غادر", "طرابلس"),
        ("Juba, October 30th, 2019 – IOM", "Juba"),
        ("Beira, 14 March 2023 – Cyclone", "Beira"),
        ("Gao, Mali – Des centaines", "Gao, Mali"),
        ("Cox's Bazar – Rohingya refugees", "Cox's Bazar"),
        ("Dar es Salaam – Officials", "Dar es Salaam"),
        ("Dakar- Le bureau de l’OIM", "Dakar"),
        ("Geneva / Juba – The International Organization", "Geneva / Juba"),
        (
            "Tapachula (México) / Tecún Umán (Guatemala). - Representantes",
            "Tapachula (México) / Tecún Umán (Guatemala)",
        ),
        ("Accra, Ghana - On 24 August 2023, the IOM", "Accra, Ghana"),
        ("أنقرة، 5 فبراير - بعد مرور عام", "أنقرة"),
        ("Nigerian returnees boarding a plane to Lagos - Photo: IOM", None),
        ("Well-known routes – are", None),
        ("\n\n  Sabha – The International Organization", "Sabha"),
        ("The International Organization for Migration (IOM) – the UN agency", None),
        ("IOM today resumed flights from Sabha.", None),
        ("Migrants arrived in the night - many were tired", None),
        ("Bamako, the capital of Mali – is", None),
        ("", None),
    ],
)
def test_dateline(body: str, expected: str | None) -> None:
    assert fields.parse_dateline(body) == expected


# --- image, attachments, translations ------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("mali_fr_press_release", "https://mali.iom.int/sites/g/files/tmzbdl1466/files/styles/large/public/2020-06/retour.jpg"),
        ("www_en_news_time", "https://www.iom.int/sites/g/files/twitter.jpg"),
        ("kenya_en_old_article", None),
        ("broken_truncated", None),
    ],
)  # fmt: skip
def test_image(name: str, expected: str | None) -> None:
    sel, url, _ = page(name)
    assert fields.parse_image(sel, url) == expected


def test_image_lead_figure_uses_data_src() -> None:
    html = '<article><figure><img src="data:image/gif;base64,xx" data-src="/a/b.jpg"></figure></article>'
    assert fields.parse_image(Selector(text=html), "https://x.iom.int/news/y") == (
        "https://x.iom.int/a/b.jpg"
    )


def test_attachments_in_article_only_deduplicated_in_order() -> None:
    sel, url, _ = page("mali_fr_press_release")
    assert fields.parse_attachments(sel, url) == [
        "https://mali.iom.int/sites/default/files/documents/rapport-retours-2020.pdf",
        "https://publications.iom.int/system/files/pdf/fiche.PDF?download=1",
    ]


def test_attachments_docx_percent_encoded() -> None:
    sel, url, _ = page("lac_es_jsonld")
    assert fields.parse_attachments(sel, url) == [
        "https://peru.iom.int/es/system/files/informe%20final.docx"
    ]


def test_translations() -> None:
    # Issue 8: the page's own head link is no translation of it (it used to be listed).
    sel, url, _ = page("mali_fr_press_release")
    assert fields.parse_translations(sel, url) == {
        "en": "https://mali.iom.int/en/news/stranded-three-months-338-malians-return-home",
    }
    sel, url, _ = page("brazil_pt_broken_jsonld")
    assert fields.parse_translations(sel, url) == {
        "en": "https://brazil.iom.int/news/iom-starts-new-round"
    }
    sel, url, _ = page("www_fr_communique_meta")
    assert fields.parse_translations(sel, url) == {
        "en": "https://www.iom.int/news/return-programme",
        "es": "https://www.iom.int/es/news/programa-de-retorno",
    }


# --- Cloudflare email protection -------------------------------------------------------------


def test_decode_cfemail() -> None:
    assert fields.decode_cfemail("d1bbb4b0bfffb5a4a1bebfa591b8bebcffb8bfa5") == (
        "jean.dupont@iom.int"
    )


@pytest.mark.parametrize("bad", ["", "zz", "d1b", "d1bbb4xx", "00"])
def test_decode_cfemail_malformed_left_as_is(bad: str) -> None:
    assert fields.decode_cfemail(bad) == bad


def test_decode_cloudflare_emails_in_page() -> None:
    html = (FIXTURES / "mali_fr_press_release.html").read_text(encoding="utf-8")
    clear = fields.decode_cloudflare_emails(html)
    assert "[email&#160;protected]" not in clear
    assert '<a href="mailto:jean.dupont@iom.int">jean.dupont@iom.int</a>' in clear
    assert "data-cfemail" not in clear


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        (
            '<span class="__cf_email__" data-cfemail="d1bbb4b0bfffb5a4a1bebfa591b8bebcffb8bfa5">[email&#160;protected]</span>',
            "jean.dupont@iom.int",
        ),
        (
            '<a href="https://x.iom.int/cdn-cgi/l/email-protection#d1bbb4b0bfffb5a4a1bebfa591b8bebcffb8bfa5">[email&#160;protected]</a>',
            '<a href="mailto:jean.dupont@iom.int">jean.dupont@iom.int</a>',
        ),
        (
            '<a href="/cdn-cgi/l/email-protection#d1bbb4b0bfffb5a4a1bebfa591b8bebcffb8bfa5"><span class="__cf_email__" data-cfemail="d1bbb4b0bfffb5a4a1bebfa591b8bebcffb8bfa5">[email protected]</span></a>',
            '<a href="mailto:jean.dupont@iom.int">jean.dupont@iom.int</a>',
        ),
        (
            '<span class="__cf_email__" data-cfemail="nothex">[email protected]</span>',
            '<span class="__cf_email__" data-cfemail="nothex">[email protected]</span>',
        ),
        ("<p>no protection</p>", "<p>no protection</p>"),
    ],
)  # fmt: skip
def test_decode_cloudflare_email_forms(html: str, expected: str) -> None:
    assert fields.decode_cloudflare_emails(html) == expected


# --- listing pages -----------------------------------------------------------------------------


def test_listing_views_rows() -> None:
    sel, _, _ = page("listing_en_views")
    entries, next_url = fields.parse_listing(sel, "https://sudan.iom.int/news")
    assert entries == [
        ListingEntry(
            "https://sudan.iom.int/news/iom-expands-monitoring-people-fleeing-sudan",
            "IOM Expands Monitoring of People Fleeing Sudan",
            "2023-05-04T12:00:00Z",
        ),
        ListingEntry(
            "https://www.sudan.iom.int/stories/life-after-return", "Life After Return", "27 November 2017"
        ),
        ListingEntry("https://sudan.iom.int/ar/node/4521", "الأمم المتحدة للهجرة", None),
    ]  # fmt: skip
    assert next_url == "https://sudan.iom.int/news?page=1"


def test_listing_page_links_and_numeric_dates() -> None:
    sel, _, _ = page("listing_fr_morocco_page7")
    url = "https://morocco.iom.int/news?page=7"
    entries, next_url = fields.parse_listing(sel, url)
    assert [e.url for e in entries] == [
        "https://morocco.iom.int/fr/news/atelier-regional-technique-sur-les-procedures-de-retour",
        "https://morocco.iom.int/fr/news/l%E2%80%99oim-maroc-lance",
    ]
    assert [e.date_text for e in entries] == ["07/30/2016", "24/01/2017"]
    assert next_url == "https://morocco.iom.int/news?page=8"


def test_listing_list_items_with_teaser_dates() -> None:
    sel, _, _ = page("listing_en_thailand")
    entries, next_url = fields.parse_listing(sel, "https://thailand.iom.int/press-releases")
    assert entries == [
        ListingEntry(
            "https://thailand.iom.int/press-releases/vulnerability-assessments-conducted",
            "Vulnerability Assessments Conducted in Mae Sot",
            "24/01/2017",
        ),
        ListingEntry("https://thailand.iom.int/node/2231", "IOM Trains Border Officials", None),
    ]
    assert next_url == "https://thailand.iom.int/press-releases?page=1"


def test_listing_fallback_to_article_links() -> None:
    sel, _, _ = page("listing_ar_plain_links")
    entries, next_url = fields.parse_listing(sel, "https://iraq.iom.int/ar/news")
    assert entries == [
        ListingEntry(
            "https://iraq.iom.int/ar/news/almnzmt-aldwlyt-llhjrt-tsad-80000-mhajrin",
            None,
            "06 November, 2016",
        ),
        ListingEntry(
            "https://iraq.iom.int/ar/stories/qst-naj", "قصة نجاح من الموصل", "12 October, 2016"
        ),
    ]
    assert next_url is None  # /news?page=1 is another path than /ar/news


# --- hostile input ------------------------------------------------------------------------------

HOSTILE = [
    "",
    "<html",
    "<<<>>>",
    "\x00\x01binary\xff",
    '<link rel="canonical" href="http://[::1"><a href="http://[bad">x</a>',
    '<script type="application/ld+json">{"datePublished": [1, {"@graph": null}]}</script>',
    "<div>" * 5000,
]


@pytest.mark.parametrize("html", HOSTILE)
def test_hostile_pages_never_raise(html: str) -> None:
    sel = Selector(text=html) if html else Selector(text="<html></html>")
    url = "https://mali.iom.int/news/x"
    assert fields.parse_canonical_url(sel, url) == url
    assert fields.parse_node_id(sel) is None
    assert fields.parse_language(sel, url, ("fr", "en")) == "fr"
    assert fields.parse_title(sel) is None
    assert fields.parse_published(sel, "fr", reference=date(2020, 1, 1)) is None
    assert fields.parse_type(sel, url) == "news"
    assert fields.parse_image(sel, url) is None
    assert fields.parse_attachments(sel, url) == []
    assert fields.parse_translations(sel, url) == {}
    assert fields.parse_listing(sel, url) == ([], None)
    assert isinstance(fields.decode_cloudflare_emails(html), str)


def test_truncated_page() -> None:
    sel, url, _ = page("broken_truncated")
    assert fields.parse_title(sel) == "Broken page"
    assert fields.parse_image(sel, url) is None
    assert fields.parse_attachments(sel, url) == ["https://mali.iom.int/x.pdf"]
    assert fields.parse_canonical_url(sel, url) == url


def test_huge_listing_page() -> None:
    rows = "".join(
        f'<div class="views-row"><h3><a href="/news/item-{i}">Item {i}</a></h3>'
        f'<span class="date">0{1 + i % 9}/1{i % 9}/2020</span></div>'
        for i in range(20_000)
    )
    sel = Selector(text=f"<html><body><main>{rows}</main></body></html>")
    entries, _ = fields.parse_listing(sel, "https://x.iom.int/news")
    assert len(entries) == 20_000
    assert entries[-1].url == "https://x.iom.int/news/item-19999"
