"""Watching the watcher, in the service: after each crawl, judge the site and tell the operator.

`check_site` (crawler/store/site_health.py) raises or resolves the site's operator alerts from
its newest runs; `deliver_operator_notices` (feeds/alerts/operator.py) then sends what is new
to `[operator]` email and webhook, each alert and each recovery once. A check never fails a
crawl: what goes wrong here is logged once and the next crawl checks again.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import httpx

from crawler.store.site_health import check_site
from feeds.alerts.operator import OperatorSettings, deliver_operator_notices
from feeds.alerts.webhooks import WebhookTarget

if TYPE_CHECKING:
    from crawler.store import Store
    from feeds.alerts.email import MailOrigin
    from feeds.alerts.smtp import SmtpSender
    from scheduler.config import ServiceConfig

logger = logging.getLogger(__name__)


class OperatorWatch:
    """Checks each crawled site, then delivers new operator notices (one pass at a time)."""

    def __init__(
        self,
        store: Store,
        config: ServiceConfig,
        *,
        http: httpx.AsyncClient,
        mailer: SmtpSender | None,
        origin: MailOrigin,
    ) -> None:
        operator = config.operator
        self.store = store
        self.http = http
        self.mailer = mailer if operator.email else None
        self.origin = origin
        self.email = operator.email
        self.webhook = (
            WebhookTarget(operator.webhook, operator.webhook_secret) if operator.webhook else None
        )
        self.settings = OperatorSettings(
            lease_seconds=config.alerts.lease_seconds,
            retry_initial_seconds=config.alerts.retry_initial_seconds,
            retry_max_seconds=config.alerts.retry_max_seconds,
        )
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()

    def crawled(self, site_id: str) -> None:
        """Check the site and deliver, soon, off the caller's path."""
        task = asyncio.create_task(self.check(site_id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def check(self, site_id: str) -> None:
        async with self._lock:  # one pass at a time: notices are claimed, never sent twice
            now = datetime.now(UTC)
            try:
                for notice in check_site(self.store, site_id, now=now):
                    logger.warning("operator: %s %s: %s", notice.phase, notice.kind, notice.message)
                await deliver_operator_notices(
                    self.store,
                    mailer=self.mailer,
                    http=self.http,
                    operator_email=self.email,
                    operator_webhook=self.webhook,
                    origin=self.origin,
                    now=now,
                    settings=self.settings,
                )
            except Exception as exc:  # never the crawl's problem; the next crawl checks again
                logger.error("operator check of site %s failed: %s", site_id, exc)

    async def stop(self) -> None:
        """Let the passes in flight finish."""
        if self._tasks:
            await asyncio.wait(self._tasks)
