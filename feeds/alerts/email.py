"""Alert mails as `EmailMessage`s: instant, daily or weekly digest, subscription confirmation.

Pure builders: no clock, no network, no store. Each mail is multipart/alternative (text, then
HTML with inline CSS) rendered from Jinja2 templates; a digest is one HTML body with a section
per country, never multipart/digest. Release content comes from `feeds.entries.Entry`, already
plain text (titles, summaries) or sanitised HTML (bodies); an instant alert's body is sanitised
once more here, since scraped pages are hostile and a mail is read far from our server.
Digests show titles and summaries only: plain text, escaped by the templates.

The Message-ID derives from the idempotency key of the outbox row, so a retried send carries
the same Message-ID and a receiving server or client can drop the duplicate.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from email import policy
from email.headerregistry import Address, BaseHeader, HeaderRegistry, UnstructuredHeader
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from functools import cache, lru_cache
from itertools import groupby
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from crawler.parsing.sanitize import sanitize_html
from feeds.alerts.schedule import DIGEST_MODES, zone
from feeds.alerts.words import words_for
from feeds.entries import utc

if TYPE_CHECKING:
    from datetime import datetime

    from crawler.store import ReleaseQuery
    from feeds.entries import Entry

UNSUBSCRIBE_PATH = "/unsubscribe"
CONFIRM_PATH = "/subscribe/confirm"
MESSAGE_ID_CHARS = 32
FROM_NAME = "iomwatch"


class UrlListHeader(UnstructuredHeader, BaseHeader):
    """A list of `<url>`s (List-Unsubscribe), folded only between the URLs.

    The stock folder RFC 2047-encodes any word longer than a line, and an encoded
    List-Unsubscribe is unreadable to mail clients; a long URL on its own line is allowed
    (998 characters, RFC 5322).
    """

    def fold(self, *, policy: policy.Policy) -> str:
        urls = [part.strip() for part in str(self).split(",")]
        return f"{self.name}: " + f",{policy.linesep} ".join(urls) + policy.linesep


_HEADERS = HeaderRegistry()
_HEADERS.map_to_type("list-unsubscribe", UrlListHeader)
# 7bit: bodies get quoted-printable or base64 as fits, never raw 8bit that a relay without
# 8BITMIME would mangle
MAIL_POLICY = policy.default.clone(cte_type="7bit", header_factory=_HEADERS)


@dataclass(frozen=True)
class MailOrigin:
    """Who sends: the From address and our public base URL (links, List-Id)."""

    from_addr: str
    base_url: str

    def __post_init__(self) -> None:
        if "@" not in self.address or urlsplit(self.base_url).scheme not in {"http", "https"}:
            raise ValueError(f"mail origin needs an address and an http(s) base URL: {self!r}")

    @property
    def address(self) -> str:
        """The bare address of `from_addr` ('alerts@example.org')."""
        return parseaddr(self.from_addr)[1]

    @property
    def domain(self) -> str:
        return self.address.rpartition("@")[2]

    @property
    def host(self) -> str:
        return urlsplit(self.base_url).hostname or ""

    def url(self, path: str, token: str) -> str:
        """An absolute link to one of our token pages (unsubscribe, confirm)."""
        return f"{self.base_url.rstrip('/')}{path}?token={quote(token, safe='')}"


@dataclass(frozen=True)
class Recipient:
    """Who receives: the address, the language of our words, the zone of local dates.

    `unsubscribe_token` is required for alerts and digests (List-Unsubscribe), and unused
    by a confirmation mail, which subscribes nobody yet.
    """

    email: str
    lang: str = "en"
    timezone: str = "UTC"
    unsubscribe_token: str = ""


def message_id(key: str, origin: MailOrigin) -> str:
    """`<sha256(key)[:32]@domain>`: the same key (outbox row) gives the same Message-ID."""
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:MESSAGE_ID_CHARS]
    return f"<{digest}@{origin.domain}>"


@cache
def environment() -> Environment:
    """The mail templates: autoescape on for HTML (and anything unknown), off for `.txt`."""
    return Environment(
        loader=PackageLoader("feeds.alerts", "templates"),
        autoescape=lambda name: name is None or not name.endswith(".txt"),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def _render(name: str, context: Mapping[str, Any]) -> tuple[str, str]:
    env = environment()
    return (
        env.get_template(f"{name}.txt").render(context),
        env.get_template(f"{name}.html").render(context),
    )


def plain_message(
    subject: str, text: str, *, origin: MailOrigin, to: str, key: str, now: datetime
) -> EmailMessage:
    """A text/plain mail with our headers (the operator's notices; alerts add their HTML)."""
    message = EmailMessage(policy=MAIL_POLICY)
    message["Subject"] = subject
    message["From"] = (
        origin.from_addr
        if "<" in origin.from_addr
        else Address(FROM_NAME, addr_spec=origin.address)
    )
    message["To"] = to
    message["Date"] = format_datetime(utc(now))
    message["Message-ID"] = message_id(key, origin)
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(text)
    return message


def _message(
    subject: str, text: str, html: str, *, origin: MailOrigin, to: str, key: str, now: datetime
) -> EmailMessage:
    message = plain_message(subject, text, origin=origin, to=to, key=key, now=now)
    message.add_alternative(html, subtype="html")
    # fixed per key, so a retried mail is byte for byte the same; "=_" never occurs in
    # quoted-printable or base64 bodies, so the boundary cannot collide with content
    message.set_boundary(f"=_iomwatch_{hashlib.sha256(key.encode('utf-8')).hexdigest()[:24]}")
    return message


def _add_list_headers(message: EmailMessage, origin: MailOrigin, token: str) -> None:
    """RFC 2369 / 2919 / 8058 list headers: one-click unsubscribe by https POST or by mail."""
    if not token:
        raise ValueError("an alert mail needs the recipient's unsubscribe token")
    message["List-Id"] = f"<iomwatch.{origin.host}>"
    message["List-Unsubscribe"] = (
        f"<{origin.url(UNSUBSCRIBE_PATH, token)}>, <mailto:{origin.address}?subject=unsubscribe>"
    )
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message["Precedence"] = "bulk"


@dataclass(frozen=True)
class ReleaseView:
    """One release as the mail templates show it, in the words of one language."""

    entry: Entry
    meta: str  # type · site · published date · dateline
    text: str  # the body as plain text, or the summary when the page had none


@lru_cache(maxsize=4096)
def release_view(entry: Entry, lang: str) -> ReleaseView:
    """Cached: a digest run shows the same release to thousands of subscribers."""
    words = words_for(lang)
    meta = (
        words.type_label(entry.type),
        entry.site_name,
        words.published_on(entry.published.date()),
        entry.dateline,
    )
    text = entry.content_text.strip() or entry.summary
    return ReleaseView(entry, " · ".join(part for part in meta if part), text)


def _common(origin: MailOrigin, recipient: Recipient, now: datetime) -> dict[str, Any]:
    words = words_for(recipient.lang)
    return {
        "words": words,
        "host": origin.host,
        "today": words.long_date(now.astimezone(zone(recipient.timezone)).date()),
        "unsubscribe_url": origin.url(UNSUBSCRIBE_PATH, recipient.unsubscribe_token),
    }


def build_instant(
    entry: Entry, *, origin: MailOrigin, recipient: Recipient, key: str, now: datetime
) -> EmailMessage:
    """The alert for one release, in the recipient's language (the release keeps its own)."""
    context = _common(origin, recipient, now)
    subject = f"{context['words'].subject_prefix} {entry.title}"
    context |= {
        "subject": subject,
        "release": release_view(entry, context["words"].lang),
        # the one value marked safe: sanitised by make_entry, and again here on purpose
        "content": Markup(sanitize_html(entry.content_html, entry.url)),
    }
    text, html = _render("instant", context)
    message = _message(subject, text, html, origin=origin, to=recipient.email, key=key, now=now)
    _add_list_headers(message, origin, recipient.unsubscribe_token)
    return message


def digest_sections(entries: Sequence[Entry]) -> list[tuple[str, list[Entry]]]:
    """(heading, releases) per country, or per site name for releases with no country.

    Headings sorted alphabetically; releases newest first within each.
    """

    def heading(entry: Entry) -> str:
        return entry.country or entry.site_name

    ordered = sorted(entries, key=lambda e: (heading(e).casefold(), -e.published.timestamp()))
    return [(name, list(group)) for name, group in groupby(ordered, key=heading)]


def build_digest(
    entries: Sequence[Entry],
    *,
    mode: str,
    origin: MailOrigin,
    recipient: Recipient,
    key: str,
    now: datetime,
) -> EmailMessage:
    """A daily or weekly digest of `entries`; an empty digest is never sent, so it is an error."""
    if not entries:
        raise ValueError("empty digest: nothing to send")
    if mode not in DIGEST_MODES:
        raise ValueError(f"digest mode {mode!r}: expected daily or weekly")
    context = _common(origin, recipient, now)
    words = context["words"]
    count = words.releases(len(entries))
    subject = f"{words.subject_prefix} {words.digest_title(mode)} — {context['today']} — {count}"
    sections = [
        (name, [release_view(e, words.lang) for e in group])
        for name, group in digest_sections(entries)
    ]
    context |= {"subject": subject, "mode": mode, "count": count, "sections": sections}
    text, html = _render("digest", context)
    message = _message(subject, text, html, origin=origin, to=recipient.email, key=key, now=now)
    _add_list_headers(message, origin, recipient.unsubscribe_token)
    return message


def query_lines(query: ReleaseQuery, lang: str) -> list[tuple[str, str]]:
    """A subscription's filter as (label, values) lines in the reader's language."""
    words = words_for(lang)
    lines: list[tuple[str, str]] = []
    for key, value in query.as_params():
        label = words.filter_labels.get(key, key)
        shown = words.type_label(value) if key == "type" else value
        if lines and lines[-1][0] == label:
            lines[-1] = (label, f"{lines[-1][1]}, {shown}")
        else:
            lines.append((label, shown))
    return lines


def build_confirmation(
    query: ReleaseQuery,
    *,
    origin: MailOrigin,
    recipient: Recipient,
    token: str,
    key: str,
    now: datetime,
) -> EmailMessage:
    """The opt-in mail: one link that confirms the subscription to `query` (single use, 48 h)."""
    context = _common(origin, recipient, now)
    words = context["words"]
    context |= {
        "subject": words.confirm_subject,
        "confirm_url": origin.url(CONFIRM_PATH, token),
        "filters": query_lines(query, recipient.lang),
    }
    text, html = _render("confirm", context)
    return _message(
        words.confirm_subject, text, html, origin=origin, to=recipient.email, key=key, now=now
    )
