"""One small parser per Release field, over a parsel Selector of an IOM (Drupal) page.

Every function tolerates hostile input: broken HTML, missing elements, odd URLs give
None, [] or {} — never an exception. Selectors live in `crawler.parsing.xpaths`.
"""

from __future__ import annotations

import json
import re
import string
from datetime import date, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from lxml import etree

from crawler.parsing import xpaths as X
from crawler.parsing.cfemail import decode_cfemail, decode_cloudflare_emails
from crawler.parsing.dateline import parse_dateline
from crawler.parsing.dates import fold_date_text, parse_date, parse_dateline_date
from crawler.parsing.listing import ListingEntry, parse_listing
from crawler.parsing.text import node_text, phrases
from crawler.parsing.translations import find_translations, lang_code
from crawler.parsing.urls import absolute, safe_canonical, same_host
from crawler.sites import KNOWN_LANGUAGES

if TYPE_CHECKING:
    from parsel import Selector

__all__ = [
    "ListingEntry",
    "decode_cfemail",
    "decode_cloudflare_emails",
    "parse_attachments",
    "parse_canonical_url",
    "parse_dateline",
    "parse_image",
    "parse_language",
    "parse_listing",
    "parse_node_id",
    "parse_published",
    "parse_title",
    "parse_translations",
    "parse_type",
]

NODE_ID_PATTERNS = (
    (X.SHORTLINK, re.compile(r"/node/(\d+)")),
    (X.HISTORY_NODE_ID, re.compile(r"^\s*(\d+)\s*$")),
    (X.BODY_CLASS, re.compile(r"\bpage-node-(\d+)\b")),
    (X.ARTICLE_ID, re.compile(r"^node-(\d+)$")),
)
URL_LANG = re.compile(r"^/([a-z]{2}(?:-[a-z]{2,4})?)(?:/|$)", re.I)
ORG_NAME = re.compile(
    r"^(?:iom|oim|un migration|onu migration|onu migracion|onu migracao"
    r"|international organi[sz]ation for migration|organisation internationale pour les migrations"
    r"|organizacion internacional para las migraciones|organizacao internacional para as migracoes"
    r"|المنظمة الدولية للهجرة)(?:\s*[-–|:,]?\s*(?:[^\W\d_][\w'’.-]*)){0,2}$"
)
ORG_WORDS = re.compile(
    r"\b(?:iom|oim|international organi[sz]ation for migration|un migration"
    r"|organisation internationale pour les migrations|organizacion internacional para las"
    r" migraciones|organizacao internacional para as migracoes)\b|المنظمة الدولية للهجرة"
)
TITLE_SEPARATOR = re.compile(r"\s+[|–—-]\s+")
MAX_META_TEXT = 200


GENERIC_TITLES = frozenset(
    phrases(
        "story|stories|histoire|histoires|historia|historias|news|actualites|noticias|noticia"
        "|home|accueil|inicio|press release|communique"
    )
)
# A type label as printed on a page, folded (`Communiqué de presse`) -> the release type.
TYPE_BY_LABEL: dict[str, str] = {
    **dict.fromkeys(
        phrases(
            "press release|press releases|joint press release|communique de presse"
            "|communiques de presse|communique|communiques|comunicado de prensa"
            "|comunicados de prensa|comunicado|comunicados|comunicado de imprensa"
            "|comunicados de imprensa|بيان صحفي|بيانات صحفية"
        ),
        "press_release",
    ),
    **dict.fromkeys(
        phrases(
            "news|latest news|actualites|actualite|nouvelles|noticias|noticia|اخبار|خبر|الاخبار"
        ),
        "news",
    ),
    **dict.fromkeys(
        phrases("story|stories|histoire|histoires|historia|historias|recit|recits|قصة|قصص"),
        "story",
    ),
    **dict.fromkeys(
        phrases(
            "statement|statements|official statement|official statements|declaration"
            "|declarations|declaration officielle|declaracion|declaraciones|declaracao"
            "|declaracoes|بيان|بيانات"
        ),
        "statement",
    ),
}
SCOPE_SUFFIX = re.compile(r"(?:[\s:|–—-]+(?:global|local|regional|mondial))?[\s:|–—-]*$")
URL_TYPES = (
    (re.compile(r"/statements?/"), "statement"),
    (re.compile(r"/(?:stories|story|historias?|histoires?)/"), "story"),
    (re.compile(r"/(?:press-releases?|communiques?|comunicados?)/"), "press_release"),
)
ATTACHMENT_EXT = re.compile(r"\.(?:pdf|docx?|xlsx?|pptx?|odt|ods|odp|rtf|epub)$", re.I)
ATTACHMENT_SCOPES = tuple(etree.XPath(q) for q in X.ATTACHMENT_SCOPES)
NOT_IN_CHROME = etree.XPath(X.NOT_CHROME)  # with one element as the context node
ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)  # as XPath translate


