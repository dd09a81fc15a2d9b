"""Drupal news listing pages: the article entries in page order and the next page."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, NamedTuple
from urllib.parse import parse_qsl, unquote, urlsplit

from parsel import Selector

from crawler.parsing import xpaths as X
from crawler.parsing.dates import search_date
from crawler.parsing.text import node_text
from crawler.parsing.urls import absolute, safe_canonical, same_host

if TYPE_CHECKING:
    from collections.abc import Iterator

ARTICLE_PATH = re.compile(
    r"^(?:/[a-z]{2}(?:-[a-z]{2,4})?)?/(?:"
    r"(?:news|stories|story|article|statements|noticia|noticias|press-releases?)/(?!page/)[^?#]+"
    r"|node/\d+/?)$",
    re.I,
)
NOT_ARTICLE = re.compile(r"\.(?:xml|rss|pdf|jpe?g|png|gif|docx?)$|/feed/?$", re.I)
READ_MORE = re.compile(
    r"^(?:read more|more|lire la suite|en savoir plus|leer mas|leer más|ver mas|ver más"
    r"|saiba mais|leia mais|اقرأ المزيد|المزيد)\W*$",
    re.I,
)
MAX_ROW_TEXTS = 8
MAX_DATE_OFFSET = 3
MAX_ROW_DEPTH = 4
MAX_ROW_LINKS = 50
MAX_ROW_SEARCHES = 300
MAX_ROW_TARGETS = 3  # a row linking more distinct pages is a container of rows, not a row
MIN_TEASER_WORDS = 6  # words beside the title and the date (digits aside) that make a teaser
MIN_GROUP_ROWS = 2
# `/`, `/fr`, `/pt-br`: a site's home in a language, never an entry
MAX_STRUCTURE_ENTRIES = 500
ROW_POSITION_CLASS = re.compile(
    r"\d|^(?:odd|even|first|last|active|is-active)$|-(?:odd|even|first|last)$"
)
LANG_ROOT = re.compile(r"^(?:/[a-z]{2}(?:-[a-z]{2,4})?)?/?$", re.I)


class ListingEntry(NamedTuple):
    """One item of a listing: its canonical article URL, its title and its date as printed."""

    url: str
    title: str | None
    date_text: str | None


def is_article_url(url: str, page_url: str) -> bool:
    """True for an article-shaped URL (`/news/<slug>`, `/node/N`, …) on the page's host."""
    if not same_host(url, page_url):
        return False
    try:
        path = unquote(urlsplit(url).path)
    except ValueError:
        return False
    return bool(ARTICLE_PATH.match(path)) and not NOT_ARTICLE.search(path)


def _entry_target(target: str, page_url: str) -> bool:
    """A link a listing row may point its entry at: a page of the listing's host that is not
    a file, a feed, a pager or a filtered view (no query), nor the listing or one of its parents.
    """
    if not same_host(target, page_url):
        return False
    try:
        parts, page = urlsplit(safe_canonical(target)), urlsplit(page_url)
        path, listing = unquote(parts.path).rstrip("/"), unquote(page.path).rstrip("/")
    except ValueError:
        return False
    if parts.query or NOT_ARTICLE.search(path) or LANG_ROOT.match(path):
        return False
    return path != listing and not (listing + "/").startswith(path + "/")


def _candidates(row: Selector, url: str) -> Iterator[list[tuple[str, str | None]]]:
    """The row's usable links, one list per ROW_TITLE_LINKS query (headings first)."""
    for query in X.ROW_TITLE_LINKS:
        found: list[tuple[str, str | None]] = []
        for link in row.xpath(query)[:MAX_ROW_LINKS]:
            target = absolute(url, link.xpath("@href").get())
            if target and _entry_target(target, url):
                text = node_text(link) or (link.xpath("@title").get() or "").strip()
                found.append((target, None if not text or READ_MORE.match(text) else text))
        if found:
            yield found


