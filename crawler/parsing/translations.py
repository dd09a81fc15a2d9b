"""Other-language versions of a release page, and nothing else.

A wrong translation costs more than a missing one: the versions of one release are alerted once
per subscriber, so a wrong link would suppress a real alert. Every rule here drops a link when
unsure. Only page structure and URL shape are used, never a site's wording:

- `<link rel=alternate hreflang>` in the head is the CMS declaring the translations: taken as
  they are, minus x-default, the page itself and the site's sections.
- Without them, the language switcher: a group of language-tagged links (`hreflang`, or Drupal
  7's `xml:lang`), one per language, one of them the current page (marked active, pointing to
  the page, or a bare label). A related-news box or a listing is a group of tagged links too,
  but they share the page's language, so it is no switcher.
- A switcher link counts only when its target is on the page's host and is neither the page,
  nor the page's own path under another language prefix (the same untranslated node in another
  interface language), nor a section of the site: home or listing, seen as a path shallower
  than the page's, an ancestor of it, or a target the page's chrome links to as well.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from crawler.parsing import xpaths as X
from crawler.parsing.urls import absolute, identity_key, same_host
from crawler.sites import KNOWN_LANGUAGES

if TYPE_CHECKING:
    from collections.abc import Iterable

    from lxml import etree
    from parsel import Selector

LANG_CODE = re.compile(r"[a-z]{2,3}(?:-[a-z0-9]{2,8})*")
# Class tokens that mark the current item of a menu: `active`, `is-active`, `current`...
CURRENT_CLASS = re.compile(r"(?:^|[-_])(?:active|current|selected)$")


@dataclass(frozen=True)
class PageIdentity:
    """What a link must not point to: the page, its other-prefix twins, its ancestors."""

    url: str
    keys: frozenset[str]
    own_paths: frozenset[str]
    ancestors: frozenset[str]
    depth: int
    lang: str | None
    prefixes: frozenset[str]


@dataclass(frozen=True)
class Tagged:
    """One language-tagged link or label of the page body."""

    element: etree._Element
    lang: str
    href: str | None
    marked: bool = False


def lang_code(value: str | None) -> str | None:
    """A lower-case BCP 47-ish code (`pt_BR` -> `pt-br`), `x-default`, or None when malformed."""
    code = (value or "").strip().lower().replace("_", "-")
    return code if code == "x-default" or LANG_CODE.fullmatch(code) else None


def bare_path(url: str, prefixes: Iterable[str]) -> str | None:
    """The URL's path, decoded, lower-case, without a leading language segment; None if odd."""
    try:
        path = unquote(urlsplit(url).path).lower().rstrip("/")
    except ValueError:
        return None
    head, _, rest = path.lstrip("/").partition("/")
    if head in prefixes:
        path = "/" + rest if rest else ""
    return path or "/"


def _segments(path: str) -> list[str]:
    return [p for p in path.split("/") if p]


def page_identity(urls: list[str], lang: str | None, prefixes: frozenset[str]) -> PageIdentity:
    """The identity of a page fetched at `urls[0]` (the others: its canonical and short links)."""
    own = frozenset(p for u in urls if (p := bare_path(u, prefixes)))
    parts = _segments(bare_path(urls[0], prefixes) or "/")
    ancestors = {"/" + "/".join(s[:n]) for s in map(_segments, own) for n in range(len(s))}
    return PageIdentity(
        url=urls[0],
        keys=frozenset(identity_key(u) for u in urls),
        own_paths=own,
        ancestors=frozenset(ancestors | {"/"}),
        depth=len(parts),
        lang=lang,
        prefixes=prefixes,
    )


def _section_shaped(target: str, page: PageIdentity) -> bool:
    """True for the page itself or what looks like a home or listing: shallower, an ancestor."""
    path = bare_path(target, page.prefixes)
    return (
        path is None
        or identity_key(target) in page.keys
        or path in page.ancestors
        or len(_segments(path)) < page.depth
    )


def _is_tagged(element: etree._Element) -> bool:
    return bool(element.get("hreflang") or element.get("xml:lang"))


def chrome_linked(sel: Selector, page: PageIdentity, targets: Iterable[str]) -> set[str]:
    """Those of `targets` whose path the page's chrome (menu, breadcrumb, logo) links to too.

    Such a target is a section of the site or another page, never this release's translation.
    One pass over the links' text; the costly chrome test runs only on links that match.
    """
    wanted = {path: t for t in targets if (path := bare_path(t, page.prefixes))}
    tails = {path.rsplit("/", 1)[-1] for path in wanted}
    root = sel.root
    found: set[str] = set()
    for element in root.iter("a") if hasattr(root, "iter") else ():
        href = str(element.get("href") or "")
        if _is_tagged(element) or unquote(href).lower().rstrip("/").rsplit("/", 1)[-1] not in tails:
            continue
        target = absolute(page.url, href)
        path = bare_path(target, page.prefixes) if target and same_host(target, page.url) else None
        if path in wanted and wanted[path] not in found and element.xpath(X.IN_CHROME):
            found.add(wanted[path])
    return found


