"""Who sends the outbox, and when: the service's sender loop and the drain after a hand crawl.

The crawl only queues alerts (in the transaction that records each release event); sending is
the job of `AlertSender` (feeds/alerts/sender.py), run from two places:

- `iomwatch run`: `AlertLoop`, an asyncio task calling `send_due` every `[alerts] poll_seconds`
  and at once when a crawl child finishes (`poke`). The poll also covers a crawl started by
  hand in another process: its rows are due at once, so the next tick sends them.
- `iomwatch crawl`: `drain_after_crawl`, one bounded `drain` after the crawl. SMTP or a
  webhook being down never fails or stalls the crawl: the rows stay queued, retried by the
  service with backoff.

Both first make the store's subscribers and webhooks those of the config file
(`sync_targets`), so that the crawl queues alerts for who the file names today.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import httpx
from sqlalchemy import func, select

from crawler.store.schema import outbox
from crawler.store.subscribers import WAITING
from feeds.alerts.email import MailOrigin
from feeds.alerts.sender import AlertSender, AlertSettings, SendReport
from feeds.alerts.smtp import SmtpSender, SmtpSettings

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Sequence

    from crawler.sites import Site
    from crawler.store import Store
    from scheduler.config import ServiceConfig

logger = logging.getLogger(__name__)

# `iomwatch crawl`: the budget of its one drain. Someone waits on it, as on the web sign-up's
# confirmation mail: each SMTP or webhook exchange is bounded by SEND_TIMEOUT there (the
# configured SMTP timeout may be longer: 30 s by default).
CRAWL_DRAIN_SECONDS = 10.0
SEND_TIMEOUT = 10.0
# A drain that overruns its budget by this much is cancelled: a claimed row then waits for
# its lease to run out and is sent by the service.
DRAIN_GRACE_SECONDS = 5.0
MIN_PAUSE_SECONDS = 0.05  # between passes of the service's loop, at the least


def sync_targets(store: Store, config: ServiceConfig) -> tuple[dict[str, int], dict[str, int]]:
    """The config file's subscribers and webhooks into the store; the counts, logged."""
    subs = store.sync_config_subscribers(config.subscribers)
    hooks = store.sync_config_webhooks(config.webhooks)
    logger.info("config subscribers: %(added)d added, %(updated)d kept, %(removed)d removed", subs)
    logger.info("config webhooks: %(added)d added, %(updated)d kept, %(removed)d removed", hooks)
    return subs, hooks


def alert_settings(config: ServiceConfig, *, send_timeout: float | None = None) -> AlertSettings:
    """`[alerts]` as the sender takes it; `send_timeout` bounds one webhook attempt."""
    alerts = config.alerts
    settings = AlertSettings(  # the cap bounds every delay, a larger first one included
        retry_initial_seconds=min(alerts.retry_initial_seconds, alerts.retry_max_seconds),
        retry_max_seconds=alerts.retry_max_seconds,
        webhook_max_failures=alerts.webhook_max_failures,
        lease_seconds=alerts.lease_seconds,
    )
    if send_timeout is None:
        return settings
    return dataclasses.replace(settings, webhook_timeout_seconds=send_timeout)


def mailer(config: ServiceConfig, *, timeout: float | None = None) -> SmtpSender:
    """The `[smtp]` server; `timeout` bounds each exchange below the configured timeout."""
    smtp = config.smtp
    seconds = float(smtp.timeout_seconds) if timeout is None else min(timeout, smtp.timeout_seconds)
    return SmtpSender(
        SmtpSettings(
            host=smtp.host,
            port=smtp.port,
            security=smtp.security,
            username=smtp.username,
            password=smtp.password,
            timeout=seconds,
        )
    )


def mail_origin(config: ServiceConfig) -> MailOrigin:
    return MailOrigin(config.smtp.from_addr, config.server.base_url)


@asynccontextmanager
async def open_sender(
    store: Store,
    config: ServiceConfig,
    sites: Sequence[Site],
    *,
    send_timeout: float | None = None,
) -> AsyncIterator[AlertSender]:
    """An AlertSender on the store, with one HTTP client for every webhook, closed after.

    `send_timeout` bounds each SMTP and webhook exchange below the configured timeouts.
    """
    settings = alert_settings(config, send_timeout=send_timeout)
    timeout = httpx.Timeout(settings.webhook_timeout_seconds)
    async with httpx.AsyncClient(timeout=timeout, follow_redirects=False) as http:
        yield AlertSender(
            store,
            origin=mail_origin(config),
            mailer=mailer(config, timeout=send_timeout),
            http=http,
            settings=settings,
            sites={site.id: site for site in sites},
        )


