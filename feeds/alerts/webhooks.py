"""Signed webhooks: the JSON body of a release event, Standard Webhooks headers, one delivery.

Pure builders (`webhook_payload`, `signed_headers`) behind thin I/O (`deliver` for an injected
`httpx.AsyncClient`, `deliver_sync` for an `httpx.Client`), like feeds/build.py. The outbox
owns the retry schedule: it keeps one `webhook-id` per delivery (`webhook_id(key)` derives it
from the outbox row's idempotency key) and signs every attempt afresh, because receivers reject
timestamps older than five minutes. A `DeliveryResult` says ok / retryable (with the receiver's
Retry-After) / gone (410: disable at once) / permanent, with a short reason that never holds
the secret, a response body or the URL's path (webhook URLs often carry a token there).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from enum import Enum
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx
from standardwebhooks import Webhook
from standardwebhooks.webhooks import EmptyWebhookSecretError

from feeds.alerts.exceptions import WebhookDeliveryError
from feeds.entries import utc

if TYPE_CHECKING:
    from collections.abc import Mapping

    from feeds.entries import Entry, Link

logger = logging.getLogger(__name__)

# store event kind -> the event `type` receivers see
EVENT_TYPES = {"new": "release.created", "updated": "release.updated"}
SECRET_PREFIX = "whsec_"
RETRYABLE_STATUSES = frozenset({408, 429})  # plus every 5xx
RETRY_AFTER_MAX_SECONDS = 86_400.0  # a longer hint is noise; the backoff cap applies anyway
JSON_TYPE = "application/json"
BASE64 = re.compile(r"[A-Za-z0-9+/]+={0,2}")
WEBHOOK_ID = re.compile(r"[!-~]{1,256}")  # a header value: printable ASCII, no spaces


class Outcome(Enum):
    """What the outbox does with the row after one attempt."""

    OK = "ok"  # delivered: mark sent
    RETRYABLE = "retryable"  # timeout, connection error, 408, 429, 5xx: try again later
    GONE = "gone"  # 410: the receiver says it is gone for good; disable the webhook now
    PERMANENT = "permanent"  # any other answer: give the row up, count a failure


@dataclass(frozen=True)
class DeliveryResult:
    """One attempt's outcome; `reason` is short and safe to log and store."""

    outcome: Outcome
    reason: str
    status: int | None = None
    retry_after: float | None = None  # seconds the receiver asked us to wait
    elapsed: float = 0.0  # seconds the attempt took

    @property
    def ok(self) -> bool:
        return self.outcome is Outcome.OK

    @property
    def retryable(self) -> bool:
        return self.outcome is Outcome.RETRYABLE

    @property
    def gone(self) -> bool:
        return self.outcome is Outcome.GONE

    def raise_for_outcome(self) -> None:
        """Raise WebhookDeliveryError unless delivered (the outbox's common DeliveryError path)."""
        if not self.ok:
            raise WebhookDeliveryError(
                self.reason, retryable=self.retryable, retry_after=self.retry_after
            )


@dataclass(frozen=True, repr=False)
class WebhookTarget:
    """A webhook to deliver to; the secret is checked on creation.

    Its repr shows neither the secret nor the URL's path, which is often a token too.
    """

    url: str
    secret: str
    filters: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if urlsplit(self.url).scheme not in {"http", "https"}:
            raise ValueError(f"webhook url {safe_url(self.url)!r}: expected an http(s) URL")
        signer(self.secret)

    def __repr__(self) -> str:
        return f"WebhookTarget(url={safe_url(self.url)!r}, filters={dict(self.filters)!r})"

    def headers(self, webhook_id: str, body: bytes, *, now: datetime) -> dict[str, str]:
        return signed_headers(self.secret, webhook_id, body, now=now)


def safe_url(url: str) -> str:
    """The URL as logs show it: scheme and host only (Slack-style URLs hold a token in the path)."""
    parts = urlsplit(url)
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:  # a port that is not a number
        port = ""
    if not parts.scheme or not parts.hostname:
        return "<invalid url>"
    return f"{parts.scheme}://{parts.hostname}{port}/…"  # no userinfo, path or query


