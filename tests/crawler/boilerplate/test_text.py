"""Text mode on labelled fixtures (tests/fixtures/boilerplate/text): one directory = one site."""

from __future__ import annotations

from pathlib import Path

import pytest

from crawler.boilerplate import clean_text_corpus
from crawler.boilerplate.text import Family, menu_block, norm, split_lines

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "boilerplate" / "text"
SITES = sorted(p for p in FIXTURES.iterdir() if p.is_dir())
MENU_SITES = [
    "global-en", "global-fr", "global-es", "country-fr", "country-en", "country-es", "bih",
    "brazil", "portugal", "arabic", "stories", "dtm",
]  # fmt: skip


def load(path: Path) -> tuple[str, list[str]]:
    """Document text (labels stripped) and one label per line."""
    labels, lines = [], []
    for raw in path.read_text(encoding="utf-8").split("\n"):
        if not raw:
            continue
        label, _, line = raw.partition("|")
        labels.append(label)
        lines.append(line)
    return "\n".join(lines), labels


def mistakes(text: str, labels: list[str], cleaned: str) -> list[str]:
    kept = [line for line, _ in split_lines(cleaned)] if cleaned else []
    out, j = [], 0
    for (line, _), label in zip(split_lines(text), labels, strict=True):
        hit = j < len(kept) and kept[j] == line
        j += hit
        if (label == "B" and hit) or (label == "K" and not hit):
            out.append(f"{label} {'kept' if hit else 'dropped'}: {line!r}")
    assert j == len(kept), "output holds lines that are not input lines, in order"
    return out


@pytest.mark.parametrize("site", SITES, ids=lambda p: p.name)
def test_site_corpus(site: Path) -> None:
    files = sorted(site.glob("*.txt"))
    docs = [load(f) for f in files]
    cleaned = clean_text_corpus([text for text, _ in docs])
    for f, (text, labels), out in zip(files, docs, cleaned, strict=True):
        assert mistakes(text, labels, out) == [], f.name


@pytest.mark.parametrize("site", MENU_SITES)
def test_menu_found_on_a_single_page(site: str) -> None:
    """A site's very first page: the menu goes from structure alone."""
    for f in sorted((FIXTURES / site).glob("*.txt")):
        text, labels = load(f)
        (out,) = clean_text_corpus([text])
        assert mistakes(text, labels, out) == [], f.name


def test_menu_block_needs_evidence() -> None:
    keys = [norm(x) for x in ["- first point", "- second point", "- third", "- fourth", "Body"]]
    assert menu_block(keys) == (0, 0)  # a plain bullet list at the top is not a menu


def test_media_contact_line_repeated_on_every_release_is_kept() -> None:
    contact = "For more information, please contact Jane Roe, IOM Niamey, Tel: +227 20 00 00 00"
    docs = [
        f"Release number {n} about something new\nNiamey – Body of release {n} told in one full sentence here.\n{contact}"
        for n in range(5)
    ]
    for out in clean_text_corpus(docs):
        assert out.endswith(contact)


def test_repeated_credit_after_title_is_kept() -> None:
    docs = [
        f"Title of the release number {n} today\n\nPhoto: IOM\n\nBody {n} of the release, long enough."
        for n in range(3)
    ]
    for doc, out in zip(docs, clean_text_corpus(docs), strict=True):
        assert out == doc


def test_near_duplicate_snapshots_do_not_erase_each_other() -> None:
    body = "\n".join(f"Line {i} of a hard-wrapped legacy press release goes on" for i in range(8))
    docs = [
        f"\nSame Title\n\n{body}",
        f"\nSame Title\n\n{body}\nOne more line at the end of snapshot two",
    ]
    out = clean_text_corpus(docs)
    assert out[0] == docs[0]
    assert out[1] == docs[1]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a\r\nb\r\n", "a\r\nb\r\n"),
        ("a\nb", "a\nb"),
        ("", ""),
        ("only line\n", "only line\n"),
    ],
)
def test_lines_verbatim_with_own_newlines(text: str, expected: str) -> None:
    assert clean_text_corpus([text]) == [expected]