def _first(sel: Selector, queries: tuple[str, ...] | str) -> str | None:
    """The first non-empty string any of `queries` yields."""
    for query in (queries,) if isinstance(queries, str) else queries:
        for value in sel.xpath(query).getall():
            if value and value.strip():
                return value.strip()
    return None


def parse_canonical_url(sel: Selector, url: str) -> str:
    """The page's own canonical URL (link rel=canonical, og:url), kept only on the page's host."""
    for query in (X.CANONICAL_LINK, X.OG_URL):
        for href in sel.xpath(query).getall():
            target = absolute(url, href)
            if target and same_host(target, url):
                return safe_canonical(target)
    return safe_canonical(url)


def parse_node_id(sel: Selector) -> str | None:
    """The Drupal node id: shortlink, data-history-node-id, page-node-N or node-N."""
    for query, pattern in NODE_ID_PATTERNS:
        for value in sel.xpath(query).getall():
            if m := pattern.search(value):
                return m.group(1)
    return None


def _normalise_lang(code: str | None, site_languages: tuple[str, ...]) -> str | None:
    """A lower-case language code; a bare `pt` becomes the site's Portuguese variant."""
    if not code:
        return None
    code = code.strip().lower().replace("_", "-")
    if not re.fullmatch(r"[a-z]{2,3}(?:-[a-z0-9]{2,8})*", code) or code in {"und", "zxx", "mul"}:
        return None
    base, _, region = code.partition("-")
    if base == "pt" and region in {"br", "pt"}:
        return code
    if code in site_languages:
        return code
    variants = [lang for lang in site_languages if lang.split("-")[0] == base]
    return variants[0] if variants else base


def parse_language(sel: Selector, url: str, site_languages: tuple[str, ...]) -> str:
    """The page language: <html lang>, else the URL's language prefix, else the site default."""
    for value in sel.xpath(X.HTML_LANG).getall() + sel.xpath(X.CONTENT_LANGUAGE_META).getall():
        if lang := _normalise_lang(value, site_languages):
            return lang
    try:
        path = urlsplit(url).path
    except ValueError:
        path = ""
    if (m := URL_LANG.match(path)) and (code := m.group(1).lower()) in (
        KNOWN_LANGUAGES | set(site_languages)
    ):
        return _normalise_lang(code, site_languages) or code
    return site_languages[0] if site_languages else "en"


def _site_names(sel: Selector) -> set[str]:
    """Folded names the page gives its site: og:site_name and the <title> suffix."""
    names = {fold_date_text(v.strip()) for v in sel.xpath(X.OG_SITE_NAME).getall()}
    for title in sel.xpath(X.HTML_TITLE).getall():
        parts = TITLE_SEPARATOR.split(title.strip())
        if len(parts) > 1:
            names.add(fold_date_text(parts[-1]))
    return names - {""}


def _strip_site_suffix(title: str) -> str:
    """`Title | IOM Mali` -> `Title`: trailing parts that name the organisation are dropped."""
    text = " ".join(title.split())
    while separators := list(TITLE_SEPARATOR.finditer(text)):
        last = separators[-1]
        if not ORG_WORDS.search(fold_date_text(text[last.end() :])):
            break
        text = text[: last.start()]
    return text


