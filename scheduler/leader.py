"""The scheduler role: one leader defers crawl and alert jobs to the task engine.

Leadership is a PostgreSQL session advisory lock held on a connection of its own: a second
scheduler started by mistake stands by (one log line) and takes over when the leader's
session ends, however it ended (stop, crash, kill -9: the server frees the lock). The leader
checks that connection every `LEADER_CHECK_SECONDS`; losing it means losing the lock, so the
process stops with exit code 1 for its supervisor to restart it rather than risk two leaders.

What it schedules, each a job of its own APScheduler:
- per site, on `[crawl]` interval (with jitter) or cron: defer a crawl, unless the site is
  backing off. Backoff is read from the store's runs (failures in a row since the last
  success, and when the last one ended), so it holds across restarts and across workers;
- every `[alerts] poll_seconds`: defer a pass of the outbox when an alert is due (retries,
  digests, a lease's end); a crawl that stored something defers one itself, at once;
- every `STALLED_CHECK_SECONDS`: put back the jobs of workers whose heartbeat stopped;
- a summary line at least every 5 minutes, and the daily retention.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import text

from crawler.store import Store
from crawler.store.migrate import migrate_in_child
from scheduler.alerting import next_due, sync_targets
from scheduler.engine import build_app, defer_alerts, defer_crawl, queue_counts, retry_stalled
from scheduler.roles import stop_event
from scheduler.service import SUMMARY_EVERY, add_retention_job, crawl_trigger

if TYPE_CHECKING:
    from procrastinate import App
    from sqlalchemy.engine import Connection

    from crawler.sites import Site
    from scheduler.config import ServiceConfig

logger = logging.getLogger(__name__)

LEADER_POLL_SECONDS = 5.0  # a standby scheduler tries the lock this often
LEADER_CHECK_SECONDS = 15.0
STALLED_CHECK_SECONDS = 10.0
BACKOFF_RUNS = 16  # runs read to count a site's failures in a row


def leader_key(schema: str) -> int:
    """The advisory lock of the schedule (per schema: two stores of one database apart)."""
    digest = hashlib.sha256(f"iomwatch scheduler leader\0{schema}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


async def acquire_leadership(conn: Connection, stop: asyncio.Event) -> bool:
    """Take the schedule's lock on `conn`, waiting while another scheduler holds it; False
    when stopped first."""
    schema = conn.execute(text("SELECT current_schema()")).scalar_one()
    key = leader_key(str(schema))
    waiting = False
    while not stop.is_set():
        held = bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar())
        conn.commit()  # a session lock outlives the transaction; none is left open
        if held:
            if waiting:
                logger.info("the other scheduler is gone: this one leads now")
            return True
        if not waiting:
            logger.info("another scheduler leads the schedule; this one stands by")
            waiting = True
        try:
            await asyncio.wait_for(stop.wait(), LEADER_POLL_SECONDS)
        except TimeoutError:
            continue
    return False


def store_backoff(
    store: Store, site_id: str, *, interval: float, cap: float, now: datetime
) -> float:
    """Seconds the site's scheduled crawls are still skipped: after n >= 2 failures in a row,
    interval x 2^(n-1) (at most `cap`) from the end of the last one; 0 otherwise."""
    if cap <= 0:
        return 0.0
    failures, last_end = 0, None
    for run in store.runs(site_id, limit=BACKOFF_RUNS):
        if run.status == "ok":
            break
        if run.status == "failed":
            failures += 1
            last_end = last_end or run.finished
    if failures < 2 or last_end is None:
        return 0.0
    delay = min(interval * 2 ** (failures - 1), cap)
    return max(0.0, (last_end + timedelta(seconds=delay) - now).total_seconds())


@dataclass
class EngineSchedule:
    """The leader's jobs: each defers to the engine and counts what it did."""

    app: App
    store: Store
    config: ServiceConfig
    counts: Counter[str] = field(default_factory=Counter)

    async def crawl_due(self, site_id: str) -> None:
        crawl = self.config.crawl
        wait = store_backoff(
            self.store,
            site_id,
            interval=crawl.interval_minutes * 60,
            cap=crawl.backoff_max_minutes * 60,
            now=datetime.now(UTC),
        )
        if wait > 0:
            logger.debug("site %s: backing off %.0f s more, run skipped", site_id, wait)
            self.counts["backing off"] += 1
        elif await defer_crawl(self.app, site_id):
            self.counts["deferred"] += 1
        else:
            self.counts["already queued"] += 1

    async def alerts_due(self) -> None:
        due = next_due(self.store)
        if due is not None and due <= datetime.now(UTC) and await defer_alerts(self.app):
            self.counts["alert passes"] += 1

    async def stalled(self) -> None:
        self.counts["retried"] += await retry_stalled(self.app)

    async def summary(self) -> None:
        state = await queue_counts(self.app)
        crawl = state["queues"].get("crawl", {})
        logger.info(
            "schedule: %s; crawl queue %d waiting, %d running; %d worker loop(s) alive",
            ", ".join(f"{n} {what}" for what, n in sorted(self.counts.items())) or "nothing yet",
            crawl.get("todo", 0),
            crawl.get("doing", 0),
            state["workers_alive"],
        )
        self.counts.clear()