def test_trailing_newline_not_added_when_last_lines_dropped() -> None:
    docs = [
        f"Title of release {n} that is long enough\nBody sentence {n} of the release, long enough.\n\nShare this"
        for n in range(2)
    ]
    for n, out in enumerate(clean_text_corpus(docs)):
        assert (
            out
            == f"Title of release {n} that is long enough\nBody sentence {n} of the release, long enough.\n"
        )


LISTING_ROWS = (
    "\n\n12 March 2021\n\nDakar – A long teaser about what the regional office did this week.\n"
    "\n10 March 2021\n\nBamako – Another teaser about a second event that happened this month.\n"
)


def test_a_listing_heading_above_its_rows_goes() -> None:
    (out,) = clean_text_corpus(["Regional Updates" + LISTING_ROWS])
    assert out == LISTING_ROWS[1:]  # the heading line goes; the blank line after it stays


def test_a_short_title_above_one_date_stays() -> None:
    doc = (
        "Floods Displace Thousands\n\n12 March 2021\n\n"
        "Dakar – Heavy rains displaced thousands of people, the organization said.\n\n"
        "Teams are handing out shelter kits in the worst-hit districts."
    )
    assert clean_text_corpus([doc]) == [doc]


def test_a_row_of_link_labels_goes_below_the_content() -> None:
    doc = "A headline long enough to start the content here\nBody line of the story.\nRead on | Share on"
    assert clean_text_corpus([doc]) == [
        "A headline long enough to start the content here\nBody line of the story."
    ]


def test_family_labels_are_learned_from_the_other_sites_only() -> None:
    """A label two other sites print outside their menus goes on a new site's first page;
    a word that is only a menu item elsewhere may be this page's own heading."""
    menu = "-\nWho we are\nWho we are\n- What we do\n- Take part\n- Data\n"
    others = [
        [f"{menu}Follow our office\nA release of site {n} told in one long sentence here."]
        for n in range(2)
    ]
    family = Family(others)
    doc = "Follow our office\n\nWhat we do\n\nThe office runs programmes in four areas of work."
    (out,) = clean_text_corpus([doc], family)
    assert out == "\nWhat we do\n\nThe office runs programmes in four areas of work."
    assert clean_text_corpus([doc]) == [doc], "without the family there is no evidence"


BODY = (
    "Floods Close the Old Bridge\n\n"
    "Dakar – Heavy rains displaced thousands of people, the organization said on Monday.\n\n"
    "Teams handed out shelter kits in the worst-hit districts:\n\n"
    "  • Shelter kits\n  • Clean water\n  • Health care\n"
)


def test_a_switcher_list_above_the_content_goes_and_a_list_in_it_stays() -> None:
    """Short bulleted entries above the first content line are links (languages), and the
    short lines after them in the same paragraph (a feed link, an update time) go with them."""
    doc = "  • English\n  • Français\nFollow this page's feed\nUpdated: 5 min ago\n\n" + BODY
    (out,) = clean_text_corpus([doc])
    assert out == "\n" + BODY


def test_a_mailing_header_goes_and_a_question_title_stays() -> None:
    header = (
        "Cannot read this letter? View online\n\n12 March 2021\n\nWrite to: desk@example.org\n\n"
    )
    (out,) = clean_text_corpus([header + BODY])
    assert out == "\n12 March 2021\n\n\n" + BODY
    question = "Will the River Rise Again This Week?\n\n" + BODY
    assert clean_text_corpus([question]) == [question]


def test_a_label_closing_the_page_goes() -> None:
    (out,) = clean_text_corpus([BODY + "\nPages"])
    assert out == BODY
    truncated = BODY + "The shelters will stay open while the water\nrecedes"
    assert clean_text_corpus([truncated]) == [truncated], "a line of a paragraph stays"
