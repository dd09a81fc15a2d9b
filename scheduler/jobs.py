"""Scheduled jobs: crawls on the long-lived crawl worker, and the daily retention.

Crawls run in a worker process (crawler/worker.py, fed by scheduler/workers.py) that imports
Scrapy once and runs many crawls: an idle check costs its requests, not an interpreter. The
worker is still a process of its own: the HTTP server never waits behind Scrapy's parsing,
and a hung or bloated worker is killed and replaced without taking the service down.

A failing site costs little and says so once: one log line per failed crawl (site, reason,
failures in a row, when it is tried again), no traceback for what a site does, and a site
that keeps failing is skipped by its scheduled runs for interval x 2^(failures-1), capped at
`[crawl].backoff_max_minutes`, until a crawl succeeds again. The backoff lives in the
service's memory: a restart tries every site once more.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from crawler.jobs import WorkerLimits
from crawler.store import Store
from scheduler.workers import WORKER_COMMAND, WorkerLost, WorkerPool

if TYPE_CHECKING:
    from collections.abc import Sequence

    from scheduler.config import ServiceConfig

logger = logging.getLogger(__name__)


@dataclass
class SiteBackoff:
    """Consecutive failures per site, and until when its scheduled runs are skipped."""

    interval: float  # seconds between scheduled runs
    cap: float  # the longest wait, seconds; 0: no backoff
    clock: Callable[[], float] = time.monotonic
    failures: dict[str, int] = field(default_factory=dict)
    until: dict[str, float] = field(default_factory=dict)

    def waiting(self, site_id: str) -> float:
        """Seconds this site's runs are still skipped for (0: it may be crawled)."""
        return max(0.0, self.until.get(site_id, 0.0) - self.clock())

    def failed(self, site_id: str) -> tuple[int, float]:
        """Count a failure; (failures in a row, seconds until the site is tried again)."""
        count = self.failures.get(site_id, 0) + 1
        self.failures[site_id] = count
        delay = min(self.interval * 2 ** (count - 1), self.cap) if count > 1 else 0.0
        self.until[site_id] = self.clock() + delay
        return count, delay

    def succeeded(self, site_id: str) -> int:
        """Reset the site; how many failures in a row it had."""
        self.until.pop(site_id, None)
        return self.failures.pop(site_id, 0)