def from_head(sel: Selector, links: list[Selector], page: PageIdentity) -> dict[str, str]:
    """The declared alternates, minus x-default, the page's language, the page and sections.

    A language declared twice with two targets is dropped: no way to tell which is right.
    """
    found: dict[str, str] = {}
    doubtful: set[str] = set()
    for node in links:
        lang = lang_code(node.xpath("@hreflang").get())
        target = absolute(page.url, node.xpath("@href").get())
        if not lang or lang in {"x-default", page.lang} or not target:
            continue
        if identity_key(found.setdefault(lang, target)) != identity_key(target):
            doubtful.add(lang)
    found = {k: v for k, v in found.items() if k not in doubtful and not _section_shaped(v, page)}
    linked = chrome_linked(sel, page, found.values())
    return {k: v for k, v in found.items() if v not in linked}


def tagged_elements(sel: Selector, base: str) -> list[Tagged]:
    """The body's language-tagged links and labels, in document order, bounded."""
    found = []
    for node in sel.xpath(X.LANG_TAGGED):
        element = node.root
        if lang := lang_code(str(element.get("hreflang") or element.get("xml:lang") or "")):
            href = absolute(base, element.get("href")) if element.tag == "a" else None
            found.append(Tagged(element, lang, href))
    return found


def _marked(element: etree._Element, container: etree._Element) -> bool:
    """True when the element, or an ancestor below the group's container, is marked current."""
    node: etree._Element | None = element
    while node is not None and node is not container:
        classes = str(node.get("class") or "").lower().split()
        current = str(node.get("aria-current") or "false").lower() != "false"
        if current or any(CURRENT_CLASS.search(c) for c in classes):
            return True
        node = node.getparent()
    return False


def groups(tagged: list[Tagged]) -> list[list[Tagged]]:
    """Tagged elements grouped under the nearest ancestor that holds two or more of them."""
    lineage = [list(t.element.iterancestors()) for t in tagged]
    below: dict[etree._Element, int] = {}
    for ancestors in lineage:
        for ancestor in ancestors:
            below[ancestor] = below.get(ancestor, 0) + 1
    containers = dict.fromkeys(
        nearest
        for ancestors in lineage
        if (nearest := next((a for a in ancestors if below[a] >= 2), None)) is not None
    )
    within = [set(ancestors) for ancestors in lineage]
    return [
        [
            Tagged(t.element, t.lang, t.href, _marked(t.element, container))
            for t, above in zip(tagged, within, strict=True)
            if container in above
        ]
        for container in containers
    ]


def _is_current(member: Tagged, page: PageIdentity) -> bool:
    if member.href is None:
        return member.marked or member.lang == page.lang
    return member.marked or identity_key(member.href) in page.keys


def switcher_targets(members: list[Tagged], page: PageIdentity) -> dict[str, str] | None:
    """The other-language links of a switcher group; None when the group is no switcher."""
    langs = [m.lang for m in members]
    if len(members) < 2 or len(set(langs)) != len(langs):
        return None  # one link, or a language twice: teasers, related news, a listing
    current = [m for m in members if _is_current(m, page)]
    if len(current) != 1:
        return None
    return {m.lang: m.href for m in members if m is not current[0] and m.href}


def _plausible(lang: str, target: str, page: PageIdentity) -> bool:
    """A switcher target that may be a translation before the chrome test (module docstring)."""
    return (
        lang not in {"x-default", page.lang}
        and same_host(target, page.url)
        and bare_path(target, page.prefixes) not in page.own_paths
        and not _section_shaped(target, page)
    )


def from_switcher(sel: Selector, tagged: list[Tagged], page: PageIdentity) -> dict[str, str]:
    """Translations the switcher groups agree on; a language two groups disagree on is dropped."""
    found: dict[str, str] = {}
    doubtful: set[str] = set()
    for group in groups(tagged):
        for lang, target in (switcher_targets(group, page) or {}).items():
            if _plausible(lang, target, page) and found.setdefault(lang, target) != target:
                doubtful.add(lang)
    linked = chrome_linked(sel, page, found.values())
    return {k: v for k, v in found.items() if k not in doubtful and v not in linked}


def find_translations(sel: Selector, urls: list[str], lang: str | None = None) -> dict[str, str]:
    """Other-language versions of the page at `urls[0]` (`urls`: also its canonical, shortlink)."""
    head = [(n, lang_code(n.xpath("@hreflang").get())) for n in sel.xpath(X.HREFLANG_LINKS)]
    declared = [n for n, code in head if code and code != "x-default"]
    tagged = [] if declared else tagged_elements(sel, urls[0])
    if not declared and len(tagged) < 2:
        return {}  # no declaration and no switcher
    codes = {code for _, code in head if code} | {t.lang for t in tagged}
    page = page_identity(urls, lang, frozenset(KNOWN_LANGUAGES | codes))
    if declared:
        return from_head(sel, declared, page)
    return from_switcher(sel, tagged, page)
