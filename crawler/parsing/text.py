"""Small text helpers shared by the parsers, the pipelines and the feeds: one helper per idea."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from parsel import Selector

SUMMARY_CHARS = 300
CUT_PUNCTUATION = " ,;:.–—-"


def node_text(node: Selector) -> str:
    """The normalised text content of a node."""
    return str(node.xpath("normalize-space(.)").get() or "")


def phrases(text: str) -> list[str]:
    """`a|b|c` -> ["a", "b", "c"]: keeps the label tables of the parsers readable."""
    return [p.strip() for p in text.split("|")]


def shorten(text: str, limit: int) -> str:
    """Whitespace collapsed, cut at a word boundary before `limit` characters, with an ellipsis."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0] or text[:limit]
    return cut.rstrip(CUT_PUNCTUATION) + "…"


def summarise(text: str, limit: int = SUMMARY_CHARS) -> str:
    """The first paragraph, shortened: what a feed reader shows as the teaser."""
    first = next((p for p in text.split("\n") if p.strip()), "")
    return shorten(first, limit)


# Characters XML 1.0 forbids (C0 controls but tab, LF and CR; U+FFFE/U+FFFF; lone surrogates):
# one of them in a release makes every Atom/RSS document that includes it unparsable.
XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def strip_xml_invalid(text: str) -> str:
    """`text` without the characters XML 1.0 forbids (a vertical tab pasted from Word, say)."""
    return XML_INVALID.sub("", text)
