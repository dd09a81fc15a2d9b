"""HTML pages (index, release, status) rendered by Jinja2 with autoescape on.

Only one value is ever marked safe: a release body that `make_entry` has just sanitised.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from crawler.items import RELEASE_TYPES
from crawler.parsing.sanitize import sanitize_html
from feeds.catalog import FORMATS, LANGUAGE_NAMES, feed_url
from feeds.entries import TYPE_DISPLAY_NAMES, make_entry, permalink, site_name
from feeds.filters import LIMIT_DEFAULT, query_string

if TYPE_CHECKING:
    from crawler.sites import Site
    from crawler.store import GroupPage, ReleaseQuery, StoredRelease
    from feeds.entries import Entry
    from feeds.filters import PageRequest, Vocabulary

FORMAT_LABELS = {"atom": "Atom", "rss": "RSS", "json": "JSON Feed"}
# Names of the languages beyond the feeds' five, each in itself (the index's filter, labels).
MORE_LANGUAGE_NAMES = {
    "pt-br": "Português (Brasil)",
    "pt-pt": "Português (Portugal)",
    "fa": "فارسی",
    "el": "Ελληνικά",
    "de": "Deutsch",
    "it": "Italiano",
    "ru": "Русский",
    "uk": "Українська",
}
FILTER_LABELS = {
    "site": "Site",
    "country": "Country",
    "region": "Region",
    "lang": "Language",
    "type": "Type",
}


@dataclass(frozen=True)
class FeedLink:
    """A feed link as pages show it (and as `<link rel=alternate>` autodiscovery)."""

    href: str
    media_type: str
    label: str


def ago(seconds: float) -> str:
    """'3 h', '2 d': a coarse age for the status table."""
    seconds = max(0, int(seconds))
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


def make_environment() -> Environment:
    """The Jinja2 environment: package templates, autoescape always on, strict undefined."""
    env = Environment(
        loader=PackageLoader("feeds", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["ago"] = ago
    return env


def feed_links(base_url: str, params: Sequence[tuple[str, str]]) -> list[FeedLink]:
    """The three formats of one feed."""
    return [
        FeedLink(feed_url(base_url, name, params), fmt.media_type, FORMAT_LABELS[name])
        for name, fmt in FORMATS.items()
    ]


def site_rows(
    base_url: str, sites: Sequence[Site], summaries: Mapping[str, Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """The sites table of the index page."""
    return [
        {
            "id": site.id,
            "name": site_name(site, site.id),
            "country": site.country,
            "region": site.region,
            "languages": site.languages,
            "releases": summaries.get(site.id, {}).get("releases", 0),
            "page": f"{base_url}/{query_string([('site', site.id)])}",
            "feeds": feed_links(base_url, [("site", site.id)]),
        }
        for site in sites
    ]


def language_name(code: str) -> str:
    """A language's name in itself ('Français'), else its code."""
    return LANGUAGE_NAMES.get(code) or MORE_LANGUAGE_NAMES.get(code) or code


@dataclass(frozen=True)
class Option:
    value: str
    label: str
    selected: bool
    lang: str = ""  # a language option names its language in itself


@dataclass(frozen=True)
class FilterField:
    """One select of the index's filter form; `multiple` when the URL gave several values."""

    name: str
    label: str
    options: tuple[Option, ...]

    @property
    def multiple(self) -> bool:
        return sum(o.selected for o in self.options) > 1


def _options(
    values: Mapping[str, str], chosen: Sequence[str], *, langs: bool = False
) -> tuple[Option, ...]:
    """`values` (value -> label) sorted by label, plus chosen values the vocabulary lacks."""
    pairs = {**values, **{v: v for v in chosen if v not in values}}
    ordered = sorted(pairs.items(), key=lambda kv: (kv[1].casefold(), kv[0]))
    return tuple(
        Option(value, label, value in chosen, value if langs else "") for value, label in ordered
    )


def filter_fields(
    query: ReleaseQuery, vocabulary: Vocabulary, sites: Sequence[Site]
) -> list[FilterField]:
    """The selects of the index form: the feeds' vocabulary, the request's values chosen."""
    choices: dict[str, tuple[Mapping[str, str], bool]] = {
        "site": ({s.id: site_name(s, s.id) for s in sites}, False),
        "country": ({v: v for v in (vocabulary.countries or {}).values()}, False),
        "region": ({v: v for v in (vocabulary.regions or {}).values()}, False),
        "lang": ({code: language_name(code) for code in vocabulary.languages}, True),
        "type": ({t: TYPE_DISPLAY_NAMES.get(t, t) for t in RELEASE_TYPES}, False),
    }
    return [
        FilterField(name, FILTER_LABELS[name], _options(values, getattr(query, name), langs=langs))
        for name, (values, langs) in choices.items()
    ]


