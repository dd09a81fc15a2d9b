"""What the spider hands on: a Release item per article page, and its listing pages (a signal)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

RELEASE_TYPES = ("press_release", "news", "story", "statement")
REPR_URL_CHARS = 300  # a Release's repr is logged with each item error: bounded, and no page
REPR_TITLE_CHARS = 120

# Signal sent with each listing page read (html=, url=). A listing is not a release, but the
# site template learns from it which blocks every page repeats (BoilerplatePipeline).
listing_page = object()


@dataclass(repr=False)
class Release:
    """One press release, news item or story, as extracted from its article page.

    `body_text`/`body_html` are filled by the boilerplate pipeline; `body_html` is sanitised
    before anything downstream sees it. `published` is tz-aware UTC or None.

    Its repr names the release (site, language, URL, title, flags) and leaves the page out:
    Scrapy logs it with every failed item, and logs carry URLs and reasons, never bodies.
    """

    url: str
    site: str
    lang: str
    title: str | None = None
    published: datetime | None = None
    type: str = "news"
    country: str | None = None
    region: str | None = None
    node_id: str | None = None
    dateline: str | None = None
    body_text: str = ""
    body_html: str = ""
    summary: str = ""
    image_url: str | None = None
    attachments: list[str] = field(default_factory=list)
    translations: dict[str, str] = field(default_factory=dict)
    raw_html: str = ""
    fetched_url: str = ""
    flags: list[str] = field(default_factory=list)  # "empty_body", "oversize", "truncated"
    # The countries the release is about, registry spelling (crawler.parsing.countries).
    countries: list[str] = field(default_factory=list)
    # The body differs from the stored one only because the template learned more since: the
    # stored page, cleaned with today's template, gives the same body. Stored, no "updated".
    template_drift: bool = False

    def __repr__(self) -> str:
        url = _cut(self.url, REPR_URL_CHARS)
        title = _cut(self.title, REPR_TITLE_CHARS)
        return (
            f"Release(site={self.site!r}, lang={self.lang!r}, url={url!r}, title={title!r}, "
            f"flags={self.flags!r})"
        )


def _cut(text: str | None, limit: int) -> str | None:
    """`text` cut to `limit` characters, marked with an ellipsis when cut."""
    if text is None or len(text) <= limit:
        return text
    return text[: limit - 1] + "…"
