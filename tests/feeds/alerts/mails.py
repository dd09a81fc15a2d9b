"""Releases and mails for the email and SMTP tests: real Entries built by `make_entry`."""

from __future__ import annotations

import email
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.smtp import Envelope

from crawler.store.records import StoredRelease
from feeds.alerts.email import MailOrigin, Recipient, build_instant
from feeds.alerts.tokens import unsubscribe_token
from feeds.entries import Entry, make_entry

BASE_URL = "https://alerts.example.org"
KEY = b"test-secret-key-of-the-service"
ORIGIN = MailOrigin("alerts@example.org", BASE_URL)
NOW = datetime(2026, 3, 3, 7, 30, tzinfo=UTC)


def release(**fields: Any) -> Entry:
    """One release as the store would return it, made render-ready; `fields` override."""
    when = fields.pop("published", datetime(2026, 3, 2, tzinfo=UTC))
    values: dict[str, Any] = {
        "id": "mali-101",
        "site": "mali",
        "url": "https://mali.iom.int/fr/news/reintegration-retour",
        "group_key": "mali:101",
        "lang": "fr",
        "country": "Mali",
        "region": "West and Central Africa",
        "type": "press_release",
        "title": "Réintégration durable des migrants de retour à Bamako",
        "published": when,
        "dateline": "Bamako",
        "body_text": "L'OIM soutient la réintégration de 500 migrants.",
        "body_html": "<p>L'OIM soutient la <strong>réintégration</strong> de 500 migrants.</p>",
        "summary": "L'OIM soutient la réintégration de 500 migrants.",
        "image_url": None,
        "attachments": [],
        "translations": {"en": "https://mali.iom.int/news/sustainable-reintegration"},
        "content_hash": "h",
        "first_seen": when,
        "updated": when,
    }
    values.update(fields)
    return make_entry(StoredRelease(**values), base_url=BASE_URL)


def recipient(lang: str = "en", email_address: str = "analyst@example.org") -> Recipient:
    return Recipient(email_address, lang, "Africa/Bamako", unsubscribe_token(KEY, "subscriber-7"))


def instant(lang: str = "en", entry: Entry | None = None, key: str = "outbox:1") -> EmailMessage:
    return build_instant(
        entry or release(), origin=ORIGIN, recipient=recipient(lang), key=key, now=NOW
    )


def wire(message: EmailMessage) -> bytes:
    """The bytes an SMTP client puts on the wire (CRLF, 7-bit)."""
    return message.as_bytes(policy=policy.SMTP)


def reparse(data: bytes) -> EmailMessage:
    """A received message, parsed as a mail client would."""
    parsed = email.message_from_bytes(data, policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def raw(envelope: Envelope) -> bytes:
    """The bytes aiosmtpd received: `content` is typed `bytes | str | None`, but it is str only
    with `decode_data`, which no test server sets."""
    content = envelope.content
    assert isinstance(content, bytes), type(content)
    return content
