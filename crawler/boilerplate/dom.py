"""DOM mode of the boilerplate remover: learn a site's template from its pages' subtrees.

Every block-level subtree gets a fingerprint (tag + whitespace/digit-normalised text of the
whole subtree, hashed bottom-up). A site's ``SiteTemplate`` counts on how many pages each
fingerprint occurs: subtrees seen on several pages are the site's chrome (menus, mega-menus
in plain divs, cookie banners, footers, newsletter boxes), wherever they sit in the DOM.

Extraction picks the article's container by paragraph text that is *not* template, then
removes inside it what structure marks as boilerplate even on a site's first page: landmark
elements, boxes whose class/id names say share/related/cookie/…, link-dense blocks (a related
news box differs per page but is all links), and repeated boxes with links or a heading.
Repeated plain paragraphs inside the article (a media-contact line, a photo credit) stay.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import lxml.html
from lxml import etree

from crawler.parsing.sanitize import sanitize_html

STATE_VERSION = 1
MAX_FINGERPRINTS = 6000  # table size before pruning; ~20 bytes each in JSON
KEEP_AFTER_PRUNE = 4000
MAX_URLS = 3000  # remembered page ids, so re-learning one page does not count twice
TEMPLATE_MIN_PAGES = 2  # a subtree is template when seen on at least this many pages ...
TEMPLATE_MIN_SHARE = 0.02  # ... and on this share of the pages learned
MATURE_ARTICLES = 3  # article pages learned before a share bar seen on each is template for sure

DROP_TAGS = (
    "script", "style", "noscript", "template", "svg", "iframe", "canvas", "button", "input",
    "select", "textarea", "object", "embed", "link", "meta", "head", "dialog",
)  # fmt: skip
LANDMARK_TAGS = frozenset({"nav", "aside", "form", "menu", "footer", "header"})
LANDMARK_ROLES = frozenset(
    {"navigation", "banner", "contentinfo", "complementary", "search", "menu", "menubar", "dialog"}
)
HINT_TOKENS = frozenset(
    {
        "nav", "navbar", "navigation", "menu", "megamenu", "submenu", "breadcrumb", "breadcrumbs",
        "cookie", "cookies", "consent", "gdpr", "share", "sharing", "sharethis", "social",
        "newsletter", "subscribe", "subscription", "signup", "related", "sidebar", "footer",
        "pager", "pagination", "switcher", "language", "languages", "toolbar", "skip", "popup",
        "modal", "offcanvas", "promo", "visually-hidden", "sr-only", "tags", "addthis",
    }
)  # fmt: skip
BLOCK_TAGS = frozenset(
    {
        "div", "section", "article", "main", "p", "ul", "ol", "li", "dl", "dt", "dd", "table",
        "tr", "td", "th", "thead", "tbody", "h1", "h2", "h3", "h4", "h5", "h6", "figure",
        "figcaption", "blockquote", "pre", "nav", "header", "footer", "aside", "form", "address",
        "hr", "br", "caption",
    }
)  # fmt: skip
FINGERPRINT_TAGS = BLOCK_TAGS - {"br", "hr", "tr", "td", "th", "thead", "tbody", "dt", "dd"}
PARAGRAPH_TAGS = frozenset({"p", "blockquote", "pre", "figcaption", "h2", "h3", "h4", "h5", "h6"})
HEADING_TAGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})
TITLE_TAGS = ("h1", "h2", "h3")
MIN_PARAGRAPH_CHARS = 25
LINK_DENSE_SHARE = 0.6
LINK_DENSE_MIN_LINKS = 3
SIBLING_SHARE = 0.3  # a sibling with this share of the best score joins the container

SPACES = re.compile(r"\s+")
DIGITS = re.compile(r"\d+")
CLASS_SPLIT = re.compile(r"[\s_]+|--")
BR_MARK = "\x00"
# lxml.html's parser picks each element's class in Python (form, input, label... get their
# own); every element class here is HtmlElement, looked up in C: those classes only add
# form-field helpers this module never calls, and the lookup cost as much as fingerprinting.
PARSER = etree.HTMLParser(encoding="utf-8", remove_comments=True, remove_pis=True)
PARSER.set_element_class_lookup(
    etree.ElementDefaultClassLookup(
        element=lxml.html.HtmlElement,
        comment=lxml.html.HtmlComment,
        pi=lxml.html.HtmlProcessingInstruction,
        entity=lxml.html.HtmlEntity,
    )
)


@dataclass
class SiteTemplate:
    """What one site's pages have in common: fingerprint -> [pages seen on, last page number].

    `articles` counts the article pages among `pages` (listings carry no share bar, no article
    footer): a template that has seen few articles cleans them provisionally (`mature`).
    """

    pages: int = 0
    counts: dict[str, list[int]] = field(default_factory=dict)
    urls: list[str] = field(default_factory=list)
    articles: int = 0

    @classmethod
    def from_state(cls, state: dict[str, Any] | None) -> SiteTemplate:
        """Rebuild from `to_state()`; None, an empty or a foreign-version state gives a new one."""
        if not state or state.get("v") != STATE_VERSION:
            return cls()
        counts = {str(k): [int(v[0]), int(v[1])] for k, v in dict(state.get("fp", {})).items()}
        pages = int(state.get("pages", 0))
        urls = [str(u) for u in state.get("urls", [])]
        # a state saved before articles were counted: its pages were mostly articles
        return cls(pages, counts, urls, int(state.get("articles", pages)))

    def to_state(self) -> dict[str, Any]:
        """JSON-serialisable and bounded: rare fingerprints are pruned as the table grows."""
        return {
            "v": STATE_VERSION,
            "pages": self.pages,
            "fp": self.counts,
            "urls": self.urls,
            "articles": self.articles,
        }

    @property
    def mature(self) -> bool:
        """Seen enough article pages that their shared boxes (a share bar) count as template."""
        return self.articles >= MATURE_ARTICLES

    def is_template(self, fp: str) -> bool:
        seen = self.counts.get(fp)
        if seen is None:
            return False
        return seen[0] >= max(TEMPLATE_MIN_PAGES, TEMPLATE_MIN_SHARE * self.pages)

    def add(self, fingerprints: set[str], page_id: str | None, *, article: bool = False) -> bool:
        """Count one page's fingerprints (once per page id) and keep the table bounded.

        Returns False when the page was counted before.
        """
        if page_id is not None:
            if page_id in self.urls:
                return False
            self.urls = [*self.urls[-(MAX_URLS - 1) :], page_id]
        self.pages += 1
        self.articles += article
        for fp in fingerprints:
            seen = self.counts.setdefault(fp, [0, 0])
            seen[0] += 1
            seen[1] = self.pages
        if len(self.counts) > MAX_FINGERPRINTS:
            ranked = sorted(self.counts.items(), key=lambda kv: (kv[1][0] > 1, kv[1][1]))
            self.counts = dict(ranked[-KEEP_AFTER_PRUNE:])
        return True


@dataclass(frozen=True)
class CleanPage:
    """A release's clean body: plain text (blank-line separated paragraphs) and safe HTML."""

    text: str
    html: str
    title_found: bool = False


