"""Selectors of the IOM Drupal theme family, as data (STYLE rule 10).

Grouped by field. Where a field lists several selectors they are tried in order and the
first that yields something wins.
"""

from __future__ import annotations


def has_class(name: str) -> str:
    """An XPath predicate body true when the element has the CSS class `name`."""
    return f"contains(concat(' ', normalize-space(@class), ' '), ' {name} ')"


def class_contains(fragment: str) -> str:
    """An XPath predicate body true when any class of the element contains `fragment`."""
    return f"contains(@class, '{fragment}')"


# Blocks that never hold the release itself: chrome, related boxes, pagers.
CHROME_TAGS = "self::nav or self::footer or self::aside"
CHROME_HEADER = "self::header[not(ancestor::article) and not(ancestor::main)]"
CHROME_CLASSES = " or ".join(
    f"contains(@class, '{name}')"
    for name in (
        "related", "pager", "menu", "breadcrumb", "share", "cookie", "newsletter",
        "site-footer", "site-header", "region-header", "region-footer",
    )
)  # fmt: skip
NOT_CHROME = (
    f"not(ancestor-or-self::*[{CHROME_TAGS}] or ancestor-or-self::*[{CHROME_HEADER}]"
    f" or ancestor-or-self::*[{CHROME_CLASSES}])"
)
# True for an element inside a chrome block (evaluated on one element, not on a whole page).
IN_CHROME = (
    f"boolean(ancestor-or-self::*[{CHROME_TAGS} or {CHROME_HEADER} or {CHROME_CLASSES}]"
    " or self::*[contains(concat(' ', normalize-space(@rel), ' '), ' home ')])"
)

# Where the release lives, most specific first.
ARTICLE_ROOTS = (
    "//article[contains(@class, 'node') or @data-history-node-id]",
    "//article",
    "//main",
    "//*[@role='main']",
    "//*[@id='content' or @id='main-content']",
)

# canonical URL
CANONICAL_LINK = "//link[contains(concat(' ', normalize-space(@rel), ' '), ' canonical ')]/@href"
OG_URL = "//meta[@property='og:url']/@content"

# node id
SHORTLINK = "//link[contains(concat(' ', normalize-space(@rel), ' '), ' shortlink ')]/@href"
HISTORY_NODE_ID = "//*[@data-history-node-id]/@data-history-node-id"
BODY_CLASS = "//body/@class"
ARTICLE_ID = "//article/@id"

# language
HTML_LANG = "/html/@lang | /html/@xml:lang"
CONTENT_LANGUAGE_META = "//meta[@http-equiv='content-language' or @name='language']/@content"

# title
TITLE_H1 = (
    f"//h1[{class_contains('page-title')}][{NOT_CHROME}]",
    f"//article//h1[{NOT_CHROME}]",
    f"//main//h1[{NOT_CHROME}]",
    f"//h1[{NOT_CHROME}][not({class_contains('site-name')} or {class_contains('logo')})]",
)
OG_TITLE = "//meta[@property='og:title']/@content"
OG_SITE_NAME = "//meta[@property='og:site_name']/@content"
HTML_TITLE = "//head/title/text() | /html/title/text()"
FIRST_PARAGRAPHS = (
    f"(//article//p[{NOT_CHROME}])[position() <= 2]",
    f"(//main//p[{NOT_CHROME}])[position() <= 2]",
)

# publication date
TIME_IN_ARTICLE = (
    f"//article//time[@datetime][{NOT_CHROME}]/@datetime",
    f"//main//time[@datetime][{NOT_CHROME}]/@datetime",
    f"//time[@datetime][{NOT_CHROME}]/@datetime",
)
DATE_METAS = (
    "//meta[@property='article:published_time']/@content",
    "//meta[@name='article:published_time']/@content",
    "//meta[@name='dcterms.date']/@content",
    "//meta[@name='DC.date.issued' or @name='dcterms.issued' or @name='DC.Date']/@content",
    "//meta[@itemprop='datePublished']/@content",
    "//*[@itemprop='datePublished']/@datetime",
    "//meta[@name='date' or @name='pubdate' or @property='og:published_time']/@content",
)
JSON_LD = "//script[@type='application/ld+json']/text()"
DATE_CLASSES = (
    f"{class_contains('date')} or {class_contains('submitted')} or {class_contains('published')}"
    f" or {class_contains('created')}"
)
DATE_TEXT = (
    f"//article//*[{DATE_CLASSES}][{NOT_CHROME}]",
    f"//main//*[{DATE_CLASSES}][{NOT_CHROME}]",
    f"//*[{DATE_CLASSES}][{NOT_CHROME}]",
    f"//time[{NOT_CHROME}]",
)
BODY_CONTAINERS = (
    "//*[contains(@class, 'field--name-body')]",
    "//*[contains(@class, 'field-name-body')]",
    "//article//*[contains(@class, 'body')]",
    "//article",
    "//main",
)