def _is_not_title(candidate: str, site_names: set[str]) -> bool:
    """True for a site name, the organisation's name or a bare section label."""
    folded = fold_date_text(candidate).strip(" .:-|")
    return (
        not folded
        or folded in site_names
        or folded in GENERIC_TITLES
        or bool(ORG_NAME.match(folded))
    )


def _is_body_start(sel: Selector, candidate: str) -> bool:
    """True when `candidate` is just the opening of the body (auto-titles of untitled stories)."""
    stem = fold_date_text(candidate).rstrip(" .…")
    for query in X.FIRST_PARAGRAPHS:
        for para in sel.xpath(query):
            text = fold_date_text(node_text(para))
            if text and len(stem) >= 20 and text.startswith(stem):
                return True
    return False


def parse_title(sel: Selector) -> str | None:
    """The release title (h1, og:title, <title> minus the site suffix); None for untitled stories."""
    names = _site_names(sel)
    for query in X.TITLE_H1:
        for node in sel.xpath(query):
            text = node_text(node)
            if text and not _is_not_title(text, names):
                return text
    for query in (X.OG_TITLE, X.HTML_TITLE):
        for value in sel.xpath(query).getall():
            text = _strip_site_suffix(value)
            if text and not _is_not_title(text, names) and not _is_body_start(sel, text):
                return text
    return None


def _json_ld_dates(sel: Selector) -> list[str]:
    """`datePublished` values of the JSON-LD blocks, @graph included, broken JSON tolerated."""
    found: list[str] = []
    for raw in sel.xpath(X.JSON_LD).getall():
        try:
            data: Any = json.loads(raw)
        except ValueError:
            found += re.findall(r'"datePublished"\s*:\s*"([^"]{4,60})"', raw)
            continue
        stack, seen = [data], 0
        while stack and seen < 1000:
            item, seen = stack.pop(), seen + 1
            if isinstance(item, dict):
                if isinstance(item.get("datePublished"), str):
                    found.append(item["datePublished"])
                stack.extend(reversed(list(item.values())))
            elif isinstance(item, list):
                stack.extend(reversed(item))
    return found


def _visible_date(sel: Selector, lang: str | None) -> datetime | None:
    """A date printed in a date-ish element of the article (`Published Date: …`)."""
    for query in X.DATE_TEXT:
        for node in sel.xpath(query)[:20]:
            text = node_text(node)
            if text and len(text) <= MAX_META_TEXT and (value := parse_date(text, lang)):
                return value
    return None


def _body_start(sel: Selector) -> str:
    """The first non-empty paragraph of the article body."""
    for query in X.BODY_CONTAINERS:
        for node in sel.xpath(query)[:1]:
            for para in node.xpath(".//p | .//div[not(.//p)]")[:5]:
                if text := node_text(para):
                    return text
    return ""


def parse_published(
    sel: Selector,
    lang: str | None,
    listing_date: str | None = None,
    *,
    reference: date | None = None,
) -> datetime | None:
    """The publication date: <time>, meta tags, JSON-LD, visible date, listing date, dateline.

    `reference` (the listing or crawl date) lets a year-less dateline (`Alger, 8 juillet –`)
    resolve; without it only a dateline with a full date counts.
    """
    for value in (
        sel.xpath(X.TIME_IN_ARTICLE[0]).getall() or sel.xpath(X.TIME_IN_ARTICLE[1]).getall()
    ):
        if found := parse_date(value, lang, fallback=False):
            return found
    for query in X.DATE_METAS:
        for value in sel.xpath(query).getall():
            if found := parse_date(value, lang, fallback=False):
                return found
    for value in _json_ld_dates(sel):
        if found := parse_date(value, lang, fallback=False):
            return found
    if found := _visible_date(sel, lang):
        return found
    if listing_date and (found := parse_date(listing_date, lang)):
        return found
    body = _body_start(sel)
    return parse_dateline_date(body, lang, reference) if body else None