@dataclass(frozen=True)
class Pager:
    """Where this page is among the pages of the filter; links keep the filter."""

    page: int
    pages: int
    previous: str | None
    next: str | None


def pager(base_url: str, wanted: PageRequest, total: int) -> Pager:
    def link(page: int) -> str:
        size = [("per_page", str(wanted.per_page))] if wanted.per_page != LIMIT_DEFAULT else []
        number = [("page", str(page))] if page > 1 else []
        return f"{base_url}/{query_string([*wanted.query.as_params(), *size, *number])}"

    pages = max(1, -(-total // wanted.per_page))
    page = wanted.page
    return Pager(
        page=page,
        pages=pages,
        previous=link(min(page - 1, pages)) if page > 1 else None,
        next=link(page + 1) if wanted.offset + wanted.per_page < total else None,
    )


@dataclass(frozen=True)
class VersionLink:
    """Another language of the same release, on our site."""

    lang: str
    label: str
    href: str


@dataclass(frozen=True)
class GroupItem:
    entry: Entry
    others: tuple[VersionLink, ...]


def group_items(base_url: str, page: GroupPage, sites: Mapping[str, Site]) -> list[GroupItem]:
    """Each translation group once: the version shown and links to the others."""
    return [
        GroupItem(
            make_entry(group.shown, base_url=base_url, site=sites.get(group.shown.site)),
            tuple(
                VersionLink(v.lang, language_name(v.lang), permalink(base_url, v.id))
                for v in group.others
            ),
        )
        for group in page.groups
    ]


def render_index(
    env: Environment,
    *,
    base_url: str,
    title: str,
    wanted: PageRequest,
    groups: Sequence[GroupItem],
    total: int,
    sites: Sequence[dict[str, Any]],
    filters: Sequence[FilterField],
) -> str:
    """The front page: the filter form, one page of releases, feed links, the sites."""
    query = wanted.query
    hidden = [("per_page", str(wanted.per_page))] if wanted.per_page != LIMIT_DEFAULT else []
    return env.get_template("index.html").render(
        base_url=base_url,
        title=title,
        query=query,
        hidden=hidden,
        groups=groups,
        total=total,
        sites=sites,
        filters=filters,
        pager=pager(base_url, wanted, total),
        feeds=feed_links(base_url, query.as_params()),
    )


def release_versions(
    base_url: str, release: StoredRelease, group: Sequence[StoredRelease]
) -> list[VersionLink]:
    """The release's other languages that we store (linked to our pages), one per language."""
    stored = {r.lang: r for r in sorted(group, key=lambda r: r.id, reverse=True)}
    stored.pop(release.lang, None)
    return [
        VersionLink(lang, language_name(lang), permalink(base_url, r.id))
        for lang, r in sorted(stored.items())
    ]


def render_release(
    env: Environment, *, base_url: str, entry: Entry, versions: Sequence[VersionLink] = ()
) -> str:
    """One release; the page's own language and direction are the release's (rtl for Arabic).

    Its other languages link to our pages when stored, else to IOM's (the page's translations).
    """
    content = Markup(sanitize_html(entry.content_html, entry.url))  # sanitised twice on purpose
    ours = {v.lang for v in versions}
    elsewhere = [
        VersionLink(t.lang, language_name(t.lang), t.url)
        for t in entry.translations
        if t.lang not in ours
    ]
    return env.get_template("release.html").render(
        base_url=base_url,
        entry=entry,
        content=content,
        page_lang=entry.lang,
        page_dir=entry.direction,
        language=language_name(entry.lang),
        versions=versions,
        elsewhere=elsewhere,
    )


def render_status(env: Environment, *, base_url: str, status: Mapping[str, Any]) -> str:
    """The /status table; the scheduler's columns (next run, backoff) only when it gave them."""
    has_next_run = any("next_run" in row for row in status["sites"])
    has_backoff = any(row.get("backoff") for row in status["sites"])
    return env.get_template("status.html").render(
        base_url=base_url, status=status, has_next_run=has_next_run, has_backoff=has_backoff
    )


def render_error(env: Environment, *, base_url: str, status_code: int, message: str) -> str:
    return env.get_template("error.html").render(
        base_url=base_url, status_code=status_code, message=message
    )
