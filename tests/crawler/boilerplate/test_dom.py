"""DOM mode on fixtures written for these tests (tests/fixtures/boilerplate/html)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from crawler.boilerplate import CleanPage, SiteTemplate, extract_html, learn_html
from crawler.boilerplate.dom import parse_page

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "boilerplate" / "html"
NIGER = [FIXTURES / f"niger-{n}.html" for n in (1, 2, 3)]
BASE = "https://niger.iom.int/news/"
CHROME = [
    "Qui sommes nous",  # mega-menu in plain divs, with its glued description
    "présente au Niger depuis 2006",
    "cookies",  # cookie banner
    "Facebook",  # share bar
    "Actualités liées",  # related-news box (different items on every page)
    "Retour volontaire",
    "Restez informé",  # newsletter box
    "Mentions légales",  # footer
    "Aller au contenu",  # skip link
    "window.dataLayer",  # script
]


def learned(paths: list[Path]) -> SiteTemplate:
    template = SiteTemplate.from_state(None)
    for path in paths:
        learn_html(template, path.read_text(encoding="utf-8"), url=BASE + path.stem)
    return template


def extract(path: Path, template: SiteTemplate, title: str | None = None) -> CleanPage:
    return extract_html(
        path.read_text(encoding="utf-8"), template, url=BASE + path.stem, title=title
    )


@pytest.mark.parametrize("learn_first", [True, False], ids=["site-learned", "first-page"])
@pytest.mark.parametrize("path", NIGER, ids=lambda p: p.stem)
def test_chrome_removed_content_kept(path: Path, learn_first: bool) -> None:
    template = learned(NIGER) if learn_first else SiteTemplate()
    page = extract(path, template)
    for junk in CHROME:
        assert junk not in page.text, junk
    assert "Pour plus d'informations, veuillez contacter" in page.text  # repeated, but content
    assert "Photo : OIM" in page.text  # repeated credit stays
    assert page.text.count("\n\n") >= 3


def test_title_excluded_when_given() -> None:
    title = "Agadez : un nouveau centre de transit pour les migrants vulnérables"
    page = extract(NIGER[0], learned(NIGER), title=title)
    assert title not in page.text
    assert page.title_found
    assert page.text.startswith("Agadez – L'Organisation internationale")


def test_html_is_sanitised_with_absolute_links() -> None:
    page = extract(NIGER[0], learned(NIGER))
    assert "<script" not in page.html and "<style" not in page.html
    assert 'href="mailto:comniger@iom.int"' in page.html
    assert "<figcaption>" in page.html
    assert 'src="https://niger.iom.int/img/agadez.jpg"' in page.html


def test_flat_layout_on_first_page() -> None:
    """Chrome without class hints: the share bar and related box are link-dense blocks."""
    path = FIXTURES / "flat-1.html"
    page = extract_html(
        path.read_text(encoding="utf-8"),
        SiteTemplate(),
        url="https://mozambique.iom.int/news/flood",
        title="IOM Expands Flood Response in Central Mozambique",
    )
    assert page.title_found
    assert "IOM Expands Flood Response" not in page.text
    for junk in ("Facebook", "Latest news", "Cholera", "Privacy", "Who We Are"):
        assert junk not in page.text
    assert "Beira, 14 March 2023 – IOM has scaled up" in page.text
    assert page.text.rstrip().endswith("said the IOM Chief of Mission.")


def test_state_round_trip_and_incremental() -> None:
    template = learned(NIGER[:2])
    state = json.loads(json.dumps(template.to_state()))
    again = SiteTemplate.from_state(state)
    assert again.pages == 2
    assert again.counts == template.counts
    learn_html(again, NIGER[2].read_text(encoding="utf-8"), url=BASE + NIGER[2].stem)
    assert again.pages == 3
    learn_html(again, NIGER[2].read_text(encoding="utf-8"), url=BASE + NIGER[2].stem)
    assert again.pages == 3  # the same page learned twice counts once
    assert extract(NIGER[0], again).text == extract(NIGER[0], learned(NIGER)).text


def test_state_stays_bounded() -> None:
    template = SiteTemplate()
    for n in range(400):
        paras = "".join(
            f"<p>Unique paragraph {n}-{k} {'x' * (n % 7)} about topic {n * 31 + k}.</p>"
            for k in range(30)
        )
        learn_html(
            template,
            f"<html><body><div class='menu'><a href='/'>Home</a></div><div>{paras}</div></body></html>",
            url=f"{BASE}{n}",
        )
    assert template.pages == 400
    size = len(json.dumps(template.to_state()))
    assert size < 400_000, size


@pytest.mark.parametrize(
    "html", ["", "   ", "<html></html>", "\x00\x01garbage", "<p>unclosed <b>bold"]
)
def test_broken_input_gives_a_page(html: str) -> None:
    template = SiteTemplate()
    learn_html(template, html, url=BASE + "broken")
    page = extract_html(html, template, url=BASE + "broken")
    assert isinstance(page.text, str) and isinstance(page.html, str)


def test_foreign_state_starts_fresh() -> None:
    assert SiteTemplate.from_state({"v": 999, "pages": 5}).pages == 0
    assert SiteTemplate.from_state({}).pages == 0


@pytest.mark.parametrize("path", NIGER, ids=lambda p: p.stem)
def test_a_page_parsed_once_is_cleaned_as_when_parsed_twice(path: Path) -> None:
    """The pipeline parses an article once to learn it and extract it (`parse_page`)."""
    html = path.read_text(encoding="utf-8")
    twice, once = learned(NIGER[:1]), learned(NIGER[:1])
    learn_html(twice, html, url=BASE + path.stem, article=True)
    expected = extract_html(html, twice, url=BASE + path.stem, title="Titre")
    page = parse_page(html)
    learn_html(once, page, url=BASE + path.stem, article=True)
    assert once.to_state() == twice.to_state()
    assert extract_html(page, once, url=BASE + path.stem, title="Titre") == expected
    assert expected.text  # the comparison is over a real body
    assert parse_page("   ") is None
    assert not learn_html(once, None, url=BASE + "blank")
    assert extract_html(None, once) == CleanPage("", "")


def test_digits_and_any_unicode_spacing_do_not_change_a_fingerprint() -> None:
    """A box repeated with other figures, or spaced with NBSP / em spaces, is the same box."""
    box = "<div class='figures'><p>Migrants{}assisted: {}</p><p>{}</p></div>"
    pages = [
        f"<html><body>{box.format(' ', '1 250', '')}</body></html>",
        f"<html><body>{box.format(chr(0xA0), '98' + chr(0x2003) + '7', chr(0x1C))}</body></html>",
    ]
    template = SiteTemplate()
    for n, html in enumerate(pages):
        learn_html(template, html, url=f"{BASE}figures-{n}")
    shared = [fp for fp, (seen, _) in template.counts.items() if seen == 2]
    assert len(shared) >= 2  # the box and its paragraph, seen on both pages
