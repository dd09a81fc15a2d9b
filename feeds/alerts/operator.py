"""Operator notices: each operator alert told once when raised and once when resolved.

The operator channel ([operator] email and webhook) is apart from the subscribers' alerts:
no outbox rows, no filters, no unsubscribe; a short plain-text mail and a signed JSON POST
(Standard Webhooks, the helpers of feeds/alerts/webhooks.py). What was told is kept in the
store (`operator_notices`, per alert, phase and channel), so a restart tells nothing twice.

    await deliver_operator_notices(store, mailer=..., http=..., operator_email=...,
                                   operator_webhook=..., origin=..., now=...) -> SendReport

Call it after each crawl (after `crawler.store.site_health.check_site`) and now and then:
it never raises for SMTP or webhook trouble. A failed notice is retried with backoff on a
later call; once a channel fails in a pass the rest of that channel waits for the next one
(one timeout, not one per notice, while the server is down). A recovery never goes out
before its alert on the same channel. Alerts older than `max_age` are not told: a channel
configured late must not flood the operator with last month's history, and a notice that
kept failing for that long is given up with it.

THE WINDOW: between the server taking a notice and `finish_operator_notice` committing; a
sender killed there tells it once more after the lease, with the same Message-ID and
webhook-id for the receiver to drop.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from crawler.parsing.text import strip_xml_invalid
from feeds.alerts.email import plain_message
from feeds.alerts.exceptions import SmtpDeliveryError
from feeds.alerts.schedule import backoff_delay
from feeds.alerts.sender import SendReport
from feeds.alerts.webhooks import Outcome, deliver, webhook_id
from feeds.entries import utc

if TYPE_CHECKING:
    from email.message import EmailMessage

    import httpx

    from crawler.store import OperatorAlert, Store
    from crawler.store.operator import DueNotice
    from feeds.alerts.email import MailOrigin
    from feeds.alerts.smtp import SmtpSender
    from feeds.alerts.webhooks import WebhookTarget

logger = logging.getLogger(__name__)

FEED_PATH = "/operator.atom"
EVENT_TYPES = {"raised": "operator.alert.raised", "resolved": "operator.alert.resolved"}
SUBJECT_CHARS = 150


@dataclass(frozen=True)
class OperatorSettings:
    """How notices are retried; plain values (the service may take them from [alerts])."""

    lease_seconds: float = 300.0  # a claim's lease: the crash window's bound
    retry_initial_seconds: float = 60.0
    retry_max_seconds: float = 3600.0
    max_age: timedelta = timedelta(days=1)  # older alerts (and recoveries) are not told
    webhook_timeout_seconds: float = 10.0  # the whole attempt


def _line(text: str, limit: int = SUBJECT_CHARS) -> str:
    """One line of at most `limit` characters: messages hold crawl reasons (server text)."""
    return " ".join(strip_xml_invalid(text).split())[:limit]


def _when(value: datetime | None) -> str:
    return utc(value).strftime("%Y-%m-%d %H:%M UTC") if value else "?"


def _lasted(alert: OperatorAlert) -> str:
    if alert.resolved_at is None:
        return ""
    minutes = int((alert.resolved_at - alert.created_at).total_seconds() // 60)
    return f"{minutes // 60} h {minutes % 60} min" if minutes >= 60 else f"{minutes} min"


def notice_subject(alert: OperatorAlert, phase: str) -> str:
    """'[iomwatch] mali: failing' or '[iomwatch] recovered: mali: failing'."""
    state = "recovered: " if phase == "resolved" else ""
    return _line(f"[iomwatch] {state}{alert.subject}: {alert.kind}")


def notice_text(alert: OperatorAlert, phase: str, *, base_url: str) -> str:
    """The plain-text body: what happened, when, and where the operator feed is."""
    lines = [_line(alert.message, 2000), ""]
    lines.append(f"About: {alert.subject}   Alert: {alert.kind} (#{alert.id})")
    lines.append(f"Raised:  {_when(alert.created_at)}")
    if phase == "resolved":
        lines.append(f"Resolved: {_when(alert.resolved_at)}, after {_lasted(alert)}")
    lines += ["", f"Operator alerts: {base_url.rstrip('/')}{FEED_PATH}", ""]
    return "\n".join(lines)


def operator_mail(notice: DueNotice, *, origin: MailOrigin, to: str, now: datetime) -> EmailMessage:
    """One short plain-text mail; its Message-ID is the notice's, the same on every retry."""
    alert = notice.alert
    message = plain_message(
        notice_subject(alert, notice.phase),
        notice_text(alert, notice.phase, base_url=origin.base_url),
        origin=origin,
        to=to,
        key=notice.key,
        now=now,
    )
    message["X-Iomwatch-Operator"] = f"{notice.phase}; kind={alert.kind}; alert={alert.id}"
    return message


def operator_payload(notice: DueNotice, *, base_url: str) -> bytes:
    """The JSON body: the same bytes on every retry (timestamped by the alert, not by now)."""
    alert = notice.alert
    at = alert.resolved_at if notice.phase == "resolved" and alert.resolved_at else alert.created_at
    data = {
        "id": alert.id,
        "subject": alert.subject,
        "kind": alert.kind,
        "message": alert.message,
        "created_at": _stamp(alert.created_at),
        "resolved_at": _stamp(alert.resolved_at) if alert.resolved_at else None,
        "feed_url": f"{base_url.rstrip('/')}{FEED_PATH}",
    }
    payload = {"type": EVENT_TYPES[notice.phase], "timestamp": _stamp(at), "data": data}
    text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace").encode()


