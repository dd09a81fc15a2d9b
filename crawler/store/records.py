"""The store's value types: the filter vocabulary, stored releases, crawl runs, events."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime

FILTER_KEYS = ("site", "country", "region", "lang", "type", "q")

# What a release's `flags` may say about how it was stored.
RELEASE_FLAGS = (
    "empty_body",  # the page had no extractable text: title, date and link kept
    "oversize",  # the page was over the download bound: stored from its listing entry
    "truncated",  # body or raw HTML cut to the storage bound below
)

# Storage bounds, applied by `save_release`; a cut adds the "truncated" flag.
MAX_BODY_TEXT_CHARS = 100_000
MAX_BODY_HTML_CHARS = 300_000
MAX_RAW_HTML_BYTES = 1_000_000  # UTF-8 bytes, before compression


@dataclass(frozen=True)
class ReleaseQuery:
    """The one filter vocabulary of feeds, subscriptions and webhooks: OR within a key, AND across."""

    site: tuple[str, ...] = ()
    country: tuple[str, ...] = ()
    region: tuple[str, ...] = ()
    lang: tuple[str, ...] = ()
    type: tuple[str, ...] = ()
    q: tuple[str, ...] = ()

    @classmethod
    def from_mapping(cls, values: Mapping[str, Sequence[str]]) -> ReleaseQuery:
        return cls(**{k: tuple(v for v in values.get(k, ()) if v) for k in FILTER_KEYS})

    def as_params(self) -> list[tuple[str, str]]:
        """Query-string pairs in a stable order (for links, cache keys, OPML)."""
        return [(k, v) for k in FILTER_KEYS for v in getattr(self, k)]


@dataclass(frozen=True)
class StoredRelease:
    """A release as the store returns it (raw HTML left out; see `Store.raw_html`)."""

    id: str
    site: str
    url: str
    group_key: str
    lang: str
    country: str | None
    region: str | None
    type: str
    title: str | None
    published: datetime | None
    dateline: str | None
    body_text: str
    body_html: str
    summary: str
    image_url: str | None
    attachments: list[str]
    translations: dict[str, str]
    content_hash: str
    first_seen: datetime
    updated: datetime
    flags: tuple[str, ...] = ()

    @property
    def sort_date(self) -> datetime:
        """Newest-first ordering key: IOM's date when known, else when we first saw it."""
        return self.published or self.first_seen


@dataclass(frozen=True)
class RunStats:
    """Counters of one crawl of one site: the one list of them (columns, status, tables derive)."""

    pages: int = 0
    not_modified: int = 0
    items: int = 0
    new: int = 0
    updated: int = 0
    errors: int = 0
    bytes: int = 0
    empty: int = 0  # releases stored with no extractable body
    gone: int = 0  # article URLs skipped because of a remembered permanent failure
    coverage: Mapping[str, int] = field(default_factory=dict)

    def counters(self) -> dict[str, int]:
        """Every counter by name, in declaration order (coverage left out)."""
        return {name: getattr(self, name) for name in RUN_COUNTERS}


RUN_COUNTERS = tuple(f.name for f in fields(RunStats) if f.name != "coverage")


@dataclass(frozen=True, kw_only=True)
class CrawlRun(RunStats):
    """A recorded crawl run: its counters plus when, how it ended and why."""

    id: int
    site: str
    started: datetime
    finished: datetime | None
    status: str
    reason: str | None
    duration: float | None


@dataclass(frozen=True)
class Event:
    id: int
    release_id: str
    kind: str
    created_at: datetime