def _digest(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=6).hexdigest()


def _norm(text: str | None) -> str:
    return SPACES.sub(" ", text).strip() if text else ""


def parse(html: str | bytes) -> lxml.html.HtmlElement | None:
    """The page as an lxml tree without scripts, styles and form controls; None if unusable."""
    data = html.encode("utf-8", "replace") if isinstance(html, str) else html
    if not data.strip():
        return None
    try:
        root = lxml.html.document_fromstring(data, parser=PARSER)
    except (etree.ParserError, ValueError):
        return None
    for el in list(root.iter(*DROP_TAGS)):
        if isinstance(el, lxml.html.HtmlElement):  # always, with an HTML parser; typed _Element
            el.drop_tree()
    return root


def _elements(root: lxml.html.HtmlElement) -> Iterator[lxml.html.HtmlElement]:
    return (el for el in root.iter() if isinstance(el.tag, str))


def _fp_text(text: str | None) -> str:
    """A text or tail as fingerprints see it: whitespace collapsed (`_norm`), digits as 0.

    The same value as ``DIGITS.sub("0", _norm(text))`` (``str.split`` and the regex agree on
    what is whitespace, on every code point); most tails are bare indentation: no regex.
    """
    if not text or text.isspace():
        return ""
    return DIGITS.sub("0", " ".join(text.split()))


