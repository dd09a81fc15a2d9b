"""A page as text blocks: the structural view single-page extraction (`single`) reads.

Every block element's own inline text (down to, not into, nested blocks; custom elements
count as blocks), its words and the share of it in links; and whether it sits in chrome: a
landmark (`dom.LANDMARK_TAGS`, `LANDMARK_ROLES`), a hidden element, or a box whose class or
id names a share/related/newsletter/… widget (`HINT_TOKENS`, words of no one site).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

import lxml.html

from crawler.boilerplate.dom import LANDMARK_ROLES, LANDMARK_TAGS

TOKEN = re.compile(r"\w+")
SPACES = re.compile(r"\s+")
CLASS_SPLIT = re.compile(r"[\s_-]+")
DROP_TAGS = (
    "script", "style", "noscript", "template", "svg", "iframe", "canvas", "button", "input",
    "select", "textarea", "object", "embed", "link", "meta", "head", "dialog", "title",
)  # fmt: skip
# Everything else is a block, custom elements (<article-body>, <app-root>) included.
INLINE_TAGS = frozenset(
    {
        "a", "span", "em", "strong", "b", "i", "u", "s", "small", "big", "sup", "sub", "abbr",
        "cite", "code", "time", "mark", "q", "font", "img", "br", "wbr", "label", "var", "kbd",
        "samp", "dfn", "bdi", "bdo", "del", "ins", "strike", "tt", "data", "picture", "source",
    }
)  # fmt: skip
# Words in class/id names that mark a box as chrome on any site (not strings of any one site).
HINT_TOKENS = frozenset(
    {
        "nav", "navbar", "navigation", "menu", "breadcrumb", "breadcrumbs", "cookie", "consent",
        "share", "sharing", "social", "newsletter", "subscribe", "signup", "related", "sidebar",
        "footer", "pager", "pagination", "promo", "comment", "comments", "advert", "ad", "ads",
        "byline", "author", "meta", "tags", "recommended", "trending", "popular", "widget",
        "caption", "credit", "hidden", "modal", "popup", "banner", "toolbar", "header",
    }
)  # fmt: skip


@dataclass
class Block:
    """A run of inline text directly inside one block element."""

    el: lxml.html.HtmlElement
    text: str
    tokens: list[str]
    link_chars: int
    leaf: bool  # the element has no block children: it can be serialised whole
    covered: bool = False
    chrome: bool = False
    ancestors: list[lxml.html.HtmlElement] = field(default_factory=list)


def strip_non_content(root: lxml.html.HtmlElement) -> None:
    """Remove from the tree what is never read as text (scripts, styles, forms, head…)."""
    for el in list(root.iter(*DROP_TAGS)):
        if isinstance(el, lxml.html.HtmlElement) and el.getparent() is not None:
            el.drop_tree()


def normalize_space(text: str | None) -> str:
    """Whitespace runs collapsed to one space, ends stripped; '' for no text."""
    return SPACES.sub(" ", text).strip() if text else ""


def text_blocks(root: lxml.html.HtmlElement) -> Iterator[Block]:
    """Every block element's own inline text, in document order."""
    for el in root.iter():
        if not isinstance(el.tag, str) or el.tag in INLINE_TAGS or el.tag == "html":
            continue
        parts: list[str] = []
        links = [0]
        leaf = _inline_text(el, parts, links, in_link=False)
        text = normalize_space("".join(parts))
        if text:
            yield Block(el, text, TOKEN.findall(text), links[0], leaf)


def _inline_text(
    el: lxml.html.HtmlElement, parts: list[str], links: list[int], in_link: bool
) -> bool:
    """Append el's text down to (not into) nested blocks; False when it has nested blocks."""
    leaf = True
    if el.text:
        parts.append(el.text)
        links[0] += len(normalize_space(el.text)) if in_link else 0
    for child in el:
        if isinstance(child.tag, str) and child.tag not in INLINE_TAGS:
            leaf = False
        elif isinstance(child.tag, str):
            leaf = _inline_text(child, parts, links, in_link or child.tag == "a") and leaf
        if child.tail:
            parts.append(child.tail)
            links[0] += len(normalize_space(child.tail)) if in_link else 0
    return leaf


def _hinted(el: lxml.html.HtmlElement) -> bool:
    names = f"{el.get('class', '')} {el.get('id', '')}".lower()
    return any(t in HINT_TOKENS for t in CLASS_SPLIT.split(names) if t)


def _is_chrome(el: lxml.html.HtmlElement) -> bool:
    if el.tag in LANDMARK_TAGS or (el.get("role") or "").lower() in LANDMARK_ROLES:
        return True
    if el.get("hidden") is not None or el.get("aria-hidden") == "true":
        return True
    style = (el.get("style") or "").replace(" ", "").lower()
    if "display:none" in style or "visibility:hidden" in style:
        return True
    return _hinted(el)


def mark_chrome(blocks: list[Block], regions: set[lxml.html.HtmlElement]) -> None:
    """Chrome when the block or an ancestor below the region is a landmark or a named box."""
    chrome: dict[lxml.html.HtmlElement, bool] = {}
    for b in blocks:
        flag = False
        for node in [b.el, *b.ancestors]:
            if node in regions or node.tag == "body":
                break
            if node not in chrome:
                chrome[node] = _is_chrome(node)
            if chrome[node]:
                flag = True
                break
        b.chrome = flag