async def _drain(
    store: Store, config: ServiceConfig, sites: Sequence[Site], budget: float
) -> SendReport:
    async with open_sender(store, config, sites, send_timeout=SEND_TIMEOUT) as sender:
        return await asyncio.wait_for(
            sender.drain(deadline=budget), budget + SEND_TIMEOUT + DRAIN_GRACE_SECONDS
        )


def drain_after_crawl(
    store: Store,
    config: ServiceConfig,
    sites: Sequence[Site],
    *,
    budget: float = CRAWL_DRAIN_SECONDS,
) -> tuple[SendReport | None, dict[str, int]]:
    """Send what is due now, within `budget` seconds; (report, rows left waiting).

    Never raises for the sending: a failure is logged and the rows wait for the service
    (the report is None then).
    """
    started = time.monotonic()
    report: SendReport | None = None
    try:
        report = asyncio.run(_drain(store, config, sites, budget))
    except TimeoutError:
        logger.warning("alerts: sending stopped after %.0f s; the rest waits", budget)
    except Exception:  # the crawl's outcome must not depend on the alerts: log, carry on
        logger.exception("alerts: sending after the crawl failed; the alerts wait")
    logger.info("alerts: drain took %.2f s", time.monotonic() - started)
    return report, waiting(store)


def waiting(store: Store) -> dict[str, int]:
    """Alerts still to send (pending or failed): {"now": instant mail and webhooks, "digest": n}.

    Counted in SQL: a backlog of digests can be tens of thousands of rows.
    """
    is_digest = outbox.c.channel == "digest"
    stmt = select(is_digest, func.count()).where(outbox.c.state.in_(WAITING)).group_by(is_digest)
    with store.engine.connect() as conn:
        counts = {bool(digest): int(n) for digest, n in conn.execute(stmt)}
    return {"now": counts.get(False, 0), "digest": counts.get(True, 0)}


def alert_loop(sender: AlertSender, config: ServiceConfig) -> AlertLoop:
    """The service's sender loop, at `[alerts] poll_seconds`."""
    return AlertLoop(sender, config.alerts.poll_seconds)


def next_due(store: Store) -> datetime | None:
    """When the earliest alert still to send falls due (a retry, a digest, a lease's end)."""
    stmt = select(func.min(outbox.c.next_attempt_at)).where(outbox.c.state.in_(WAITING))
    with store.engine.connect() as conn:
        due: datetime | None = conn.execute(stmt).scalar()
    return due


class AlertLoop:
    """The service's sender: `send_due` every `poll_seconds`, and at once after `poke()`.

    A pass that did something is followed at once by another (a backlog larger than one
    claim). `stop()` lets the pass in flight finish, so no claimed row is left unmarked.
    """

    def __init__(self, sender: AlertSender, poll_seconds: float) -> None:
        self.sender = sender
        self.poll_seconds = poll_seconds
        self.passes = 0
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="alert-sender")

    def poke(self) -> None:
        """Look for due alerts now (a crawl just ended)."""
        self._wake.set()

    async def _run(self) -> None:
        while not self._stopping:
            busy = await self._pass()
            if busy and not self._stopping:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._pause())
            self._wake.clear()

    def _pause(self) -> float:
        """Until the next poll, or sooner when a retry falls due before it (a short backoff
        is kept, not rounded up to the poll period)."""
        try:
            due = next_due(self.sender.store)
        except Exception:  # the pass logs store trouble; here the poll period is enough
            return self.poll_seconds
        wait = (due - datetime.now(UTC)).total_seconds() if due is not None else -1.0
        if wait <= 0:  # nothing waits, or what is due the pass just left (another sender's)
            return self.poll_seconds
        return min(self.poll_seconds, max(wait, MIN_PAUSE_SECONDS))

    async def _pass(self) -> bool:
        """One send_due; whether it did anything. Never raises: the loop must keep going."""
        self.passes += 1
        try:
            report = await self.sender.send_due()
        except Exception:  # a store hiccup (locked, connection lost): the next tick retries
            logger.exception("alerts: a sending pass failed; trying again")
            return False
        if report:
            logger.info(
                "alerts: %d sent, %d to retry, %d given up",
                report.sent,
                report.retried,
                report.dead,
            )
        return bool(report)

    async def stop(self) -> None:
        """Finish the pass in flight, then stop."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            await self._task