def _stamp(value: datetime) -> str:
    return utc(value).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class _Attempt:
    """One send's outcome, as the notice is marked."""

    ok: bool
    retryable: bool = True
    reason: str = ""
    retry_after: float | None = None


class _Pass:
    """One pass over the due notices: sends, marks, and keeps a failing channel quiet."""

    def __init__(
        self,
        store: Store,
        *,
        mailer: SmtpSender | None,
        http: httpx.AsyncClient,
        email: str,
        webhook: WebhookTarget | None,
        origin: MailOrigin,
        now: datetime,
        settings: OperatorSettings,
    ) -> None:
        self.store, self.mailer, self.http = store, mailer, http
        self.email, self.webhook, self.origin = email, webhook, origin
        self.now, self.settings = now, settings
        self.report = SendReport()
        self.down: set[str] = set()  # channels that failed (retryable) in this pass
        self.blocked: set[tuple[int, str]] = set()  # (alert, channel) whose raise failed

    @property
    def channels(self) -> list[str]:
        found = ["email"] if self.mailer is not None and self.email else []
        return [*found, "webhook"] if self.webhook is not None else found

    async def run(self) -> SendReport:
        channels = self.channels
        if not channels:
            return self.report
        since = self.now - self.settings.max_age
        for notice in self.store.due_operator_notices(channels, now=self.now, since=since):
            await self._one(notice)
        return self.report

    async def _one(self, notice: DueNotice) -> None:
        pair = (notice.alert.id, notice.channel)
        if notice.phase == "resolved" and pair in self.blocked:
            return  # its raise failed just now: both go, in order, on a later pass
        if notice.channel in self.down:
            self.blocked.add(pair)
            return  # failed a moment ago: left due, for the next pass to try
        lease = timedelta(seconds=self.settings.lease_seconds)
        args = (notice.alert.id, notice.phase, notice.channel)
        attempt = self.store.claim_operator_notice(*args, now=self.now, lease=lease)
        if attempt is None:
            self.blocked.add(pair)
            return  # another sender has it
        if notice.channel == "email":
            result = await self._mail(notice)
        else:
            result = await self._post(notice)
        self._mark(notice, attempt, result)

    async def _mail(self, notice: DueNotice) -> _Attempt:
        assert self.mailer is not None  # only claimed when the channel is configured
        message = operator_mail(notice, origin=self.origin, to=self.email, now=self.now)
        try:
            await self.mailer.send(message)
        except SmtpDeliveryError as exc:
            return _Attempt(False, exc.retryable, str(exc))
        return _Attempt(True)

    async def _post(self, notice: DueNotice) -> _Attempt:
        assert self.webhook is not None
        body = operator_payload(notice, base_url=self.origin.base_url)
        # signed with the real time: receivers refuse stale timestamps
        headers = self.webhook.headers(webhook_id(notice.key), body, now=datetime.now(UTC))
        deadline = self.settings.webhook_timeout_seconds
        result = await deliver(self.http, self.webhook.url, body, headers, deadline=deadline)
        if result.ok:
            return _Attempt(True)
        retryable = result.outcome is Outcome.RETRYABLE
        return _Attempt(False, retryable, f"webhook {result.reason}", result.retry_after)

    def _mark(self, notice: DueNotice, attempt: int, result: _Attempt) -> None:
        args = (notice.alert.id, notice.phase, notice.channel)
        if result.ok:
            self.store.finish_operator_notice(*args, state="sent", at=self.now)
            self.report.sent += 1
            logger.info("operator notice %s sent", notice.key)
            return
        if notice.phase == "raised":
            self.blocked.add((notice.alert.id, notice.channel))
        if not result.retryable:
            self.store.finish_operator_notice(*args, state="dead", at=self.now, error=result.reason)
            self.report.dead += 1
            logger.warning("operator notice %s: given up: %s", notice.key, result.reason)
            return
        self.down.add(notice.channel)
        delay = backoff_delay(
            attempt,
            initial=self.settings.retry_initial_seconds,
            maximum=self.settings.retry_max_seconds,
            retry_after=result.retry_after,
        )
        retry_at = self.now + timedelta(seconds=delay)
        self.store.finish_operator_notice(
            *args, state="failed", at=self.now, error=result.reason, retry_at=retry_at
        )
        self.report.retried += 1
        logger.warning(
            "operator notice %s (attempt %d): %s; retry in %.0f s",
            notice.key,
            attempt,
            result.reason,
            delay,
        )


async def deliver_operator_notices(
    store: Store,
    *,
    mailer: SmtpSender | None,
    http: httpx.AsyncClient,
    operator_email: str,
    operator_webhook: WebhookTarget | None,
    origin: MailOrigin,
    now: datetime | None = None,
    settings: OperatorSettings | None = None,
) -> SendReport:
    """Tell the operator every alert raised or resolved and not told yet, on each channel
    configured: email when both `mailer` and `operator_email`, webhook when a target."""
    return await _Pass(
        store,
        mailer=mailer,
        http=http,
        email=operator_email,
        webhook=operator_webhook,
        origin=origin,
        now=now or datetime.now(UTC),
        settings=settings or OperatorSettings(),
    ).run()