# release type
NODE_TYPE_CLASSES = (
    "//article/@class",
    "//*[contains(@class, 'node--type-')]/@class",
    "//body/@class",
)
LABEL_CLASSES = (
    f"{class_contains('type')} or {class_contains('category')} or {class_contains('label')}"
    f" or {class_contains('eyebrow')} or {class_contains('kicker')} or {class_contains('tag')}"
)
# where a page prints its type label (`Press release`); fields.TYPE_BY_LABEL reads it
TYPE_LABEL_XPATHS = (
    f"//article//*[{LABEL_CLASSES}][not(self::article)][{NOT_CHROME}]",
    f"//main//*[{LABEL_CLASSES}][not(self::article)][{NOT_CHROME}]",
    f"//*[{LABEL_CLASSES}][not(self::article or self::body or self::html)][{NOT_CHROME}]",
    "//meta[@property='article:section']/@content",
    "//*[contains(@class, 'breadcrumb')]//li[last()]",
)

# lead image
OG_IMAGE = "//meta[@property='og:image' or @name='og:image']/@content"
TWITTER_IMAGE = "//meta[@name='twitter:image']/@content"
LEAD_IMAGES = (
    f"//article//figure//img[{NOT_CHROME}]",
    f"//*[{class_contains('field--name-field-image')}]//img",
    f"//main//figure//img[{NOT_CHROME}]",
    f"//article//img[{NOT_CHROME}]",
)

# attachments
# A cheap test on the href first, so the costly chrome test runs on few links of huge pages.
_LOWER_HREF = "translate(@href, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')"
DOCUMENT_EXTENSIONS = (".pdf", ".doc", ".xls", ".ppt", ".od", ".rtf", ".epub")
DOCUMENT_HREF = " or ".join(f"contains({_LOWER_HREF}, '{ext}')" for ext in DOCUMENT_EXTENSIONS)
ATTACHMENT_LINKS = (
    f"//article//a[@href][{DOCUMENT_HREF}][{NOT_CHROME}]/@href",
    f"//main//a[@href][{DOCUMENT_HREF}][{NOT_CHROME}]/@href",
    f"//a[@href][{DOCUMENT_HREF}][{NOT_CHROME}]/@href",
)
# The same three, as fields.parse_attachments runs them: the links of each scope, the href
# test (DOCUMENT_HREF: ASCII-lowered href containing one of these) in Python, then NOT_CHROME
# on the few that pass. libxml2's translate() on every link of a page cost 2 ms a page.
ATTACHMENT_SCOPES = ("//article//a[@href]", "//main//a[@href]", "//a[@href]")

# translations: the head's declared alternates, else the language switcher (translations.py)
HREFLANG_LINKS = (
    "//link[contains(concat(' ', normalize-space(@rel), ' '), ' alternate ')][@hreflang][@href]"
    "[not(@type) or contains(@type, 'html')]"
)
# A language-tagged link or label: `hreflang`, or Drupal 7's `xml:lang` (a plain attribute
# name to the HTML parser, hence name()). Bounded: a switcher sits among the first few hundred.
LANG_TAGGED = (
    "(//body//*[self::a or self::span][@hreflang or @*[name()='xml:lang']])[position() <= 300]"
)

# listing pages
LISTING_ROWS = (
    f"//*[{has_class('views-row')}][{NOT_CHROME}]",
    f"//*[{has_class('view-content')}]/*[self::div or self::article][{NOT_CHROME}]",
    f"//*[{has_class('view-content')}]//li[{NOT_CHROME}]",
    f"//main//li[{NOT_CHROME}]",
    f"//main//article[{NOT_CHROME}]",
)
ROW_TITLE_LINKS = (
    ".//h2//a[@href] | .//h3//a[@href] | .//h4//a[@href]",
    f".//*[{class_contains('title')}]//a[@href]",
    ".//a[@href]",
)
ROW_DATE = (
    ".//time/@datetime",
    ".//time",
    f".//*[{class_contains('date')}]",
)
ARTICLE_HREF = " or ".join(
    f"contains(@href, '{part}')"
    for part in ("news/", "stor", "article/", "statement", "node/", "noticia", "press-release")
)
ALL_LINKS = f"//a[@href][{ARTICLE_HREF}][{NOT_CHROME}]"
NEXT_PAGE = (
    "//link[contains(concat(' ', normalize-space(@rel), ' '), ' next ')]/@href",
    "//*[contains(@class, 'pager__item--next')]//a/@href",
    "//*[contains(@class, 'pager-next')]//a/@href",
    "//a[contains(concat(' ', normalize-space(@rel), ' '), ' next ')]/@href",
)
PAGER_LINKS = "//a[contains(@href, 'page=')]/@href"