def fingerprints(root: lxml.html.HtmlElement) -> dict[lxml.html.HtmlElement, str]:
    """Bottom-up fingerprint of every block subtree that carries text."""
    inner: dict[lxml.html.HtmlElement, str] = {}
    out: dict[lxml.html.HtmlElement, str] = {}
    for el in reversed(list(_elements(root))):
        tag = el.tag
        parts = [tag, _fp_text(el.text)]
        for child in el:
            if isinstance(child.tag, str):
                parts.append(inner.get(child, ""))
            parts.append(_fp_text(child.tail))
        key = "|".join(parts)
        long = len(key) > 40
        inner[el] = _digest(key) if long else key
        if tag in FINGERPRINT_TAGS and len(key) > len(tag) + 8:
            out[el] = inner[el] if long else _digest(key)
    return out


@dataclass(frozen=True)
class ParsedPage:
    """One page parsed and fingerprinted once, for `learn_html` and then `extract_html`.

    A crawled article is learned and then extracted: parsing and fingerprinting it twice was
    a third of the cleaning's cost. Extraction edits the tree: extract a ParsedPage once, last.
    """

    root: lxml.html.HtmlElement
    fps: dict[lxml.html.HtmlElement, str]


def parse_page(html: str | bytes) -> ParsedPage | None:
    """The page parsed (`parse`) and fingerprinted; None if unusable."""
    root = parse(html)
    return None if root is None else ParsedPage(root, fingerprints(root))


def _parsed(html: str | bytes | ParsedPage | None) -> ParsedPage | None:
    return html if isinstance(html, ParsedPage) or html is None else parse_page(html)


def learn_html(
    template: SiteTemplate,
    html: str | bytes | ParsedPage | None,
    *,
    url: str | None = None,
    article: bool = False,
) -> bool:
    """Add one page of the site (articles and listings alike) to its template.

    Returns True when the page was new to the template (`article`: it is a release's page).
    `html` may be parsed already (`parse_page`; None: an unusable page).
    """
    page = _parsed(html)
    if page is None:
        return False
    page_id = _digest(url) if url else None
    return template.add(set(page.fps.values()), page_id, article=article)


def extract_html(
    html: str | bytes | ParsedPage | None,
    template: SiteTemplate,
    *,
    url: str | None = None,
    title: str | None = None,
) -> CleanPage:
    """The release's own content from one page of the site, without the site's chrome."""
    page = _parsed(html)
    if page is None:
        return CleanPage("", "")
    root, fps = page.root, page.fps
    container = find_container(root, fps, template)
    if container is None:
        return CleanPage("", "")
    title_found = clean_container(container, fps, template, title) or _has_title(root, title)
    body = lxml.html.tostring(container, encoding="unicode", method="html")
    return CleanPage(page_text(container), sanitize_html(body, url), title_found)


def _text_len(el: lxml.html.HtmlElement) -> int:
    return len(_norm(el.text_content()))


def _links(el: lxml.html.HtmlElement) -> list[lxml.html.HtmlElement]:
    """The (non-mailto) links in the subtree."""
    return [a for a in el.iter("a") if not (a.get("href") or "").startswith("mailto:")]


def _link_share(
    el: lxml.html.HtmlElement, links: list[lxml.html.HtmlElement] | None = None
) -> tuple[int, float]:
    """Number of (non-mailto) links in the subtree and the share of its text they hold."""
    links = _links(el) if links is None else links
    if not links:  # most blocks: no text to measure
        return 0, 0.0
    total = _text_len(el)
    if not total:
        return len(links), 0.0
    return len(links), sum(_text_len(a) for a in links) / total


def find_container(
    root: lxml.html.HtmlElement, fps: dict[lxml.html.HtmlElement, str], template: SiteTemplate
) -> lxml.html.HtmlElement | None:
    """The element holding the page's own paragraphs (those that are not site template)."""
    scores: dict[lxml.html.HtmlElement, float] = {}
    for p in root.iter(*PARAGRAPH_TAGS):
        size = _text_len(p)
        if size < MIN_PARAGRAPH_CHARS or (p in fps and template.is_template(fps[p])):
            continue
        if _link_share(p)[1] > 0.5 or _boilerplate_by_structure(p, with_ancestors=True):
            continue
        score = 1.0 + min(size / 100, 3.0)
        parent = p.getparent()
        for weight in (1.0, 0.5):
            if parent is None:
                break
            scores[parent] = scores.get(parent, 0.0) + score * weight
            parent = parent.getparent()
    if not scores:
        return root.find("body") if root.find("body") is not None else root
    best = max(scores, key=lambda el: scores[el])
    parent = best.getparent()
    if parent is not None and any(
        scores.get(sib, 0.0) >= SIBLING_SHARE * scores[best] for sib in parent if sib is not best
    ):
        return parent
    return best


