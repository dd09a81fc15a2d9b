"""`iomwatch run`: the schedule and the HTTP server in one long-running process."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import httpx
import uvicorn
from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_MISSED, JobExecutionEvent
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from crawler.sites import Site, load_sites
from crawler.store import Store
from crawler.store.migrate import migrate_in_child
from scheduler.alerting import (
    SEND_TIMEOUT,
    AlertLoop,
    alert_loop,
    mail_origin,
    mailer,
    open_sender,
    sync_targets,
)
from scheduler.config import ServiceConfig
from scheduler.jobs import CrawlSupervisor
from scheduler.watch import OperatorWatch

if TYPE_CHECKING:
    from feeds.app import FeedService

logger = logging.getLogger(__name__)


class ServiceServer(uvicorn.Server):
    """uvicorn without its own signal handling: the service owns SIGTERM/SIGINT."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def http_server(app: Any, config: ServiceConfig) -> ServiceServer:
    """uvicorn on `[server]` host and port, quiet, the service owning the signals."""
    return ServiceServer(
        uvicorn.Config(
            app,
            host=config.server.host,
            port=config.server.port,
            log_level="warning",
            lifespan="off",
        )
    )


def crawl_trigger(config: ServiceConfig) -> Any:
    crawl = config.crawl
    if crawl.cron:
        return CronTrigger.from_crontab(crawl.cron, timezone=UTC)
    return IntervalTrigger(
        minutes=crawl.interval_minutes, jitter=crawl.jitter_seconds or None, timezone=UTC
    )


RETENTION_EVERY = timedelta(days=1)
SUMMARY_EVERY = timedelta(minutes=5)  # the "sites ok / failing / backing off" line, at least
RETENTION_FIRST = timedelta(minutes=10)  # after the first crawls (spread over 5 minutes at most)


def build_scheduler(
    config: ServiceConfig, sites: Sequence[Site], supervisor: CrawlSupervisor
) -> AsyncIOScheduler:
    """One crawl job per site, the periodic summary line, and the daily retention job (unless
    retention_days is 0)."""
    interval = timedelta(minutes=config.crawl.interval_minutes)
    scheduler = AsyncIOScheduler(
        timezone=UTC,
        job_defaults={
            "coalesce": True,
            "max_instances": 1,
            "misfire_grace_time": max(1, int(interval.total_seconds())),
        },
    )
    _add_crawl_jobs(scheduler, config, sites, supervisor)
    scheduler.add_job(
        supervisor.log_summary,
        IntervalTrigger(seconds=max(interval, SUMMARY_EVERY).total_seconds(), timezone=UTC),
        id="summary",
        name="summary",
        replace_existing=True,
    )
    add_retention_job(scheduler, config)
    scheduler.add_listener(_report, EVENT_JOB_ERROR | EVENT_JOB_MISSED)
    return scheduler


def add_retention_job(scheduler: AsyncIOScheduler, config: ServiceConfig) -> None:
    """The daily retention (none when retention_days is 0), first after the first crawls."""
    if config.crawl.retention_days > 0:
        scheduler.add_job(
            "scheduler.jobs:prune_store",
            IntervalTrigger(seconds=RETENTION_EVERY.total_seconds(), timezone=UTC),
            args=[config.database_url, config.crawl.retention_days],
            id="retention",
            name="retention",
            replace_existing=True,
            next_run_time=datetime.now(UTC) + RETENTION_FIRST,
        )


def _add_crawl_jobs(
    scheduler: AsyncIOScheduler,
    config: ServiceConfig,
    sites: Sequence[Site],
    supervisor: CrawlSupervisor,
) -> None:
    """First runs spread over the interval (5 minutes at most) so sites don't all start at once."""
    now = datetime.now(UTC)
    step = timedelta(minutes=config.crawl.interval_minutes) / max(len(sites), 1)
    for index, site in enumerate(sites):
        scheduler.add_job(
            "scheduler.jobs:crawl_site",
            crawl_trigger(config),
            args=[supervisor, site.id],
            id=f"crawl:{site.id}",
            name=f"crawl {site.id}",
            replace_existing=True,
            next_run_time=now + min(step * index, timedelta(minutes=5)),
        )


def _report(event: JobExecutionEvent) -> None:
    if event.code == EVENT_JOB_MISSED:
        logger.warning("job %s missed its run at %s", event.job_id, event.scheduled_run_time)
    else:
        logger.error("job %s failed: %s", event.job_id, event.exception)


def scheduler_status(scheduler: AsyncIOScheduler, supervisor: CrawlSupervisor) -> dict[str, Any]:
    """What only the running service knows, for /status: per site its next run, whether it is
    crawling and its backoff; the last crawl's outcome; sites ok / failing / backing off."""
    jobs = {
        job.id.removeprefix("crawl:"): job.next_run_time.isoformat() if job.next_run_time else None
        for job in scheduler.get_jobs()
        if job.id.startswith("crawl:")
    }
    sites: dict[str, dict[str, Any]] = {}
    for site, next_run in jobs.items():
        waiting = supervisor.backoff.waiting(site)
        sites[site] = {
            "next_run": next_run,
            "crawling": site in supervisor.running,
            "backoff": f"{waiting / 60:.0f} min" if waiting > 0 else "",
        }
    return {
        "next_run": jobs,
        "running": sorted(supervisor.running),
        "last_crawl": supervisor.last_result,  # per site: status, reason, counters, seconds
        "site_counts": supervisor.summary(),
        "sites": sites,
        # /healthz: the container is healthy only while both are alive
        "scheduler_running": bool(scheduler.running),
        "worker_pid": supervisor.pool.pid,
    }