def webhook_id(idempotency_key: str) -> str:
    """The `webhook-id` of one delivery: stable for its outbox row, so every retry repeats it."""
    return "msg_" + hashlib.sha256(idempotency_key.encode()).hexdigest()[:32]


def signer(secret: str) -> Webhook:
    """A Standard Webhooks signer: `whsec_<base64>` as given, any other string as its UTF-8 bytes.

    Errors name the problem, never the secret.
    """
    base64_part = secret.removeprefix(SECRET_PREFIX)
    try:
        if secret.startswith(SECRET_PREFIX):
            # the library skips stray characters; a typo must fail here, not sign with another key
            if base64_part and not BASE64.fullmatch(base64_part):
                raise ValueError("not base64")
            return Webhook(secret)
        return Webhook(secret.encode())
    except EmptyWebhookSecretError:
        raise ValueError("webhook secret: empty (set `secret` in [[webhook]])") from None
    except ValueError:  # ours above, or binascii.Error from the library
        raise ValueError("webhook secret: the part after whsec_ is not valid base64") from None


def _timestamp(value: datetime) -> str:
    return utc(value).strftime("%Y-%m-%dT%H:%M:%SZ")


def _link(link: Link) -> dict[str, str]:
    """A translation as {lang, url}; an image or attachment as {url, type}."""
    if link.lang:
        return {"lang": link.lang, "url": link.url}
    return {"url": link.url, "type": link.mime_type}


def _release_fields(entry: Entry) -> dict[str, Any]:
    return {
        "id": entry.release_id,
        "url": entry.url,
        "site": entry.site,
        "site_name": entry.site_name,
        "country": entry.country,
        "region": entry.region,
        "lang": entry.lang,
        "type": entry.type,
        "title": entry.title,
        "dateline": entry.dateline,
        "published": _timestamp(entry.published),
        "updated": _timestamp(entry.updated),
        "summary": entry.summary,
        "content_html": entry.content_html,
        "content_text": entry.content_text,
        "image": _link(entry.image) if entry.image else None,
        "attachments": [_link(a) for a in entry.attachments],
        "translations": [_link(t) for t in entry.translations],
    }


def webhook_payload(
    kind: str, entry: Entry, *, feed_url: str, page_url: str, timestamp: datetime
) -> bytes:
    """The UTF-8 JSON body of one release event.

    `kind` is the store's event kind ("new", "updated") or the event type itself.
    `timestamp` is when the event was recorded (not now), so a retry or a replay rebuilds
    the very same bytes. Every string is JSON-escaped by json.dumps; lone surrogates (not
    text, and rejected by strict parsers) become U+FFFD so the body is always valid UTF-8.
    """
    event_type = kind if kind in EVENT_TYPES.values() else EVENT_TYPES.get(kind)
    if event_type is None:
        raise ValueError(f"webhook event kind {kind!r}: expected one of {sorted(EVENT_TYPES)}")
    data = _release_fields(entry) | {"feed_url": feed_url, "page_url": page_url}
    payload = {"type": event_type, "timestamp": _timestamp(timestamp), "data": data}
    text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace").encode()


def signed_headers(secret: str, webhook_id: str, body: bytes, *, now: datetime) -> dict[str, str]:
    """`webhook-id`, `webhook-timestamp` and `webhook-signature` (v1, HMAC-SHA256) for `body`.

    Sign each attempt with the current time and the delivery's one `webhook_id`.
    """
    if not WEBHOOK_ID.fullmatch(webhook_id):
        raise ValueError(f"webhook id {webhook_id!r}: expected 1-256 printable ASCII, no spaces")
    # the library replaces tzinfo rather than converting, so it must be handed UTC
    at = utc(now)
    signature = signer(secret).sign(webhook_id, at, body.decode())
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signature,
    }


def parse_retry_after(value: str | None, *, now: datetime) -> float | None:
    """Seconds to wait from a Retry-After header: delay-seconds or an HTTP-date; else None."""
    text = (value or "").strip()
    if not text:
        return None
    if text.isascii() and text.isdigit():  # int() would also read other scripts' digits
        seconds = float(min(int(text[:12]), int(RETRY_AFTER_MAX_SECONDS)))
    else:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:  # "-0000" zone: RFC 5322 says UTC
            when = when.replace(tzinfo=UTC)
        seconds = (when - utc(now)).total_seconds()
    return min(max(seconds, 0.0), RETRY_AFTER_MAX_SECONDS)


