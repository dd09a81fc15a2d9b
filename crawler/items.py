"""What the spider hands on: a Release item per article page, and its listing pages (a signal)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

RELEASE_TYPES = ("press_release", "news", "story", "statement")

# Signal sent with each listing page read (html=, url=). A listing is not a release, but the
# site template learns from it which blocks every page repeats (BoilerplatePipeline).
listing_page = object()


@dataclass
class Release:
    """One press release, news item or story, as extracted from its article page.

    `body_text`/`body_html` are filled by the boilerplate pipeline; `body_html` is sanitised
    before anything downstream sees it. `published` is tz-aware UTC or None.
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
