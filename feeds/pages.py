"""HTML pages (index, release, status) rendered by Jinja2 with autoescape on.

Only one value is ever marked safe: a release body that `make_entry` has just sanitised.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from crawler.parsing.sanitize import sanitize_html
from feeds.catalog import FORMATS, feed_url
from feeds.entries import site_name
from feeds.filters import query_string

if TYPE_CHECKING:
    from crawler.sites import Site
    from crawler.store import ReleaseQuery
    from feeds.entries import Entry

FORMAT_LABELS = {"atom": "Atom", "rss": "RSS", "json": "JSON Feed"}


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


def render_index(
    env: Environment,
    *,
    base_url: str,
    title: str,
    query: ReleaseQuery,
    entries: Sequence[Entry],
    total: int,
    sites: Sequence[dict[str, Any]],
) -> str:
    """The front page: latest releases for the filters, feed links, the sites."""
    hidden = [(k, v) for k, v in query.as_params() if k != "q"]
    return env.get_template("index.html").render(
        base_url=base_url,
        title=title,
        query=query,
        hidden=hidden,
        entries=entries,
        total=total,
        sites=sites,
        feeds=feed_links(base_url, query.as_params()),
    )


def render_release(env: Environment, *, base_url: str, entry: Entry) -> str:
    """One release; the page's own language and direction are the release's (rtl for Arabic)."""
    content = Markup(sanitize_html(entry.content_html, entry.url))  # sanitised twice on purpose
    return env.get_template("release.html").render(
        base_url=base_url,
        entry=entry,
        content=content,
        page_lang=entry.lang,
        page_dir=entry.direction,
    )


def render_status(env: Environment, *, base_url: str, status: Mapping[str, Any]) -> str:
    has_next_run = any("next_run" in row for row in status["sites"])
    return env.get_template("status.html").render(
        base_url=base_url, status=status, has_next_run=has_next_run
    )


def render_error(env: Environment, *, base_url: str, status_code: int, message: str) -> str:
    return env.get_template("error.html").render(
        base_url=base_url, status_code=status_code, message=message
    )
