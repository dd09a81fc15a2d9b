"""Single-page article extraction: one page, no site history, any site.

What iomwatch uses on a site's very first page, or while a site's template has seen fewer than
two pages (`SiteTemplate.pages < 2`), when the template learner has nothing to compare with.

Two views of the page are combined:

1. **A precision-first candidate** from trafilatura (``favor_precision``, fast mode: no
   readability/justext fallback pass). It is rarely wrong about what it keeps, but it stops
   early on bodies split into several sibling containers and sometimes returns nothing.
2. **The page's own structure** (`crawler.boilerplate.blocks`): every text block of the DOM,
   its link share, whether it sits in a landmark or in a box named share/related/newsletter/…

The candidate's text locates the *article region* (the deepest element holding most of the
text it kept; sibling containers of the same tag and class join it, since bodies cut by ad
slots repeat their container). Inside the region, blocks the candidate skipped come back when
structure says they are prose (enough words, few links, no chrome on the way up). Lines it
kept are dropped when structure says they are no article text: outside the element holding
most of its text, in a named box, the page's ``h1`` (the title is stored apart), or all link
(a related headline). When the candidate is empty, a paragraph-density
score picks the region instead.

Every threshold lives in `Params`; `bench/generic.py` tunes them by cross-validation and
reports the held-out score, so the defaults below are the ones chosen on held-out folds.
"""

from __future__ import annotations

import html as html_lib
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

import lxml.html
import trafilatura
from lxml import etree

from crawler.boilerplate.blocks import (
    TOKEN,
    Block,
    mark_chrome,
    normalize_space,
    strip_non_content,
    text_blocks,
)
from crawler.parsing.sanitize import sanitize_html

URLISH = re.compile(r"\S*[/.]\S*")  # one "word" with slashes or dots: a URL, a file name
PARSER = lxml.html.HTMLParser(remove_comments=True, remove_pis=True)

HEADING_TAGS = frozenset({"h2", "h3", "h4", "h5", "h6"})


@dataclass(frozen=True)
class Params:
    """The tunable thresholds (see module docstring); bench/generic.py cross-validates them."""

    cover_share: float = 0.5  # a block is "kept by the candidate" when this share of it is in it
    region_share: float = 0.85  # the region holds at least this share of the candidate's text
    add_min_tokens: int = 10  # a skipped block in the region comes back with this many words ...
    add_link_share: float = 0.3  # ... and at most this share of its text in links
    sibling_levels: int = 3  # same tag+class kin of the region this many levels up join it
    short_chars: int = 300  # a candidate this short yields to a density pick twice as long
    add_headings: bool = True  # skipped h2-h6 inside the region come back
    add_in_region: bool = False  # also add skipped prose inside the region itself
    drop_link_share: float = 0.8  # a kept block this much link text is a headline list's entry
    outside_share: float = 0.85  # kept blocks outside the element holding this share of the
    # candidate's words (and outside the region's kin) are dropped; 1.0 drops none
    drop_chrome: bool = True  # kept blocks in a named box (related, newsletter…) are dropped


DEFAULT_PARAMS = Params()


@dataclass(frozen=True)
class ExtractedArticle:
    """The article body of one page: plain text (one block a line) and sanitised HTML."""

    text: str
    html: str
    source: str = "empty"  # "candidate+structure", "structure" or "empty": how it was found


def extract_article(
    html: str, url: str | None = None, *, params: Params = DEFAULT_PARAMS
) -> ExtractedArticle:
    """The article's own text and HTML from one page alone; empty strings when none is found."""
    root = parse_page(html)
    if root is None:
        return ExtractedArticle("", "")
    return extract_with_candidate(root, candidate_text(root, url), url, params)


def extract_with_candidate(
    root: lxml.html.HtmlElement, candidate: str, url: str | None, params: Params
) -> ExtractedArticle:
    """`extract_article` on a parsed page and a given candidate text (consumes `root`); the
    bench computes the candidate once per page and tries many `Params` on it."""
    strip_non_content(root)
    blocks = list(text_blocks(root))
    if not blocks:
        return ExtractedArticle("", "")
    lines, source = _select(blocks, candidate, params)
    if not lines:
        return ExtractedArticle("", "")
    return ExtractedArticle("\n".join(lines), sanitize_html(_to_html(lines), url), source)


