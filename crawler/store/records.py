"""The store's value types: the filter vocabulary, stored releases, crawl runs, events, alerts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

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
    countries: tuple[str, ...] = ()  # what the release is about (crawler.parsing.countries)

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
    listings: int = 0  # listing pages parsed (answered anew, not 304)
    entries: int = 0  # entries those listings held: none on a fresh listing = layout changed?
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


# -- alerts: subscribers, webhooks, the outbox ------------------------------------------------

SUBSCRIBER_MODES = ("instant", "daily", "weekly")
SUBSCRIBER_SOURCES = ("config", "cli", "web")
OUTBOX_CHANNELS = ("email", "digest", "webhook")
# pending: never tried; failed: tried, waits for its retry; sent; dead: given up for good.
OUTBOX_STATES = ("pending", "sent", "failed", "dead")
DELIVERY_OUTCOMES = ("ok", "retry", "gone", "failed")


@dataclass(frozen=True)
class SubscriberSpec:
    """What a subscription asks for (config file, CLI or web form), checked when made."""

    email: str
    mode: str = "instant"
    hour: int = 8
    timezone: str = "UTC"
    languages: tuple[str, ...] = ()  # preference order; none: each release's own language
    filters: ReleaseQuery = field(default_factory=ReleaseQuery)

    def __post_init__(self) -> None:
        if "@" not in self.email.strip(" @"):
            raise ValueError(f"subscriber email {self.email!r}: expected an e-mail address")
        if self.mode not in SUBSCRIBER_MODES:
            raise ValueError(f"subscriber mode {self.mode!r}: expected instant, daily or weekly")
        if isinstance(self.hour, bool) or not 0 <= self.hour <= 23:
            raise ValueError(f"subscriber hour {self.hour!r}: expected 0 to 23")
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"subscriber time zone {self.timezone!r}: unknown") from None


@dataclass(frozen=True, kw_only=True)
class Subscriber(SubscriberSpec):
    """A stored subscriber; alerts go only to confirmed ones that did not unsubscribe."""

    id: int
    source: str
    created_at: datetime
    confirmed_at: datetime | None  # None: a web sign-up waiting for its confirmation
    consent_at: datetime | None  # when the address owner confirmed (web); None if added by us
    unsubscribed_at: datetime | None

    @property
    def active(self) -> bool:
        return self.confirmed_at is not None and self.unsubscribed_at is None


@dataclass(frozen=True)
class WebhookSpec:
    """A webhook endpoint as configured: its URL, signing secret and filter."""

    url: str
    secret: str = field(default="", repr=False)  # secrets never reach logs
    filters: ReleaseQuery = field(default_factory=ReleaseQuery)

    def __post_init__(self) -> None:
        if not self.url.startswith(("http://", "https://")):
            raise ValueError(f"webhook URL {self.url!r}: expected an http(s) URL")


@dataclass(frozen=True, kw_only=True)
class Webhook(WebhookSpec):
    """A stored webhook; disabled (410, or N failures in a row) until enabled again."""

    id: int
    source: str
    enabled: bool
    consecutive_failures: int
    disabled_at: datetime | None
    disabled_reason: str | None
    created_at: datetime


@dataclass(frozen=True)
class OutboxRow:
    """One alert to send: (target, release, channel), with its own delivery state."""

    id: int
    idempotency_key: str  # Message-ID and webhook-id derive from it: receivers can dedupe
    channel: str  # "email" (instant), "digest" or "webhook"
    target_id: int  # subscribers.id (email, digest) or webhooks.id (webhook)
    group_key: str  # the release's translation group: the sender picks the language then
    release_id: str
    event_id: int
    kind: str  # "new" or "updated"
    state: str
    attempts: int  # claims so far, the current one included
    next_attempt_at: datetime
    last_error: str | None
    sent_at: datetime | None
    created_at: datetime


@dataclass(frozen=True)
class Delivery:
    """One attempt at delivering a webhook row (`iomwatch webhooks log`)."""

    id: int
    outbox_id: int
    webhook_id: int
    attempt: int
    status: int | None  # the HTTP status; None when no answer came (timeout, refused)
    outcome: str  # see DELIVERY_OUTCOMES
    reason: str | None
    at: datetime


@dataclass(frozen=True)
class OperatorAlert:
    """A message on the operator channel (never in the content feeds): a site failing, a
    webhook disabled. At most one open per (subject, kind)."""

    id: int
    subject: str  # a site id, or "webhook:<id>"
    kind: str  # e.g. "webhook_disabled"
    message: str
    created_at: datetime
    resolved: bool
    resolved_at: datetime | None