def _response_time(response: httpx.Response) -> datetime:
    """The receiver's own clock (its Date header) for an HTTP-date Retry-After; else ours."""
    try:
        server = parsedate_to_datetime(response.headers.get("date", ""))
    except (TypeError, ValueError):
        return datetime.now(UTC)
    return server if server.tzinfo is not None else server.replace(tzinfo=UTC)


def classify_response(response: httpx.Response, elapsed: float = 0.0) -> DeliveryResult:
    """2xx ok; 410 gone; 408, 429 and 5xx retryable (with Retry-After); anything else permanent.

    A status decides everything, so this reads the status, not `raise_for_status()`; a 3xx is
    permanent because a signed POST is not re-sent to wherever a redirect points.
    """
    status = response.status_code
    if 200 <= status < 300:
        return DeliveryResult(Outcome.OK, f"HTTP {status}", status, elapsed=elapsed)
    if status == 410:
        return DeliveryResult(Outcome.GONE, "HTTP 410 gone", status, elapsed=elapsed)
    if status in RETRYABLE_STATUSES or status >= 500:
        hint = parse_retry_after(response.headers.get("retry-after"), now=_response_time(response))
        reason = f"HTTP {status}" + (f" (Retry-After {hint:g} s)" if hint is not None else "")
        return DeliveryResult(Outcome.RETRYABLE, reason, status, hint, elapsed)
    return DeliveryResult(Outcome.PERMANENT, f"HTTP {status}", status, elapsed=elapsed)


def classify_error(exc: Exception, elapsed: float = 0.0) -> DeliveryResult:
    """A request that got no answer: timeouts and network errors are retryable, bad URLs not."""
    name = type(exc).__name__
    if isinstance(exc, httpx.TimeoutException | TimeoutError):
        return DeliveryResult(Outcome.RETRYABLE, f"timeout ({name})", elapsed=elapsed)
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL | httpx.TooManyRedirects):
        return DeliveryResult(Outcome.PERMANENT, f"bad webhook URL ({name})", elapsed=elapsed)
    return DeliveryResult(Outcome.RETRYABLE, f"connection error ({name})", elapsed=elapsed)


# What `deliver` treats as "no answer"; anything else is a bug and propagates.
NO_ANSWER = (httpx.TransportError, httpx.InvalidURL, httpx.TooManyRedirects, TimeoutError)


def _log(url: str, headers: Mapping[str, str], result: DeliveryResult) -> None:
    level = logging.DEBUG if result.ok else logging.INFO
    logger.log(
        level,
        "webhook %s to %s: %s in %.2f s",
        headers.get("webhook-id", "?"),
        safe_url(url),
        result.reason,
        result.elapsed,
    )


def _request_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {"content-type": JSON_TYPE, **headers}


async def deliver(
    client: httpx.AsyncClient,
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    deadline: float | None = None,
) -> DeliveryResult:
    """POST one signed body; never raises for what the receiver or the network does.

    Timeouts are the client's (an httpx.Timeout built once by the caller); `deadline` also
    bounds the whole attempt, against a receiver that trickles its headers byte by byte.
    The response body is never read: only the status and headers matter.
    """
    started = time.monotonic()
    try:
        async with (
            asyncio.timeout(deadline),
            client.stream("POST", url, content=body, headers=_request_headers(headers)) as response,
        ):
            result = classify_response(response, time.monotonic() - started)
    except NO_ANSWER as exc:
        result = classify_error(exc, time.monotonic() - started)
    _log(url, headers, result)
    return result


def deliver_sync(
    client: httpx.Client, url: str, body: bytes, headers: Mapping[str, str]
) -> DeliveryResult:
    """`deliver` for a synchronous httpx.Client (the CLI's replay, benches)."""
    started = time.monotonic()
    try:
        with client.stream(
            "POST", url, content=body, headers=_request_headers(headers)
        ) as response:
            result = classify_response(response, time.monotonic() - started)
    except NO_ANSWER as exc:
        result = classify_error(exc, time.monotonic() - started)
    _log(url, headers, result)
    return result