def parse_page(html: str) -> lxml.html.HtmlElement | None:
    if not html.strip():
        return None
    try:
        return lxml.html.document_fromstring(html, parser=PARSER)
    except (etree.ParserError, ValueError):
        return None


def candidate_text(root: lxml.html.HtmlElement, url: str | None) -> str:
    """trafilatura's precision-first text (on its own copy of the tree): fast mode first; its
    slower fallback pass (readability, justext) only when fast mode finds nothing."""
    for fast in (True, False):
        doc = trafilatura.bare_extraction(
            root, url=url, fast=fast, favor_precision=True, include_comments=False
        )
        text = getattr(doc, "text", None)
        if isinstance(text, str) and text.strip():
            return text
    return ""


def _shingles(tokens: list[str]) -> Iterator[tuple[str, ...]]:
    if len(tokens) < 4:
        yield tuple(tokens)
        return
    for i in range(len(tokens) - 3):
        yield tuple(tokens[i : i + 4])


def _mark_covered(blocks: list[Block], candidate: str, share: float) -> None:
    """A block is covered when the candidate holds `share` of its 4-token shingles."""
    tokens = TOKEN.findall(candidate)
    have = Counter(_shingles(tokens))
    joined = "\x01" + "\x01".join(tokens) + "\x01"
    for b in blocks:
        if not b.tokens:
            continue
        if len(b.tokens) < 4:
            b.covered = ("\x01" + "\x01".join(b.tokens) + "\x01") in joined
            continue
        shingles = list(_shingles(b.tokens))
        b.covered = sum(s in have for s in shingles) >= share * len(shingles)


def _region(blocks: list[Block], share: float) -> lxml.html.HtmlElement | None:
    """The deepest element whose subtree holds `share` of the covered blocks' words."""
    weight: dict[lxml.html.HtmlElement, int] = {}
    depth: dict[lxml.html.HtmlElement, int] = {}
    total = 0
    for b in blocks:
        if not b.covered:
            continue
        total += len(b.tokens)
        chain = [b.el, *b.ancestors]
        for i, node in enumerate(chain):
            weight[node] = weight.get(node, 0) + len(b.tokens)
            depth.setdefault(node, len(chain) - i)
    if not total:
        return None
    fits = [el for el, w in weight.items() if w >= share * total]
    return max(fits, key=lambda el: depth[el]) if fits else None


def _density_region(blocks: list[Block]) -> lxml.html.HtmlElement | None:
    """No candidate: the element whose prose paragraphs score highest (parent + grandparent)."""
    scores: dict[lxml.html.HtmlElement, float] = {}
    for b in blocks:
        if b.el.tag not in ("p", "pre", "blockquote") or len(b.tokens) < 8 or b.chrome:
            continue
        if b.link_chars > 0.3 * len(b.text):
            continue
        score = 1.0 + min(len(b.text) / 100, 3.0)
        for node, w in zip(b.ancestors[:2], (1.0, 0.5), strict=False):
            scores[node] = scores.get(node, 0.0) + score * w
    return max(scores, key=lambda el: scores[el]) if scores else None


def _siblings(region: lxml.html.HtmlElement, levels: int) -> set[lxml.html.HtmlElement]:
    """The region and its kin of the same tag and class up to `levels` above (a body cut by ads
    into several containers repeats the container, often one per grid row)."""
    key = (region.tag, region.get("class"))
    node = region
    for _ in range(levels if key[1] else 0):
        parent = node.getparent()
        if parent is None or parent.tag == "body":
            break
        node = parent
        kin = {el for el in node.iter(region.tag) if el.get("class") == key[1]}
        if len(kin) > 1:
            return {el for el in kin if not any(a in kin for a in el.iterancestors())}
    return {region}


def _annotate(blocks: list[Block]) -> None:
    for b in blocks:
        b.ancestors = list(b.el.iterancestors())