def _row_link(row: Selector, url: str) -> tuple[str, str | None] | None:
    """The row's entry link and its text: an article-shaped link (the URL shape is a hint),
    else, in a row shaped like a listing entry (a date and a teaser beside its title link),
    the link with the longest text among the highest-ranked links (headings first).
    """
    ranked = list(_candidates(row, url))
    for found in ranked:
        for target, text in found:
            if is_article_url(target, url):
                return target, text
    if not ranked or len({safe_canonical(t) for f in ranked for t, _ in f}) > MAX_ROW_TARGETS:
        return None
    target, text = max(ranked[0], key=lambda link: len(link[1] or ""))
    if text is None or not _entry_shaped(row, text):
        return None
    return target, text


def _entry_shaped(row: Selector, title: str) -> bool:
    """A row that prints a date and a teaser besides its title: a listing entry, not a menu
    item or footer link (those repeat too, but carry no date beside a sentence of text)."""
    if _row_date(row, title) is None:
        return False
    rest = node_text(row).replace(title, " ", 1)
    words = [w for w in rest.split() if not any(c.isdigit() for c in w)]
    return len(words) >= MIN_TEASER_WORDS


def _row_title(row: Selector, link_text: str | None) -> str | None:
    """The item title: its link text, else the text of a heading in the row."""
    if link_text:
        return link_text
    for heading in row.xpath(".//h2 | .//h3 | .//h4 | .//*[contains(@class, 'title')]"):
        if text := node_text(heading):
            return text
    return None


def _row_date(row: Selector, title: str | None) -> str | None:
    """The row's date as printed: <time>, a date-classed element, or a leading date in a line."""
    for query in X.ROW_DATE:
        for node in row.xpath(query)[:3]:
            text = node.get() if isinstance(node.root, str) else node_text(node)
            if text and text.strip():
                return " ".join(text.split())
    for raw in row.xpath(".//text()").getall()[: MAX_ROW_TEXTS * 4]:
        text = " ".join(raw.split())
        if not text or text == title:
            continue
        found = search_date(text)
        if found is not None and found.start <= MAX_DATE_OFFSET:
            return text[found.start : found.end]
    return None


def _entries_from_rows(rows: list[Selector], url: str) -> list[ListingEntry]:
    """One entry per row holding an article link, deduplicated by URL, in page order."""
    entries: list[ListingEntry] = []
    seen: set[str] = set()
    for row in rows:
        link = _row_link(row, url)
        if link is None:
            continue
        target = safe_canonical(link[0])
        if target in seen:
            continue
        seen.add(target)
        title = _row_title(row, link[1])
        entries.append(ListingEntry(target, title, _row_date(row, title)))
    return entries


def _link_row(link: Selector, target: str, url: str) -> Selector:
    """The largest ancestor (up to a few levels) of `link` that links to no other article."""
    row = link
    for _ in range(MAX_ROW_DEPTH):
        parents = row.xpath("..")
        if not parents:
            break
        hrefs = parents[0].xpath(".//a/@href").getall()
        if len(hrefs) > MAX_ROW_LINKS:
            break
        others = {
            safe_canonical(t) for h in hrefs if (t := absolute(url, h)) and is_article_url(t, url)
        }
        if others - {target}:
            break
        row = parents[0]
    return row


def _entries_from_links(sel: Selector, url: str) -> list[ListingEntry]:
    """Fallback: every article-shaped link on the page's host outside menus and footers."""
    entries: list[ListingEntry] = []
    seen: set[str] = set()
    for link in sel.xpath(X.ALL_LINKS):
        target = absolute(url, link.xpath("@href").get())
        if not target or not is_article_url(target, url):
            continue
        target = safe_canonical(target)
        if target in seen:
            continue
        seen.add(target)
        text = node_text(link)
        title: str | None = None if READ_MORE.match(text) else text or None
        date_text = None
        if len(entries) < MAX_ROW_SEARCHES:
            row = _link_row(link, target, url)
            title = _row_title(row, title)
            date_text = _row_date(row, title) or next(
                (_row_date(s, None) for s in row.xpath("preceding-sibling::*[1]")), None
            )
        entries.append(ListingEntry(target, title, date_text))
    return entries