def build_engine_scheduler(
    config: ServiceConfig, sites: Sequence[Site], jobs: EngineSchedule
) -> AsyncIOScheduler:
    interval = timedelta(minutes=config.crawl.interval_minutes)
    scheduler = AsyncIOScheduler(
        timezone=UTC,
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 60},
    )
    now = datetime.now(UTC)
    step = interval / max(len(sites), 1)
    for index, site in enumerate(sites):  # first runs spread (5 minutes at most), as in `all`
        scheduler.add_job(
            jobs.crawl_due,
            crawl_trigger(config),
            args=[site.id],
            id=f"crawl:{site.id}",
            next_run_time=now + min(step * index, timedelta(minutes=5)),
        )
    every = {
        "alerts": (jobs.alerts_due, config.alerts.poll_seconds),
        "stalled": (jobs.stalled, STALLED_CHECK_SECONDS),
        "summary": (jobs.summary, max(interval, SUMMARY_EVERY).total_seconds()),
    }
    for name, (func, seconds) in every.items():
        scheduler.add_job(func, IntervalTrigger(seconds=seconds, timezone=UTC), id=name)
    add_retention_job(scheduler, config)
    return scheduler


async def serve_scheduler(config: ServiceConfig, sites: Sequence[Site]) -> int:
    """Lead the schedule (or stand by) until SIGTERM/SIGINT: 0; 1 when leadership was lost."""
    stop = stop_event()
    migrate_in_child(config.database_url)  # Alembic would stay in this long-lived process
    with Store(config.database_url) as store, _own_session(store) as lock_conn:
        if not await acquire_leadership(lock_conn, stop):
            logger.info("stopped cleanly (was standing by)")
            return 0
        sync_targets(store, config)
        app = build_app(config.database_url, pool_size=2)
        async with app.open_async():
            jobs = EngineSchedule(app, store, config)
            scheduler = build_engine_scheduler(config, sites, jobs)
            scheduler.start()
            logger.info("iomwatch scheduler leads: %d site(s) scheduled", len(sites))
            lost = await lead_until_stopped(lock_conn, stop)
            scheduler.shutdown(wait=False)
    logger.info("stopped: lost the leader's connection" if lost else "stopped cleanly")
    return 1 if lost else 0


@contextlib.contextmanager
def _own_session(store: Store) -> Iterator[Connection]:
    """A connection whose session ends with the block: back in the pool it would keep the
    lock (a pool resets transactions, not session locks)."""
    conn = store.engine.connect()
    try:
        yield conn
    finally:
        conn.invalidate()
        conn.close()


async def lead_until_stopped(
    lock_conn: Connection, stop: asyncio.Event, *, check_every: float = LEADER_CHECK_SECONDS
) -> bool:
    """Wait for the stop; True when the connection holding the lock failed first."""
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), check_every)
        try:
            lock_conn.execute(text("SELECT 1"))
            lock_conn.commit()
        except Exception as exc:  # the session, and the lock with it, may be gone
            logger.error("the connection holding the schedule failed (%s); stopping", exc)
            return True
    return False