def _hinted(el: lxml.html.HtmlElement) -> bool:
    classes, ident = el.get("class"), el.get("id")
    if not classes and not ident:
        return False
    names = f"{classes or ''} {ident or ''}".lower()
    tokens = {t for t in CLASS_SPLIT.split(names) if t}
    parts = {p for t in tokens for p in t.split("-") if p}
    return bool(tokens & HINT_TOKENS or parts & HINT_TOKENS)


def _boilerplate_by_structure(el: lxml.html.HtmlElement, *, with_ancestors: bool = False) -> bool:
    """Landmarks, ARIA roles, hidden elements and boxes named share/related/cookie/…"""
    for node in el.iterancestors() if with_ancestors else ():
        if node.tag in ("article", "main", "body"):
            break
        if _is_chrome(node):
            return True
    return _is_chrome(el)


def _is_chrome(el: lxml.html.HtmlElement) -> bool:
    if el.tag in LANDMARK_TAGS or (el.get("role") or "").lower() in LANDMARK_ROLES:
        return True
    if el.get("hidden") is not None or el.get("aria-hidden") == "true":
        return True
    return el.tag in BLOCK_TAGS and _hinted(el)


def _link_dense(el: lxml.html.HtmlElement) -> bool:
    if el.tag in PARAGRAPH_TAGS and el.tag != "p":
        return False
    links = _links(el)
    if len(links) < LINK_DENSE_MIN_LINKS:  # decided before measuring any text
        return False
    return _link_share(el, links)[1] >= LINK_DENSE_SHARE


def _repeated_box(
    el: lxml.html.HtmlElement, fps: dict[lxml.html.HtmlElement, str], template: SiteTemplate
) -> bool:
    """A subtree seen on other pages that is a box (links, a heading), not a plain paragraph."""
    if el not in fps or not template.is_template(fps[el]) or el.tag in PARAGRAPH_TAGS:
        return False
    if any(h is not el for h in el.iter(*HEADING_TAGS)):
        return True
    return _link_share(el)[0] > 0


def clean_container(
    container: lxml.html.HtmlElement,
    fps: dict[lxml.html.HtmlElement, str],
    template: SiteTemplate,
    title: str | None,
) -> bool:
    """Remove chrome inside the container (in place); True when the title was found and cut."""
    for el in list(container.iterdescendants()):
        if not isinstance(el.tag, str) or el.getparent() is None:
            continue
        if _is_chrome(el) or _link_dense(el) or _repeated_box(el, fps, template):
            el.drop_tree()
    return _cut_title(container, title)


def _cut_title(container: lxml.html.HtmlElement, title: str | None) -> bool:
    wanted = _norm(title).casefold() if title else ""
    if not wanted:
        return False
    for el in container.iter(*TITLE_TAGS, "p", "div"):
        if _norm(el.text_content()).casefold() == wanted:
            el.drop_tree()
            return True
    return False


def _has_title(root: lxml.html.HtmlElement, title: str | None) -> bool:
    wanted = _norm(title).casefold() if title else ""
    return bool(wanted) and any(
        _norm(el.text_content()).casefold() == wanted for el in root.iter(*TITLE_TAGS)
    )


def page_text(container: lxml.html.HtmlElement) -> str:
    """Paragraphs of the container's text, one blank line between two blocks."""
    out: list[str] = []
    buf: list[str] = []

    def flush() -> None:
        text = "\n".join(_norm(line) for line in "".join(buf).split(BR_MARK))
        text = text.strip()
        if text:
            out.append(text)
        buf.clear()

    def walk(el: lxml.html.HtmlElement) -> None:
        block = el.tag in BLOCK_TAGS
        if el.tag == "br":
            buf.append(BR_MARK)
        elif block:
            flush()
        buf.append(el.text or "")
        for child in el:
            if isinstance(child.tag, str):
                walk(child)
            buf.append(child.tail or "")
        if block and el.tag != "br":
            flush()

    walk(container)
    flush()
    return "\n\n".join(out)