def abandon_stale(store: Store) -> int:
    """Runs a killed service left "running" are failed runs; say so in the store and the log.

    A run of a site whose lock another live process holds (`iomwatch crawl` by hand) is a
    live crawl, not a stale one: abandon_running leaves it alone, and the log says so.
    """
    held = store.locked_sites()
    stale = store.abandon_running(reason="interrupted: the service stopped during this crawl")
    if stale:
        logger.warning("marked %d crawl run(s) left running by a previous process as failed", stale)
    if held:
        logger.info("left alone the runs of site(s) crawled by another process: %s", sorted(held))
    return stale


async def _run_until_stopped(
    server: uvicorn.Server,
    scheduler: AsyncIOScheduler,
    supervisor: CrawlSupervisor,
    alerts: AlertLoop,
) -> None:
    """Serve, schedule and send until SIGTERM/SIGINT (or the server ends), then stop in order.

    The sender stops after the crawls: alerts of a crawl ending within the grace still go;
    a send in flight then completes and is marked before the process exits.
    """
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    server_task = asyncio.create_task(server.serve())
    scheduler.start()
    alerts.start()
    logger.info(
        "iomwatch serving on http://%s:%d, %d site(s) scheduled",
        server.config.host,
        server.config.port,
        sum(job.id.startswith("crawl:") for job in scheduler.get_jobs()),
    )
    await asyncio.wait(
        [asyncio.create_task(stop.wait()), server_task], return_when=asyncio.FIRST_COMPLETED
    )
    logger.info("stopping: no new crawls; finishing running ones")
    supervisor.stopping = True  # before the scheduler cancels its running crawl jobs
    scheduler.shutdown(wait=False)
    await supervisor.stop()
    await alerts.stop()
    server.should_exit = True
    await server_task


async def serve(config: ServiceConfig, sites: Sequence[Site]) -> None:
    from feeds.app import create_app

    supervisor = CrawlSupervisor.from_config(config)
    scheduler = build_scheduler(config, sites, supervisor)
    migrate_in_child(config.database_url)  # Alembic (~9 MB) would stay in this long-lived process
    with Store(config.database_url) as store:
        abandon_stale(store)
        sync_targets(store, config)
        async with (
            open_sender(store, config, sites) as sender,
            operator_watch(store, config) as watch,
        ):
            alerts = alert_loop(sender, config)
            service = _feed_service(store, sites, config, supervisor, scheduler)
            supervisor.on_finished = _after_crawl(config, service, alerts, watch)
            server = http_server(create_app(service), config)
            await _run_until_stopped(server, scheduler, supervisor, alerts)
            await watch.stop()
    logger.info("stopped cleanly")


def _feed_service(
    store: Store,
    sites: Sequence[Site],
    config: ServiceConfig,
    supervisor: CrawlSupervisor,
    scheduler: AsyncIOScheduler,
) -> FeedService:
    from feeds.app import FeedService

    return FeedService(
        store,
        sites,
        base_url=config.server.base_url,
        websub_hub=config.server.websub_hub,
        status=lambda: scheduler_status(scheduler, supervisor),
        # the web sign-up's confirmation mail: someone waits for the page
        mailer=mailer(config, timeout=SEND_TIMEOUT),
        mail_origin=mail_origin(config),
    )


@contextlib.asynccontextmanager
async def operator_watch(store: Store, config: ServiceConfig) -> AsyncIterator[OperatorWatch]:
    """The operator watch, with its own HTTP client (closed after)."""
    async with httpx.AsyncClient(timeout=httpx.Timeout(10.0), follow_redirects=False) as http:
        yield OperatorWatch(
            store,
            config,
            http=http,
            mailer=mailer(config, timeout=SEND_TIMEOUT),
            origin=mail_origin(config),
        )


def _after_crawl(
    config: ServiceConfig, service: FeedService, alerts: AlertLoop, watch: OperatorWatch
) -> Callable[[str, Mapping[str, Any]], None]:
    """What follows each crawl: fresh feeds, its alerts sent now, the site judged, the hub told."""

    def finished(site_id: str, outcome: Mapping[str, Any]) -> None:
        service.invalidate()
        service.crawl_metrics.observe(outcome)
        alerts.poke()  # the crawl's alerts go now, not at the next poll
        watch.crawled(site_id)
        counters = outcome.get("counters") or {}
        if counters.get("new") or counters.get("updated"):
            _ping_hub_soon(config)

    return finished


_BACKGROUND: set[asyncio.Future[None]] = set()  # pings in flight (a bare task may be collected)


def _ping_hub_soon(config: ServiceConfig) -> None:
    """Tell the WebSub hub the feed changed, off the loop (the hub may be slow)."""
    if not config.server.websub_hub:
        return
    from feeds.catalog import feed_url
    from feeds.websub import ping_hub

    def ping() -> None:
        with httpx.Client(timeout=httpx.Timeout(10.0)) as client:
            topics = [feed_url(config.server.base_url, "atom")]
            ping_hub(client, config.server.websub_hub, topics)

    future = asyncio.ensure_future(asyncio.to_thread(ping))
    _BACKGROUND.add(future)
    future.add_done_callback(_BACKGROUND.discard)


def run_service(config: ServiceConfig) -> int:
    sites = load_sites(config.sites_file)
    asyncio.run(serve(config, sites))
    return 0