def _type_from_machine_name(name: str) -> str | None:
    """press_release/story/statement/news from a Drupal bundle name like `press-release`."""
    name = name.lower()
    for fragment, kind in (
        ("press", "press_release"),
        ("communique", "press_release"),
        ("stor", "story"),
        ("statement", "statement"),
        ("news", "news"),
    ):
        if fragment in name:
            return kind
    return None


def parse_type(sel: Selector, url: str) -> str:
    """press_release, news, story or statement: node type class, type label, URL; else news."""
    for query in X.NODE_TYPE_CLASSES:
        for classes in sel.xpath(query).getall():
            for bundle in re.findall(r"\bnode-{1,2}type-([\w-]+)", classes):
                if kind := _type_from_machine_name(bundle):
                    return kind
    for query in X.TYPE_LABEL_XPATHS:
        for node in sel.xpath(query)[:30]:
            label = fold_date_text(node.get() if isinstance(node.root, str) else node_text(node))
            label = SCOPE_SUFFIX.sub("", label).strip()
            if label in TYPE_BY_LABEL:
                return TYPE_BY_LABEL[label]
    try:
        path = unquote(urlsplit(url).path).lower()
    except ValueError:
        path = ""
    for pattern, kind in URL_TYPES:
        if pattern.search(path):
            return kind
    return "news"


def _image_src(node: Selector) -> str | None:
    """The URL an <img> shows: src, data-src or the first srcset candidate; no data: URIs."""
    for attr in ("@src", "@data-src", "@srcset", "@data-srcset"):
        value = (node.xpath(attr).get() or "").strip().split(" ")[0]
        if value and not value.startswith("data:"):
            return value
    return None


def parse_image(sel: Selector, url: str) -> str | None:
    """The lead image: og:image / twitter:image, else the article's lead figure; absolute."""
    if (meta := _first(sel, (X.OG_IMAGE, X.TWITTER_IMAGE))) and (found := absolute(url, meta)):
        return found
    for query in X.LEAD_IMAGES:
        for node in sel.xpath(query)[:5]:
            if (src := _image_src(node)) and (found := absolute(url, src)):
                return found
    return None


def _document_hrefs(sel: Selector, scope: etree.XPath) -> list[str]:
    """The hrefs `X.ATTACHMENT_LINKS` select in one scope, in document order."""
    if not isinstance(sel.root, etree._Element):
        return []
    result = scope(sel.root)
    found: list[str] = []
    for link in result if isinstance(result, list) else ():
        if not isinstance(link, etree._Element):
            continue
        href = str(link.get("href"))
        lowered = href.translate(ASCII_LOWER)
        if any(ext in lowered for ext in X.DOCUMENT_EXTENSIONS) and NOT_IN_CHROME(link):
            found.append(href)
    return found


def parse_attachments(sel: Selector, url: str) -> list[str]:
    """Absolute URLs of the PDF/office documents the article links to, deduplicated, in order."""
    hrefs = _document_hrefs(sel, ATTACHMENT_SCOPES[0]) + _document_hrefs(sel, ATTACHMENT_SCOPES[1])
    if (
        isinstance(sel.root, etree._Element)
        and next(sel.root.iter("article", "main"), None) is None
    ):
        hrefs = _document_hrefs(sel, ATTACHMENT_SCOPES[2])
    found: list[str] = []
    for href in hrefs:
        target = absolute(url, href)
        if not target:
            continue
        path = unquote(urlsplit(target).path)
        if ATTACHMENT_EXT.search(path) and target not in found:
            found.append(target)
    return found


def parse_translations(sel: Selector, url: str) -> dict[str, str]:
    """Other-language versions of this release only: head hreflang links, else the switcher.

    Never the page itself, a listing or home page, or another release (a related-news box):
    see `crawler.parsing.translations`. When unsure, no link.
    """
    urls = [url, parse_canonical_url(sel, url)]
    urls += [u for h in sel.xpath(X.SHORTLINK).getall()[:1] if (u := absolute(url, h))]
    page_lang = lang_code(sel.xpath(X.HTML_LANG).get())
    return find_translations(sel, urls, page_lang)
