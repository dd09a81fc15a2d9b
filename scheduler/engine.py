"""The task engine of a scaled-out deployment: procrastinate, on the store's PostgreSQL.

Why procrastinate rather than Celery or arq (README "Scale out"): its jobs are rows in the
database the store already uses, so a deployment adds no broker; it has per-job locks (one
crawl of a site at a time across every worker), queueing locks (a site waits in the queue at
most once), LISTEN/NOTIFY (a worker wakes when a job is deferred, no polling delay), worker
heartbeats (a killed worker's jobs are found and retried) and retries.

Two tasks, each on its own queue so a long backfill never holds up the alerts:
- `iomwatch.crawl_site(site=...)`: queue "crawl", lock "site:<id>", queueing lock "crawl:<id>";
  run by the worker role on its long-lived crawl worker (scheduler/workers.py).
- `iomwatch.send_alerts()`: queue "alerts", queueing lock "alerts"; one pass of the outbox
  (claims are SKIP LOCKED with a lease, so any number of workers may send at once).

The scheduler role defers; the worker role runs. What a task needs (the crawl supervisor, the
alert sender) is the worker's, passed to procrastinate as `additional_context`.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol, cast

from procrastinate import App, JobContext, PsycopgConnector
from procrastinate.exceptions import AlreadyEnqueued, UniqueViolation
from procrastinate.jobs import Status
from sqlalchemy.engine import make_url

from scheduler.exceptions import RoleError

logger = logging.getLogger(__name__)

CRAWL_QUEUE = "crawl"
ALERTS_QUEUE = "alerts"
CRAWL_TASK = "iomwatch.crawl_site"
ALERTS_TASK = "iomwatch.send_alerts"
RUNTIME_KEY = "iomwatch"  # where the worker's runtime sits in procrastinate's additional_context
STALLED_SECONDS = 30.0  # a worker whose heartbeat is this old is dead: its jobs are retried
HEARTBEAT_SECONDS = 5.0  # how often a worker says it is alive (well inside STALLED_SECONDS)


class WorkerRuntime(Protocol):
    """What the worker role gives the tasks: a crawl and a pass of the outbox."""

    async def crawl(self, site_id: str) -> int:
        """Crawl one site; 0 ok (or skipped), 1 failed (the run in the store says why)."""

    async def send_alerts(self) -> int:
        """Send what is due; how many deliveries were made or given up."""


def conninfo(database_url: str) -> str:
    """The libpq address of the store's database (options such as search_path kept)."""
    url = make_url(database_url)
    if url.get_backend_name() != "postgresql":
        raise RoleError(
            f"database {url.render_as_string(hide_password=True)!r}: the web, scheduler and "
            "worker roles share one PostgreSQL database (set [database] url to "
            "postgresql+psycopg://...); SQLite serves the single-process role 'all' only"
        )
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def build_app(database_url: str, *, pool_size: int = 4) -> App:
    """A procrastinate app on the store's database, with iomwatch's two tasks."""
    connector = PsycopgConnector(conninfo=conninfo(database_url), min_size=1, max_size=pool_size)
    app = App(connector=connector)
    app.task(name=CRAWL_TASK, queue=CRAWL_QUEUE, pass_context=True)(_crawl_site)
    app.task(name=ALERTS_TASK, queue=ALERTS_QUEUE, pass_context=True)(_send_alerts)
    return app


def _runtime(context: JobContext) -> WorkerRuntime:
    return cast(WorkerRuntime, context.additional_context[RUNTIME_KEY])


async def _crawl_site(context: JobContext, site: str) -> int:
    return await _runtime(context).crawl(site)


async def _send_alerts(context: JobContext) -> int:
    return await _runtime(context).send_alerts()


async def defer_crawl(app: App, site_id: str) -> bool:
    """Queue a crawl of the site; False when one already waits (the queueing lock)."""
    task = app.configure_task(
        CRAWL_TASK, lock=f"site:{site_id}", queueing_lock=f"crawl:{site_id}", queue=CRAWL_QUEUE
    )
    try:
        await task.defer_async(site=site_id)
    except AlreadyEnqueued:
        logger.debug("site %s: a crawl already waits in the queue", site_id)
        return False
    return True


async def defer_alerts(app: App) -> bool:
    """Queue a pass of the outbox; False when one already waits."""
    task = app.configure_task(ALERTS_TASK, queueing_lock="alerts", queue=ALERTS_QUEUE)
    try:
        await task.defer_async()
    except AlreadyEnqueued:
        return False
    return True


async def retry_stalled(app: App, seconds_since_heartbeat: float = STALLED_SECONDS) -> int:
    """Put back in the queue the jobs of workers that stopped beating (killed, cut off)."""
    stalled = list(
        await app.job_manager.get_stalled_jobs(seconds_since_heartbeat=seconds_since_heartbeat)
    )
    for job in stalled:
        try:
            await app.job_manager.retry_job(job)
        except UniqueViolation:  # the same crawl waits in the queue already: that one does it
            await app.job_manager.finish_job(job, status=Status.FAILED, delete_job=False)
            logger.warning(
                "job %s (%s) was left by a worker that died; the same job waits already",
                job.id,
                job.call_string,
            )
            continue
        logger.warning(
            "job %s (%s) was left by a worker that died; retrying it", job.id, job.call_string
        )
    return len(stalled)


async def queue_counts(app: App) -> dict[str, Any]:
    """Jobs per queue and status, and the workers alive (for /status of the web role)."""
    rows = await app.connector.execute_query_all_async(
        "SELECT queue_name, status::text AS status, count(*) AS n FROM procrastinate_jobs"
        " WHERE status IN ('todo', 'doing') GROUP BY queue_name, status"
    )
    workers = await app.connector.execute_query_one_async(
        "SELECT count(*) AS n FROM procrastinate_workers"
        " WHERE last_heartbeat > now() - make_interval(secs => %(stalled)s)",
        stalled=STALLED_SECONDS,
    )
    queues: dict[str, dict[str, int]] = {}
    for row in rows:
        queues.setdefault(str(row["queue_name"]), {})[str(row["status"])] = int(row["n"])
    return {"queues": queues, "workers_alive": int(workers["n"])}
