"""The outbox sender: claims due alert rows, sends them (SMTP, webhooks), marks each one.

    sender = AlertSender(store, origin=origin, mailer=SmtpSender(settings), http=client)
    await sender.send_due()            # one pass: email, digest, webhook rows that are due
    await sender.drain(deadline=10.0)  # passes while rows are due, within a time budget

What is sent (feeds/alerts/compose.py builds it): an instant row is one mail, in the
subscriber's first preferred language that exists; a subscriber's claimed digest rows are one
digest (never an empty one: rows whose releases all vanished end "dead"); a webhook row is one
signed POST whose `webhook-id` derives from the row's idempotency key, the same on every retry.
Rows of a subscriber who unsubscribed, was removed or is unconfirmed end "dead", unsent.

Failures never leave `send_due`; each is one log line (row ids, reason, no traceback, no
secret: SMTP errors name host:port, webhook URLs are shown as scheme://host/…):
- SMTP unreachable, timing out, dropping us, 4xx: the mail and every one after it in the
  batch wait (`mark_retry`, exponential backoff with jitter, `retry_*_seconds`); after
  `max_mail_attempts` claims a row is dead. A 5xx for the recipient or the message: dead.
- webhook timeout, connection error, 408, 429, 5xx: retry with backoff, Retry-After honoured
  (up to `retry_max_seconds`). Any other 4xx is counted the same way, not given up: a 401 or
  404 is most often the receiver's misconfiguration (secret, path), fixed within hours, and
  `webhook_max_failures` in a row disable the webhook anyway. 410: disabled at once. Every
  attempt is logged (`record_delivery`); a webhook disabled (410 or N failures) raises an
  operator alert "webhook:<id>" / "webhook_disabled" and one WARNING line.

THE ONE WINDOW (see crawler/store/outbox.py): between a message leaving (SMTP accepted it, the
webhook answered 2xx) and its `mark_sent` committing. Each row is marked right after its own
send, with no await in between, so the window is one local database commit; a sender killed
in it leaves the row leased, and it is sent once more after `lease_seconds`, with the same
Message-ID / webhook-id for the receiver to drop. To keep leases honest a pass starts no
send (but its first) once half of `lease_seconds` is gone, and hands the rest back (due again
at once): an attempt in flight then has the other half to finish, bounded by the SMTP and
webhook timeouts.

Clock: `now` (default: the real time) decides what is due, retry times and mail dates;
webhook signatures always carry the real time, since receivers refuse stale timestamps.
Store calls are synchronous and short; webhooks of different endpoints go out concurrently,
one endpoint's rows in order.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import aiosmtplib

from feeds.alerts.compose import Releases, digest_mail, instant_mail
from feeds.alerts.exceptions import SmtpDeliveryError
from feeds.alerts.fanout import WebhookRun
from feeds.alerts.schedule import backoff_delay

if TYPE_CHECKING:
    from email.message import EmailMessage

    import httpx

    from crawler.sites import Site
    from crawler.store import OutboxRow, Store, Subscriber
    from feeds.alerts.email import MailOrigin
    from feeds.alerts.smtp import SmtpSender, SmtpSession

logger = logging.getLogger(__name__)

# replies that leave the SMTP connection usable; anything else (timeouts, disconnects) ends it
SESSION_INTACT = (aiosmtplib.SMTPResponseException, aiosmtplib.SMTPRecipientsRefused)


@dataclass(frozen=True)
class AlertSettings:
    """How the sender retries and batches (`[alerts]` in the config)."""

    retry_initial_seconds: float = 30.0
    retry_max_seconds: float = 3600.0
    webhook_max_failures: int = 10  # consecutive failed deliveries: the webhook is disabled
    lease_seconds: float = 300.0  # a claim's lease: the crash window's bound
    batch_size: int = 100  # rows (digests: subscribers) per claim
    webhook_timeout_seconds: float = 10.0  # one whole attempt
    max_mail_attempts: int = 50  # then the row is dead (days of retries at the cap)
    webhook_concurrency: int = 20  # endpoints posted to at once

    def __post_init__(self) -> None:
        if not 0 < self.retry_initial_seconds <= self.retry_max_seconds:
            raise ValueError("alerts: need 0 < retry_initial_seconds <= retry_max_seconds")
        if min(self.webhook_max_failures, self.batch_size, self.max_mail_attempts) < 1:
            raise ValueError("alerts: webhook_max_failures, batch_size, max_mail_attempts >= 1")
        if self.lease_seconds <= 0 or self.webhook_timeout_seconds <= 0:
            raise ValueError("alerts: lease_seconds and webhook_timeout_seconds must be > 0")
        if self.webhook_concurrency < 1:
            raise ValueError("alerts: webhook_concurrency must be >= 1")


@dataclass
class SendReport:
    """Rows handled by one pass (or a drain): sent, waiting for a retry, given up."""

    sent: int = 0
    retried: int = 0
    dead: int = 0

    def __bool__(self) -> bool:
        return bool(self.sent or self.retried or self.dead)

    def __iadd__(self, other: SendReport) -> SendReport:
        self.sent += other.sent
        self.retried += other.retried
        self.dead += other.dead
        return self


@dataclass
class Lease:
    """When a pass may start another send: within the first half of the lease, so the last
    one started can finish before the lease runs out. The first send of a pass always may
    (progress, whatever the lease)."""

    seconds: float
    started: float = field(default_factory=time.monotonic)
    begun: int = 0

    def may_start(self) -> bool:
        if self.begun and time.monotonic() - self.started > self.seconds / 2:
            return False
        self.begun += 1
        return True


@dataclass(frozen=True)
class MailJob:
    """What one mail covers: an instant row, or every claimed digest row of one subscriber."""

    rows: Sequence[OutboxRow]
    subscriber: Subscriber
    digest: bool

    @property
    def ids(self) -> list[int]:
        return [r.id for r in self.rows]


class AlertSender:
    """Sends what the outbox holds; see the module docstring."""

    def __init__(
        self,
        store: Store,
        *,
        origin: MailOrigin,
        mailer: SmtpSender | None,
        http: httpx.AsyncClient,
        settings: AlertSettings = AlertSettings(),
        sites: Mapping[str, Site] | None = None,
    ) -> None:
        self.store = store
        self.origin = origin
        self.mailer = mailer
        self.http = http
        self.settings = settings
        self.sites = dict(sites or {})
        self._key: bytes | None = None

    def __repr__(self) -> str:
        return f"AlertSender({self.origin.base_url}, mailer={self.mailer!r})"

    async def send_due(self, now: datetime | None = None) -> SendReport:
        """One pass over the due rows of every channel; never raises for delivery trouble."""
        now = now or datetime.now(UTC)
        report = SendReport()
        s = self.settings
        claim = self.store.claim_due
        if self.mailer is not None:  # no SMTP configured: mail rows wait, unclaimed
            for channel in ("email", "digest"):
                rows = claim(channel, now=now, limit=s.batch_size, lease_seconds=s.lease_seconds)
                if rows:
                    await self._send_mail(self.mailer, channel, rows, now, report)
        rows = claim("webhook", now=now, limit=s.batch_size, lease_seconds=s.lease_seconds)
        if rows:
            run = WebhookRun(self.store, self.http, s, self._releases(rows, groups=False))
            await run.send(rows, now, report, Lease(s.lease_seconds))
        return report

    async def drain(self, *, until_idle: bool = True, deadline: float | None = None) -> SendReport:
        """`send_due` again while the last pass did something (a backlog of several batches).

        `deadline`: seconds from now after which no new pass starts; a pass under way ends on
        its own (each send is bounded by its timeout), so nothing is left half-marked.
        `until_idle=False`: one pass.
        """
        stop = None if deadline is None else time.monotonic() + deadline
        total = SendReport()
        while True:
            report = await self.send_due()
            total += report
            if not until_idle or not report or (stop is not None and time.monotonic() >= stop):
                return total

    # -- mail ---------------------------------------------------------------------------------

    def _releases(self, rows: Sequence[OutboxRow], *, groups: bool = True) -> Releases:
        """Every release these rows may need, read at once (mail: whole translation groups)."""
        releases = Releases(self.origin.base_url, self.sites)
        keys = [r.group_key for r in rows] if groups else []
        releases.add(self.store.releases_of_groups(keys, [r.release_id for r in rows]))
        return releases

    def _signing_key(self) -> bytes:
        if self._key is None:
            self._key = self.store.signing_key()
        return self._key

    def _jobs(self, channel: str, rows: Sequence[OutboxRow], report: SendReport) -> list[MailJob]:
        """One job per mail to send; the rows of inactive or removed subscribers end dead."""
        by_target: dict[int, list[OutboxRow]] = {}
        for row in rows:
            by_target.setdefault(row.target_id, []).append(row)
        jobs: list[MailJob] = []
        for target, mine in by_target.items():
            subscriber = self.store.get_subscriber(target)
            if subscriber is None or not subscriber.active:
                why = "subscriber removed" if subscriber is None else "subscriber not active"
                self._dead([r.id for r in mine], why, report)
            elif channel == "digest":
                jobs.append(MailJob(mine, subscriber, digest=True))
            else:
                jobs.extend(MailJob([r], subscriber, digest=False) for r in mine)
        return jobs

    async def _send_mail(
        self,
        mailer: SmtpSender,
        channel: str,
        rows: Sequence[OutboxRow],
        now: datetime,
        report: SendReport,
    ) -> None:
        lease = Lease(self.settings.lease_seconds)
        jobs = self._jobs(channel, rows, report)
        if not jobs:
            return
        releases = self._releases(rows)
        try:
            async with mailer.session() as session:
                await self._mail_jobs(session, jobs, releases, now, report, lease)
        except SmtpDeliveryError as exc:  # connecting or logging in failed: nothing was sent
            for job in jobs:
                self._retry_mail(job, exc.message, now, report)

    async def _mail_jobs(
        self,
        session: SmtpSession,
        jobs: Sequence[MailJob],
        releases: Releases,
        now: datetime,
        report: SendReport,
        lease: Lease,
    ) -> None:
        for at, job in enumerate(jobs):
            if not lease.may_start():
                self._hand_back(jobs[at:], now, report)
                return
            message = await self._compose(job, releases, now, report)
            if message is None:
                continue
            try:
                await session.send(message)
            except SmtpDeliveryError as exc:
                if not exc.retryable:
                    self._dead(job.ids, exc.message, report, subscriber=job.subscriber.id)
                    continue
                self._retry_mail(job, exc.message, now, report)
                if not isinstance(exc.__cause__, SESSION_INTACT):  # the connection is gone
                    for rest in jobs[at + 1 :]:
                        self._retry_mail(rest, f"not tried: {exc.message}", now, report)
                    return
                continue
            self.store.mark_sent(job.ids, at=now)  # at once: the one window (see above)
            report.sent += len(job.rows)

    async def _compose(
        self, job: MailJob, releases: Releases, now: datetime, report: SendReport
    ) -> EmailMessage | None:
        """The job's mail; None (rows ended or retried) when there is nothing or it failed.

        Built in a worker thread: a digest of 50 releases is some 40 ms of rendering, and a
        digest hour of thousands must not stall the event loop (the web server may share it).
        Only the pure build runs there; the store is written from the loop's thread.
        """
        key = self._signing_key()
        build = digest_mail if job.digest else instant_mail
        rows: Any = job.rows if job.digest else job.rows[0]
        try:
            message = await asyncio.to_thread(
                build, rows, job.subscriber, releases, origin=self.origin, key=key, now=now
            )
        except Exception:  # a bug on one release's content must not hold up the batch
            logger.exception("outbox %s: building the mail failed", job.ids)
            self._retry_mail(job, "building the mail failed (see the log)", now, report)
            return None
        if message is None:
            self._dead(job.ids, "release no longer stored", report, subscriber=job.subscriber.id)
        return message

    def _retry_mail(self, job: MailJob, reason: str, now: datetime, report: SendReport) -> None:
        attempts = max(r.attempts for r in job.rows)
        who = job.subscriber.id
        if attempts >= self.settings.max_mail_attempts:
            self._dead(job.ids, f"gave up after {attempts} attempts: {reason}", report, who)
            return
        s = self.settings
        delay = backoff_delay(
            attempts, initial=s.retry_initial_seconds, maximum=s.retry_max_seconds
        )
        self.store.mark_retry(job.ids, error=reason, next_attempt_at=now + timedelta(seconds=delay))
        report.retried += len(job.rows)
        logger.warning(
            "outbox %s (subscriber %s, attempt %d): %s; retry in %.0f s",
            job.ids,
            who,
            attempts,
            reason,
            delay,
        )

    def _hand_back(self, jobs: Sequence[MailJob], now: datetime, report: SendReport) -> None:
        """Rows not started before the lease ran short: due again now, for the next pass."""
        ids = [i for job in jobs for i in job.ids]
        self.store.mark_retry(ids, error="not tried: the pass ran out of time", next_attempt_at=now)
        report.retried += len(ids)
        logger.info("outbox %s: not tried in this pass (lease running short); due again", ids)

    def _dead(
        self, ids: list[int], reason: str, report: SendReport, subscriber: int | None = None
    ) -> None:
        self.store.mark_dead(ids, error=reason)
        report.dead += len(ids)
        who = f" (subscriber {subscriber})" if subscriber is not None else ""
        # a subscriber who left is no failure; everything else the operator may want to see
        level = logging.INFO if reason.startswith("subscriber") else logging.WARNING
        logger.log(level, "outbox %s%s: given up: %s", ids, who, reason)
