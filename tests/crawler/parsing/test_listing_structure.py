"""Listing rows recognised by the listing's structure (title link, date, teaser), not by the
URL shape of their links: bare-slug releases are found, menus and footers are not taken."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from parsel import Selector

from crawler.parsing import fields
from crawler.parsing.listing import is_article_url

SAVED = Path(__file__).resolve().parents[2] / "fixtures" / "replica"
MANIFEST = json.loads((SAVED / "manifest.json").read_text(encoding="utf-8"))
LISTINGS = [
    (site, name, entry["url"])
    for site, data in MANIFEST.items()
    for name, entry in data["files"].items()
    if entry["kind"] == "listing"
]
ROWS = (
    "//*[contains(@class, 'views-row') or contains(@class, 'news-teaser ') or @class='news-teaser']"
)
NOT_ROWS = "//nav//a/@href | //footer//a/@href | //*[@id='footer']//a/@href | //*[contains(@class, 'highlight')]//a/@href | //*[contains(@class, 'menu')]//a/@href"


def _page(site: str, name: str) -> Selector:
    return Selector(text=(SAVED / site / name).read_text(encoding="utf-8"))


@pytest.mark.parametrize(
    ("site", "name", "url"), LISTINGS, ids=[f"{s}/{n}" for s, n, _ in LISTINGS]
)
def test_every_row_is_an_entry_and_no_chrome_link_is(site: str, name: str, url: str) -> None:
    sel = _page(site, name)
    entries, _ = fields.parse_listing(sel, url)
    rows = sel.xpath(ROWS)
    assert rows and len(entries) == len(rows)
    chrome = {urlsplit(h).path for h in sel.xpath(NOT_ROWS).getall()}
    assert chrome, "the page has menu or footer links to tell apart"
    assert not chrome & {urlsplit(e.url).path for e in entries}
    assert all(e.title and e.date_text for e in entries)


def test_bare_slug_releases_are_found_on_the_saved_listings() -> None:
    bare = []
    for site, name, url in LISTINGS:
        entries, _ = fields.parse_listing(_page(site, name), url)
        bare += [e.url for e in entries if not is_article_url(e.url, url)]
    assert any("/es/" in u for u in bare)  # `/es/<slug>` on the global site
    assert {urlsplit(u).port for u in bare} >= {18301, 18303, 18305}  # global, mena, colombia
    for url in bare:
        assert urlsplit(url).path.strip("/").count("/") <= 1  # no news/, stories/, node/


def test_plain_rows_without_view_classes_beside_a_highlight_block() -> None:
    sel = _page("mena", "listing-p0.html")
    assert not sel.xpath("//*[contains(@class, 'views-row')]")  # only the structure tells
    entries, next_url = fields.parse_listing(sel, "http://127.0.0.1:18303/news")
    highlights = sel.xpath("//*[@class='highlight']//a/@href").getall()
    assert len(highlights) == 2 and len(entries) == 10
    assert next_url == "http://127.0.0.1:18303/news?page=1"


MENU_PAGE = """<html><body><div class="top">
<div class="item"><h3><a href="/who-we-are">Who we are</a></h3><p>Founded in 1951, the agency works with governments and civil society.</p></div>
<div class="item"><h3><a href="/our-work">Our work</a></h3><p>As the agency for migration it works across emergencies and recovery.</p></div>
</div>
<div class="events">
<div class="event"><a href="/events/forum">Forum</a> <span>12 March 2024</span></div>
<div class="event"><a href="/events/summit">Summit</a> <span>14 March 2024</span></div>
</div>
<div class="list">
<div class="entry"><h2><a href="/fr/un-nouveau-centre">Un nouveau centre ouvre à Gao</a></h2><p>12 mars 2024</p><p>Le centre accueillera des migrants de passage chaque mois.</p></div>
<div class="entry"><h2><a href="/fr/des-familles-aidees">Des familles aidées à Mopti</a></h2><p>3 mars 2024</p><p>Les familles ont reçu des kits et un appui en espèces.</p></div>
<div class="entry"><h2><a href="/fr/news?page=1">Plus d'actualités</a></h2></div>
</div>
<ul class="footer"><li><a href="/contact">Contact</a></li><li><a href="/privacy">Privacy</a></li></ul>
</body></html>"""


def test_menus_with_descriptions_and_dated_links_without_teaser_are_not_entries() -> None:
    entries, _ = fields.parse_listing(Selector(text=MENU_PAGE), "https://mali.iom.int/fr/news")
    assert [(e.url, e.title, e.date_text) for e in entries] == [
        (
            "https://mali.iom.int/fr/un-nouveau-centre",
            "Un nouveau centre ouvre à Gao",
            "12 mars 2024",
        ),
        (
            "https://mali.iom.int/fr/des-familles-aidees",
            "Des familles aidées à Mopti",
            "3 mars 2024",
        ),
    ]


def test_a_group_of_mostly_other_rows_is_not_a_listing() -> None:
    rows = "".join(f'<li><a href="/page-{i}">Page {i}</a></li>' for i in range(8))
    entry = '<li><a href="/a-bare-slug">A title here</a> 3 May 2024 — one two three four five six seven</li>'
    html = f"<html><body><ul>{rows}{entry}</ul></body></html>"
    assert fields.parse_listing(Selector(text=html), "https://x.iom.int/news") == ([], None)
