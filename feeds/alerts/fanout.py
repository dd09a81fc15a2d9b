"""One pass of webhook deliveries for the sender (feeds/alerts/sender.py explains the policy).

Endpoints are posted to concurrently (`webhook_concurrency` at once), the rows of one endpoint
in order. After a failed attempt the endpoint's other rows in the batch are not tried in this
pass (they wait as long as the failed one): a receiver that is down would otherwise cost a
timeout per row, and `webhook_max_failures` would count the same outage many times over.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import TYPE_CHECKING

from feeds.alerts.compose import webhook_request
from feeds.alerts.schedule import backoff_delay
from feeds.alerts.webhooks import DeliveryResult, Outcome, deliver, safe_url

if TYPE_CHECKING:
    from collections.abc import Sequence

    import httpx

    from crawler.store import OutboxRow, Store, Webhook
    from feeds.alerts.compose import Releases
    from feeds.alerts.sender import AlertSettings, Lease, SendReport

logger = logging.getLogger(__name__)

# how a DeliveryResult is written to the delivery log
LOGGED = {Outcome.OK: "ok", Outcome.RETRYABLE: "retry", Outcome.GONE: "gone"}
OPERATOR_KIND = "webhook_disabled"


class Next(Enum):
    """What the endpoint's remaining rows in this pass do after one attempt."""

    GO_ON = "go on"  # delivered, or the row ended alone (its release is gone)
    WAIT = "wait"  # the endpoint failed: the rest wait with the failed row
    STOP = "stop"  # the webhook was disabled: the rest ended with it


@dataclass
class WebhookRun:
    """Delivers one claimed batch of webhook rows and marks each."""

    store: Store
    http: httpx.AsyncClient
    settings: AlertSettings
    releases: Releases

    async def send(
        self, rows: Sequence[OutboxRow], now: datetime, report: SendReport, lease: Lease
    ) -> None:
        by_hook: dict[int, list[OutboxRow]] = {}
        for row in rows:
            by_hook.setdefault(row.target_id, []).append(row)
        gate = asyncio.Semaphore(self.settings.webhook_concurrency)
        hooks = {h.id: h for h in self.store.webhooks()}  # one read, not one per endpoint

        async def endpoint(hook_id: int, mine: list[OutboxRow]) -> None:
            async with gate:
                await self._endpoint(hooks.get(hook_id), mine, now, report, lease)

        await asyncio.gather(*(endpoint(h, mine) for h, mine in by_hook.items()))

    async def _endpoint(
        self,
        hook: Webhook | None,
        rows: Sequence[OutboxRow],
        now: datetime,
        report: SendReport,
        lease: Lease,
    ) -> None:
        if hook is None or not hook.enabled:
            why = "webhook removed" if hook is None else "webhook disabled"
            self._dead([r.id for r in rows], why, report)
            return
        for at, row in enumerate(rows):
            if not lease.may_start():  # the next attempt might outlive the lease
                self._wait(rows[at:], "not tried: the pass ran out of time", now, report)
                return
            after, retry_at = await self._attempt(hook, row, now, report)
            rest = rows[at + 1 :]
            if after is Next.STOP:
                report.dead += len(rest)  # disable_webhook ended them
                return
            if after is Next.WAIT:
                self._wait(rest, f"not tried: webhook {hook.id} failing", retry_at, report)
                return

    async def _attempt(
        self, hook: Webhook, row: OutboxRow, now: datetime, report: SendReport
    ) -> tuple[Next, datetime]:
        release = self.releases.release(row.release_id)
        if release is None:
            self._dead([row.id], "release no longer stored", report)
            return Next.GO_ON, now
        try:  # signed with the real time: receivers refuse timestamps 5 minutes off
            body, headers = webhook_request(
                row, hook, release, self.releases, now=datetime.now(UTC)
            )
        except ValueError as exc:  # an unusable secret: a failure like a 401, counted
            result = DeliveryResult(Outcome.PERMANENT, str(exc))
        else:
            timeout = self.settings.webhook_timeout_seconds
            result = await deliver(self.http, hook.url, body, headers, deadline=timeout)
        if result.ok:
            self.store.mark_sent(row.id, at=now)  # at once: the one window (sender.py)
            report.sent += 1
        failures = self.store.record_delivery(
            row.id,
            attempt=row.attempts,
            status=result.status,
            outcome=LOGGED.get(result.outcome, "failed"),
            reason=result.reason,
            at=now,
        )
        if result.ok:
            return Next.GO_ON, now
        return self._failed(hook, row, result, failures, now, report)

    def _failed(
        self,
        hook: Webhook,
        row: OutboxRow,
        result: DeliveryResult,
        failures: int,
        now: datetime,
        report: SendReport,
    ) -> tuple[Next, datetime]:
        if result.gone or failures >= self.settings.webhook_max_failures:
            why = (
                "the receiver answered 410 Gone"
                if result.gone
                else f"{failures} failed deliveries in a row (last: {result.reason})"
            )
            self._disable(hook, why, now)
            report.dead += 1
            return Next.STOP, now
        # other 4xx too (see sender.py): retried, counted, disabled at webhook_max_failures
        s = self.settings
        delay = backoff_delay(
            row.attempts,
            initial=s.retry_initial_seconds,
            maximum=s.retry_max_seconds,
            retry_after=result.retry_after,
        )
        retry_at = now + timedelta(seconds=delay)
        self.store.mark_retry(row.id, error=result.reason, next_attempt_at=retry_at)
        report.retried += 1
        logger.warning(
            "outbox %d (webhook %d, attempt %d): %s; retry in %.0f s",
            row.id,
            hook.id,
            row.attempts,
            result.reason,
            delay,
        )
        return Next.WAIT, retry_at

    def _disable(self, hook: Webhook, why: str, now: datetime) -> None:
        """Disable the webhook (its waiting rows end) and tell the operator, once."""
        if not self.store.disable_webhook(hook.id, reason=why, at=now):
            return  # another sender disabled it first and reported it
        message = (
            f"webhook {hook.id} ({safe_url(hook.url)}) disabled: {why}; its waiting alerts "
            f"were dropped. Fix the receiver, then `iomwatch webhooks enable {hook.id}`."
        )
        self.store.raise_operator_alert(f"webhook:{hook.id}", OPERATOR_KIND, message, at=now)
        logger.warning("%s", message)

    def _wait(
        self, rows: Sequence[OutboxRow], why: str, retry_at: datetime, report: SendReport
    ) -> None:
        if rows:
            ids = [r.id for r in rows]
            self.store.mark_retry(ids, error=why, next_attempt_at=retry_at)
            report.retried += len(ids)
            logger.info("outbox %s: %s; due again at %s", ids, why, retry_at.isoformat())

    def _dead(self, ids: list[int], why: str, report: SendReport) -> None:
        self.store.mark_dead(ids, error=why)
        report.dead += len(ids)
        logger.warning("outbox %s: given up: %s", ids, why)