def _class_signature(element: Any) -> tuple[str, str]:
    """What sibling rows of one list share: the tag and the classes, numbers and odd/even aside."""
    classes = str(element.get("class") or "").split()
    kept = sorted(c for c in classes if not ROW_POSITION_CLASS.search(c))
    return str(element.tag), " ".join(kept)


def _sibling_groups(sel: Selector) -> Iterator[list[Any]]:
    """Runs of sibling elements of one signature (two or more), in document order."""
    for parent in sel.root.iter() if hasattr(sel.root, "iter") else ():
        groups: dict[tuple[str, str], list[Any]] = {}
        for child in parent:
            if isinstance(child.tag, str):
                groups.setdefault(_class_signature(child), []).append(child)
        yield from (rows for rows in groups.values() if len(rows) >= MIN_GROUP_ROWS)


def _entries_from_structure(sel: Selector, url: str) -> list[ListingEntry]:
    """Entries of the page's repeated rows, whatever their classes: a group of sibling rows of
    which most hold a title link, a date and a teaser is a listing (menus and footers repeat
    too, but their rows print no date beside a teaser). Groups inside a taken row are skipped.
    """
    entries: list[ListingEntry] = []
    taken: set[Any] = set()
    for elements in _sibling_groups(sel):
        if len(entries) >= MAX_STRUCTURE_ENTRIES:
            break
        if any(a in taken for a in elements[0].iterancestors()):
            continue
        rows = [Selector(root=e) for e in elements]
        if rows[0].xpath(X.IN_CHROME).get() == "1":
            continue
        found = [
            (e, r, link) for e, r in zip(elements, rows, strict=True) if (link := _row_link(r, url))
        ]
        if len(found) < MIN_GROUP_ROWS or 2 * len(found) < len(rows):
            continue
        taken.update(e for e, _, _ in found)
        entries += _entries_from_rows([r for _, r, _ in found], url)
    return list({e.url: e for e in reversed(entries)}.values())[::-1]


def _page_query(url: str) -> tuple[int | None, list[tuple[str, str]]]:
    """The Drupal `?page=N` of a URL (0 when absent; None when unparsable) and its other params."""
    try:
        params = parse_qsl(urlsplit(url).query, keep_blank_values=True)
        pages = [v for k, v in params if k == "page"] or ["0"]
        return int(pages[0].split(",")[-1]), sorted((k, v) for k, v in params if k != "page")
    except ValueError:
        return None, []


def _pager_next(sel: Selector, url: str) -> str | None:
    """The `?page=N+1` link of the same path, preferring one with the same other parameters."""
    current, rest = _page_query(url)
    if current is None:
        return None
    path = urlsplit(url).path
    candidates: list[str] = []
    for href in sel.xpath(X.PAGER_LINKS).getall():
        target = absolute(url, href)
        if target and same_host(target, url) and urlsplit(target).path == path:
            number, other = _page_query(target)
            if number == current + 1:
                if other == rest:
                    return target
                candidates.append(target)
    return candidates[0] if candidates else None


def next_page(sel: Selector, url: str) -> str | None:
    """The absolute URL of the next listing page: rel=next, the pager's next item, or ?page=N+1."""
    for query in X.NEXT_PAGE:
        for href in sel.xpath(query).getall():
            if (target := absolute(url, href)) and target != url:
                return target
    try:
        return _pager_next(sel, url)
    except ValueError:
        return None


def parse_listing(sel: Selector, url: str) -> tuple[list[ListingEntry], str | None]:
    """The article entries of a listing page, in order, and the next page's URL (or None)."""
    entries: list[ListingEntry] = []
    for query in X.LISTING_ROWS:
        entries = _entries_from_rows(sel.xpath(query), url)
        if entries:
            break
    if not entries:
        entries = _entries_from_structure(sel, url)
    if not entries:
        entries = _entries_from_links(sel, url)
    return entries, next_page(sel, url)
