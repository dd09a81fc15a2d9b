"""Scraped HTML is hostile: one sanitiser (nh3) used before anything reaches a feed, mail or page."""

from __future__ import annotations

import html
from collections.abc import Callable
from urllib.parse import urljoin, urlsplit

import nh3

ALLOWED_TAGS = frozenset(
    {
        "p",
        "br",
        "hr",
        "a",
        "strong",
        "b",
        "em",
        "i",
        "u",
        "sup",
        "sub",
        "blockquote",
        "q",
        "ul",
        "ol",
        "li",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "figure",
        "figcaption",
        "img",
        "table",
        "thead",
        "tbody",
        "tr",
        "th",
        "td",
        "caption",
        "span",
        "div",
        "cite",
        "abbr",
    }
)
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title", "hreflang"},
    "img": {"src", "alt", "title", "width", "height"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan", "scope"},
    "*": {"lang", "dir"},
}
SAFE_SCHEMES = frozenset({"http", "https", "mailto"})


def _absolute(base_url: str | None) -> Callable[[str, str, str], str | None] | None:
    if not base_url:
        return None

    def make_absolute(tag: str, attribute: str, value: str) -> str | None:
        if attribute in {"href", "src"}:
            url = urljoin(base_url, value.strip())
            return url if urlsplit(url).scheme in SAFE_SCHEMES else None
        return value

    return make_absolute


def sanitize_html(html: str, base_url: str | None = None) -> str:
    """Only harmless tags and attributes; links made absolute; no scripts, handlers or js: URLs."""
    return nh3.clean(
        html,
        tags=set(ALLOWED_TAGS),
        attributes={k: set(v) for k, v in ALLOWED_ATTRIBUTES.items()},
        url_schemes=set(SAFE_SCHEMES),
        link_rel="noopener noreferrer nofollow",
        attribute_filter=_absolute(base_url),
        strip_comments=True,
    )


def plain_text(value: str | None) -> str:
    """Text for a context that takes no markup at all (titles, summaries): tags removed."""
    if not value:
        return ""
    if "<" not in value and "&" not in value:
        return value
    # nh3 drops every tag and the content of script/style; unescape gives back plain characters,
    # which each consumer escapes for its own format (Jinja2 autoescape, feedgen, JSON).
    return html.unescape(nh3.clean(value, tags=set())).strip()
