"""Single-page extraction (one page, no site history) on synthetic pages and the Niger fixtures."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from crawler.boilerplate.single import (
    DEFAULT_PARAMS,
    ExtractedArticle,
    extract_article,
    extract_with_candidate,
    parse_page,
)

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "boilerplate" / "html"
PROSE = [
    "The river rose by four metres overnight and the old bridge at the market was closed to all traffic.",
    "Families from the lower districts spent the night in the school, where volunteers handed out blankets.",
    "Engineers said the embankment would hold, but asked residents to stay away from the water until Friday.",
    "The regional office counted three hundred households displaced and opened a second shelter in the hall.",
    "Rain is expected to ease on Thursday, according to the weather service, which lifted its red warning.",
    "Local traders said the closure of the bridge had cut them off from half of their usual customers.",
]


def page(body: str) -> str:
    nav = "".join(f'<li><a href="/s{i}">Section {i}</a></li>' for i in range(8))
    return f"""<!doctype html><html><head><title>T</title>
<script>var tracker = "window.dataLayer";</script></head><body>
<header><nav><ul>{nav}</ul></nav></header>
<main><h1>Floods close the old bridge</h1>{body}</main>
<aside class="related"><h3>Related stories</h3><ul>
<li><a href="/a">Another story about something else entirely, with many words in it</a></li>
<li><a href="/b">Yet another story that is not this one, also long enough to count</a></li></ul></aside>
<footer><p>Copyright 2024 The Daily Example. All rights reserved. Terms of use.</p></footer>
</body></html>"""


def paras(items: list[str]) -> str:
    return "".join(f"<p>{p}</p>" for p in items)


def test_article_paragraphs_kept_and_chrome_dropped() -> None:
    share = '<div class="share-bar"><a href="/f">Facebook</a> <a href="/x">X</a></div>'
    art = extract_article(page(f'<article><div class="body">{paras(PROSE)}</div>{share}</article>'))
    assert isinstance(art, ExtractedArticle)
    for p in PROSE:
        assert p in art.text
    for junk in ("Section 3", "Related stories", "Copyright", "Facebook", "window.dataLayer"):
        assert junk not in art.text, junk
    assert "Floods close the old bridge" not in art.text  # the title is not body
    assert art.html.count("<p>") == len(PROSE)


def test_body_cut_into_sibling_containers_is_joined() -> None:
    """Ad slots split the body into repeated containers; all of them are the article."""
    ad = '<div class="ad-slot"><a href="/ad">Advertisement</a></div>'
    rows = "".join(
        f'<div class="row"><div class="article-body grid-item">{paras(PROSE[i : i + 2])}</div>{ad}</div>'
        for i in (0, 2, 4)
    )
    root = parse_page(page(rows))
    assert root is not None
    # a candidate that stopped after the first container, as a first-match rule does
    art = extract_with_candidate(root, "\n".join(PROSE[:2]), None, DEFAULT_PARAMS)
    assert art.source == "candidate+structure"
    assert [p for p in PROSE if p in art.text] == PROSE
    assert "Advertisement" not in art.text
    assert art.text.index(PROSE[2]) < art.text.index(PROSE[4])  # document order kept


def test_empty_candidate_falls_back_to_paragraph_density() -> None:
    hidden = f'<div style="display: none"><p>{"Hidden promotional text " * 5}</p></div>'
    root = parse_page(page(f'<div id="story">{paras(PROSE)}{hidden}</div>'))
    assert root is not None
    art = extract_with_candidate(root, "", None, DEFAULT_PARAMS)
    assert art.source == "structure"
    assert all(p in art.text for p in PROSE)
    assert "Hidden promotional" not in art.text
    assert "Related stories" not in art.text


def test_niger_fixture_first_page() -> None:
    """A real IOM page layout (the template learner's fixture), seen alone."""
    html = (FIXTURES / "niger-1.html").read_text(encoding="utf-8")
    art = extract_article(html, "https://niger.iom.int/news/niger-1")
    assert "Agadez – L'Organisation internationale" in art.text
    for junk in ("Qui sommes nous", "Mentions légales", "Restez informé", "window.dataLayer"):
        assert junk not in art.text, junk


@pytest.mark.parametrize(
    "html",
    ["", "   ", "<html></html>", "\x00\x01\x02 not html at all", "<p>" * 5000],
    ids=["empty", "blank", "no-body", "binary", "unclosed-5000"],
)
def test_hostile_or_empty_input_gives_an_article_object(html: str) -> None:
    art = extract_article(html)
    assert isinstance(art.text, str) and isinstance(art.html, str)
    assert "<script" not in art.html


def test_output_html_is_sanitised() -> None:
    evil = "<p>" + PROSE[0] + '<img src=x onerror="alert(1)"></p>'
    art = extract_article(page(f"<article>{evil}{paras(PROSE[1:])}</article>"))
    assert PROSE[0] in art.text
    assert "onerror" not in art.html and "alert(1)" not in art.html


STRAYS = {
    "link": "Ten more stories about the river this week",
    "boxed": "Sign up for our morning letter today",
    "outside": "A teaser for a story about the city budget",
}


def _stray_page() -> str:
    """Body paragraphs plus three lines a candidate may keep that are no article text: a
    headline that is all link, a line in a named box inside the article, one outside it."""
    boxed = f'<div class="newsletter-box"><p>{STRAYS["boxed"]}</p></div>'
    body = paras(PROSE) + f'<p><a href="/more">{STRAYS["link"]}</a></p>{boxed}'
    outside = f'<div class="note"><p>{STRAYS["outside"]}</p></div>'
    return page(f'<article><div class="body">{body}</div></article>{outside}')


def test_candidate_lines_that_are_no_article_text_are_dropped() -> None:
    candidate = "\n".join([*PROSE, *STRAYS.values()])
    root = parse_page(_stray_page())
    assert root is not None
    art = extract_with_candidate(root, candidate, None, DEFAULT_PARAMS)
    assert all(p in art.text for p in PROSE)
    assert [s for s in STRAYS.values() if s in art.text] == []


@pytest.mark.parametrize(
    ("change", "back"),
    [
        ({"drop_link_share": 1.01}, "link"),
        ({"drop_chrome": False}, "boxed"),
        ({"outside_share": 1.0}, "outside"),
    ],
)
def test_each_drop_threshold_is_observed(change: dict[str, Any], back: str) -> None:
    candidate = "\n".join([*PROSE, *STRAYS.values()])
    root = parse_page(_stray_page())
    assert root is not None
    params = dataclasses.replace(DEFAULT_PARAMS, **change)
    art = extract_with_candidate(root, candidate, None, params)
    assert [k for k, s in STRAYS.items() if s in art.text] == [back]