def _prose(b: Block, p: Params) -> bool:
    if b.chrome or b.el.tag == "h1" or URLISH.fullmatch(b.text):
        return False
    if b.el.tag in HEADING_TAGS:
        return p.add_headings and not b.link_chars
    return len(b.tokens) >= p.add_min_tokens and b.link_chars <= p.add_link_share * len(b.text)


def _select(blocks: list[Block], candidate: str, p: Params) -> tuple[list[str], str]:
    """The article's lines: the candidate's, plus prose blocks the structure says it missed."""
    _annotate(blocks)
    lines = [line for line in (normalize_space(x) for x in candidate.split("\n")) if line]
    if sum(map(len, lines)) < p.short_chars:
        dense = _by_density(blocks, p)
        if sum(map(len, dense)) > 2 * sum(map(len, lines)):
            return dense, "structure"
        if not lines:
            return [], "empty"
    _mark_covered(blocks, candidate, p.cover_share)
    region = _region(blocks, p.region_share)
    if region is None:
        return lines, "candidate"
    regions = _siblings(region, p.sibling_levels)
    outer = _region(blocks, p.outside_share)
    lines = _drop_stray(lines, blocks, regions | ({outer} if outer is not None else set()), p)
    inside = [b for b in blocks if not b.covered and _inside(b, regions)]
    mark_chrome(inside, regions)
    where = _line_index(lines)
    extra: dict[int, list[str]] = {}
    after = -1
    chosen = {id(b) for b in inside}
    for b in blocks:
        if b.covered:
            after = max(after, where.get(next(_shingles(b.tokens)), after))
            continue
        main = b.el is region or region in b.ancestors
        if id(b) in chosen and (p.add_in_region or not main) and _prose(b, p):
            extra.setdefault(after, []).append(b.text)
    out = extra.get(-1, [])
    for i, line in enumerate(lines):
        out += [line, *extra.get(i, [])]
    return out, "candidate+structure" if extra else "candidate"


def _stray(b: Block, keep: set[lxml.html.HtmlElement], p: Params) -> bool:
    """A block the candidate kept that is no article text: outside the region, in a named box,
    the page's title (stored apart from the body), or a link."""
    if b.el.tag == "h1" or not _inside(b, keep) or (p.drop_chrome and b.chrome):
        return True
    return b.link_chars >= p.drop_link_share * len(b.text)


def _drop_stray(
    lines: list[str], blocks: list[Block], keep: set[lxml.html.HtmlElement], p: Params
) -> list[str]:
    """The candidate's lines without those made mostly of stray blocks' shingles (`keep`: the
    elements whose blocks may stay)."""
    stray: Counter[tuple[str, ...]] = Counter()
    kept: Counter[tuple[str, ...]] = Counter()
    if p.drop_chrome:
        mark_chrome([b for b in blocks if b.covered], keep)
    for b in blocks:
        if b.covered:
            (stray if _stray(b, keep, p) else kept).update(_shingles(b.tokens))
    out = []
    for line in lines:
        own = list(_shingles(TOKEN.findall(line)))
        bad = sum(s in stray and s not in kept for s in own)
        if not own or 2 * bad < len(own):
            out.append(line)
    return out


def _inside(b: Block, regions: set[lxml.html.HtmlElement]) -> bool:
    return b.el in regions or any(a in regions for a in b.ancestors)


def _line_index(lines: list[str]) -> dict[tuple[str, ...], int]:
    """First shingle of every 4-token window -> the candidate line it starts in."""
    where: dict[tuple[str, ...], int] = {}
    for i, line in enumerate(lines):
        for sh in _shingles(TOKEN.findall(line)):
            where.setdefault(sh, i)
    return where


def _by_density(blocks: list[Block], p: Params) -> list[str]:
    region = _density_region(blocks)
    if region is None:
        return []
    inside = [b for b in blocks if _inside(b, {region})]
    mark_chrome(inside, {region})
    return [b.text for b in inside if _prose(b, p)]


def _to_html(lines: list[str]) -> str:
    return "\n".join(f"<p>{html_lib.escape(line)}</p>" for line in lines)
