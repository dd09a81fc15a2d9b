"""From outbox rows to what goes out: the mail of a row, the digest of a subscriber, a webhook body.

No network and no writes: the sender (feeds/alerts/sender.py) reads the rows' releases once per
batch (`Store.releases_of_groups`), hands them here as a `Releases` view, and sends the result.

Language. A mail row names a translation group, not a release: it goes out as the version in
the subscriber's first preferred language that exists (a preference `pt` takes `pt-br`), else
as the release the row names (the version whose event queued it), else — that one deleted
meanwhile — any version of the group. No version left: nothing to send (None).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from feeds.alerts.email import MailOrigin, Recipient, build_digest, build_instant
from feeds.alerts.schedule import DIGEST_MODES
from feeds.alerts.tokens import unsubscribe_token
from feeds.alerts.webhooks import signed_headers, webhook_id, webhook_payload
from feeds.catalog import feed_url
from feeds.entries import Entry, make_entry

if TYPE_CHECKING:
    from datetime import datetime
    from email.message import EmailMessage

    from crawler.sites import Site
    from crawler.store import OutboxRow, StoredRelease, Subscriber, Webhook

DEFAULT_DIGEST_MODE = "daily"  # a digest row of a subscriber since switched to instant


def language_choice(
    versions: Sequence[StoredRelease], preferences: Sequence[str], fallback_id: str
) -> StoredRelease | None:
    """The version to mail: first preferred language that exists, else `fallback_id`, else any."""
    for wanted in (p.lower() for p in preferences):
        exact = [v for v in versions if v.lang.lower() == wanted]
        close = [v for v in versions if v.lang.lower().startswith(wanted + "-")]
        if exact or close:
            return (exact or close)[0]
    for version in versions:
        if version.id == fallback_id:
            return version
    return versions[0] if versions else None


@dataclass
class Releases:
    """The releases a batch of rows needs, by group, with each one's Entry built once."""

    base_url: str
    sites: Mapping[str, Site] = field(default_factory=dict)
    _groups: dict[str, list[StoredRelease]] = field(default_factory=dict)
    _by_id: dict[str, StoredRelease] = field(default_factory=dict)
    _entries: dict[str, Entry] = field(default_factory=dict)

    def add(self, releases: Iterable[StoredRelease]) -> None:
        for release in releases:
            if release.id not in self._by_id:
                self._by_id[release.id] = release
                self._groups.setdefault(release.group_key, []).append(release)

    def release(self, release_id: str) -> StoredRelease | None:
        return self._by_id.get(release_id)

    def for_mail(self, row: OutboxRow, preferences: Sequence[str]) -> StoredRelease | None:
        versions = self._groups.get(row.group_key, [])
        if not versions and (named := self._by_id.get(row.release_id)) is not None:
            versions = [named]  # the group key moved (a node id found later): keep the release
        return language_choice(versions, preferences, row.release_id)

    def entry(self, release: StoredRelease) -> Entry:
        """The render-ready view of a release (cached: a digest run shows it many times)."""
        entry = self._entries.get(release.id)
        if entry is None:
            site = self.sites.get(release.site)
            entry = make_entry(release, base_url=self.base_url, site=site)
            self._entries[release.id] = entry
        return entry


def recipient(subscriber: Subscriber, key: bytes, default_lang: str) -> Recipient:
    """Our words in the subscriber's first preferred language, else `default_lang`."""
    lang = subscriber.languages[0] if subscriber.languages else default_lang
    token = unsubscribe_token(key, str(subscriber.id))
    return Recipient(subscriber.email, lang, subscriber.timezone, token)


def instant_mail(
    row: OutboxRow,
    subscriber: Subscriber,
    releases: Releases,
    *,
    origin: MailOrigin,
    key: bytes,
    now: datetime,
) -> EmailMessage | None:
    """The mail of one instant row; None when no version of its release is left."""
    chosen = releases.for_mail(row, subscriber.languages)
    if chosen is None:
        return None
    return build_instant(
        releases.entry(chosen),
        origin=origin,
        recipient=recipient(subscriber, key, chosen.lang),
        key=row.idempotency_key,
        now=now,
    )


def digest_key(subscriber_id: int, rows: Sequence[OutboxRow]) -> str:
    """The Message-ID key of one digest: its subscriber and exactly its rows.

    A retry of the same rows is the same mail (same Message-ID); a digest that gained rows
    meanwhile is a different one.
    """
    ids = ",".join(str(r.id) for r in sorted(rows, key=lambda r: r.id))
    return f"digest:{subscriber_id}:{hashlib.sha256(ids.encode()).hexdigest()[:32]}"


def digest_entries(
    rows: Sequence[OutboxRow], subscriber: Subscriber, releases: Releases
) -> list[Entry]:
    """One Entry per release still there (a new and an updated row of one group: once)."""
    chosen: dict[str, Entry] = {}
    for row in rows:
        release = releases.for_mail(row, subscriber.languages)
        if release is not None:
            chosen.setdefault(release.id, releases.entry(release))
    return list(chosen.values())


def digest_mail(
    rows: Sequence[OutboxRow],
    subscriber: Subscriber,
    releases: Releases,
    *,
    origin: MailOrigin,
    key: bytes,
    now: datetime,
) -> EmailMessage | None:
    """One digest of all these rows of one subscriber; None when every release is gone."""
    entries = digest_entries(rows, subscriber, releases)
    if not entries:
        return None  # never an empty digest
    common = Counter(e.lang for e in entries).most_common(1)[0][0]
    mode = subscriber.mode if subscriber.mode in DIGEST_MODES else DEFAULT_DIGEST_MODE
    return build_digest(
        entries,
        mode=mode,
        origin=origin,
        recipient=recipient(subscriber, key, common),
        key=digest_key(subscriber.id, rows),
        now=now,
    )


def webhook_request(
    row: OutboxRow, hook: Webhook, release: StoredRelease, releases: Releases, *, now: datetime
) -> tuple[bytes, dict[str, str]]:
    """The body and signed headers of one attempt: the same body and webhook-id every time.

    The body's timestamp is the event's (the row's creation), so a retry rebuilds the same
    bytes; only the signature's timestamp is `now`. ValueError: the secret is unusable.
    """
    entry = releases.entry(release)
    body = webhook_payload(
        row.kind,
        entry,
        feed_url=feed_url(releases.base_url, "atom", [("site", entry.site)]),
        page_url=entry.permalink,
        timestamp=row.created_at,
    )
    return body, signed_headers(hook.secret, webhook_id(row.idempotency_key), body, now=now)