@dataclass
class CrawlSupervisor:
    """Hands crawls to the worker pool, at most `max_parallel` at once; records what failed."""

    pool: WorkerPool
    database_url: str
    backoff: SiteBackoff
    max_parallel: int = 2
    running: set[str] = field(default_factory=set)
    last_result: dict[str, dict[str, Any]] = field(default_factory=dict)
    stopping: bool = False
    # Called with the site and its outcome after each crawl: refresh the feeds, send alerts.
    on_finished: Callable[[str, dict[str, Any]], None] | None = None
    _slots: asyncio.Semaphore | None = None

    @classmethod
    def from_config(
        cls, config: ServiceConfig, command: Sequence[str] = WORKER_COMMAND
    ) -> CrawlSupervisor:
        """The service's supervisor: the worker, its limits and the backoff from `[crawl]`."""
        from scheduler.commands import crawl_overrides

        crawl = config.crawl
        limits = WorkerLimits(
            max_crawls=crawl.worker_max_crawls,
            max_rss_mb=crawl.worker_max_memory_mb,
            # Scrapy closes a crawl at timeout_seconds itself; the worker's guard comes after.
            crawl_timeout=crawl.timeout_seconds + crawl.download_timeout,
            max_parallel=crawl.max_parallel,
        )
        pool = WorkerPool(
            crawl_overrides(config),
            config.sites_file,
            limits,
            stop_grace=crawl.stop_grace_seconds,
            command=command,
        )
        backoff = SiteBackoff(crawl.interval_minutes * 60, crawl.backoff_max_minutes * 60)
        return cls(pool, config.database_url, backoff, max_parallel=crawl.max_parallel)

    @property
    def slots(self) -> asyncio.Semaphore:
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.max_parallel)
        return self._slots

    async def crawl(self, site_id: str) -> int:
        """One crawl of one site: 0 when it succeeded (or was skipped), 1 when it failed."""
        if self.backoff.waiting(site_id) > 0:
            logger.debug("site %s: backing off, run skipped", site_id)
            return 0
        async with self.slots:
            if self.stopping:
                return 0
            started = time.monotonic()
            self.running.add(site_id)
            try:
                outcome = await self._outcome(site_id)
            finally:
                self.running.discard(site_id)
            outcome["seconds"] = round(time.monotonic() - started, 2)
            self.last_result[site_id] = outcome
        if self.on_finished is not None:
            self.on_finished(site_id, outcome)
        return self._settle(site_id, outcome)

    async def _outcome(self, site_id: str) -> dict[str, Any]:
        try:
            return await self.pool.crawl(site_id)
        except WorkerLost as exc:
            # A killed worker never records the end of its runs: say why in the store.
            reason = "stopped at service shutdown" if self.stopping else str(exc)
            self._abandon(site_id, reason)
            return {"site": site_id, "status": "failed", "reason": reason, "counters": {}}

    def _settle(self, site_id: str, outcome: dict[str, Any]) -> int:
        """Log the result once, move the backoff; the job's return code."""
        if outcome.get("status") != "failed":
            had = self.backoff.succeeded(site_id)
            if had:
                logger.info("site %s: crawled again after %d failed crawl(s)", site_id, had)
            errors = (outcome.get("counters") or {}).get("errors", 0)
            if errors:  # the crawl's own request lines are quiet in the worker: say it here
                logger.warning(
                    "crawl of site %s: ok with %d error(s): %s",
                    site_id,
                    errors,
                    outcome.get("reason") or "see /status",
                )
            return 0
        if self.stopping:
            return 1
        count, delay = self.backoff.failed(site_id)
        retry = f"; skipped for {delay / 60:.0f} min" if delay else ""
        logger.warning(
            "crawl of site %s failed (%d in a row): %s%s",
            site_id,
            count,
            outcome.get("reason") or "no reason recorded",
            retry,
        )
        return 1

    def summary(self) -> dict[str, int]:
        """Sites by state, as the periodic summary line counts them."""
        failing = {s for s, n in self.backoff.failures.items() if n}
        backing_off = {s for s in failing if self.backoff.waiting(s) > 0}
        ok = {s for s, r in self.last_result.items() if r.get("status") != "failed"}
        return {
            "ok": len(ok - failing),
            "failing": len(failing - backing_off),
            "backing_off": len(backing_off),
            "running": len(self.running),
        }

    def log_summary(self) -> None:
        counts = self.summary()
        logger.info(
            "sites: %(ok)d ok, %(failing)d failing, %(backing_off)d backing off, "
            "%(running)d crawling now",
            counts,
        )

    def _abandon(self, site_id: str, reason: str) -> None:
        with Store(self.database_url, migrate=False) as store:
            store.abandon_running(site_id, reason)

    async def stop(self) -> None:
        """Take no new crawls; running ones get the grace to finish, then the worker stops."""
        self.stopping = True
        await self.pool.stop()


async def crawl_site(supervisor: CrawlSupervisor, site_id: str) -> int:
    """The scheduled crawl job of one site.

    At shutdown the scheduler cancels its running jobs; the crawl itself is the supervisor's
    to stop (the worker gets its grace), so the job waits for it rather than leave it behind.
    """
    crawl = asyncio.ensure_future(supervisor.crawl(site_id))
    try:
        return await asyncio.shield(crawl)
    except asyncio.CancelledError:
        if not supervisor.stopping:
            raise
        return await crawl


def prune_store(database_url: str, retention_days: int) -> dict[str, int]:
    """The daily retention job: crawl runs, events, page versions, sent or dead alerts and
    webhook deliveries past retention go.

    Releases, and alerts still to send, are kept whatever their age. `retention_days` 0 keeps
    everything.
    """
    if retention_days <= 0:
        return {}
    older_than = datetime.now(UTC) - timedelta(days=retention_days)
    with Store(database_url, migrate=False) as store:
        counts = store.prune(older_than=older_than)
    logger.info(
        "retention: pruned %s older than %s (%d days)",
        ", ".join(f"{count} {table}" for table, count in sorted(counts.items())) or "nothing",
        older_than.isoformat(timespec="seconds"),
        retention_days,
    )
    return counts
