"""`iomwatch run --role all|web|scheduler|worker`: the processes of a deployment.

- `all` (default): the single-machine service (scheduler/service.py): schedule, crawl worker,
  alert sender and HTTP server in one process tree, on SQLite or PostgreSQL.
- `web`: the HTTP server only. Stateless: feeds, pages and ETags come from the store, so any
  number of replicas behind a load balancer answer alike.
- `scheduler`: the schedule (scheduler/leader.py); it defers crawl and alert jobs to the task
  engine (scheduler/engine.py). One leads; a second one started stands by.
- `worker` (also `iomwatch worker`): takes crawl and alert jobs from the engine and runs the
  crawls on its long-lived crawl worker (scheduler/workers.py). Start as many as needed.

Every role but `all` shares one PostgreSQL database: the store and procrastinate's jobs.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from crawler.sites import Site, load_sites
from crawler.store import Store
from crawler.store.migrate import migrate_in_child
from scheduler.alerting import SEND_TIMEOUT, mail_origin, mailer, open_sender
from scheduler.config import ROLES, ServiceConfig
from scheduler.engine import (
    ALERTS_QUEUE,
    CRAWL_QUEUE,
    HEARTBEAT_SECONDS,
    RUNTIME_KEY,
    STALLED_SECONDS,
    build_app,
    conninfo,
    defer_alerts,
    queue_counts,
)
from scheduler.jobs import CrawlSupervisor, SiteBackoff
from scheduler.service import http_server, operator_watch

if TYPE_CHECKING:
    from procrastinate import App

    from feeds.alerts.sender import AlertSender
    from scheduler.watch import OperatorWatch

logger = logging.getLogger(__name__)

ALERT_PASSES = 50  # passes of one send_alerts job at most (a backlog larger waits one job more)
CLUSTER_REFRESH_SECONDS = 5.0  # the web role's view of queues and workers, for /status


def run_role(config: ServiceConfig, role: str) -> int:
    """Run one role of a scaled-out deployment until SIGTERM/SIGINT; the exit code. (Role
    `all` is scheduler/service.py `run_service`: it does not import the task engine.)"""
    conninfo(config.database_url)  # a clear error before anything starts: these need PostgreSQL
    sites = load_sites(config.sites_file)
    if role == "web":
        asyncio.run(serve_web(config, sites))
        return 0
    if role == "scheduler":
        from scheduler.leader import serve_scheduler

        return asyncio.run(serve_scheduler(config, sites))
    if role == "worker":
        return asyncio.run(serve_worker(config, sites))
    raise ValueError(f"unknown role {role!r} (one of {', '.join(ROLES)})")


def stop_event() -> asyncio.Event:
    """Set at SIGTERM or SIGINT."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return stop


# -- web -----------------------------------------------------------------------------------


@dataclass
class ClusterView:
    """The engine's queues and live workers, refreshed in the background: /healthz and /status
    read it from memory (they must answer at once, even while the database is slow)."""

    app: App
    state: dict[str, Any] = field(default_factory=dict)

    def snapshot(self) -> dict[str, Any]:
        return {"role": "web", "cluster": dict(self.state)}

    async def refresh_forever(self) -> None:
        while True:
            try:
                # bounded: the pool waits 30 s for a connection, /healthz must know sooner
                counts = await asyncio.wait_for(queue_counts(self.app), CLUSTER_REFRESH_SECONDS)
            except Exception as exc:  # the database is away: say so (the type: public), retry
                if "error" not in self.state:
                    logger.warning("web: the engine's queues unreadable: %s", _reason(exc))
                self.state = {"error": type(exc).__name__}
            else:
                if "error" in self.state:
                    logger.info("web: the engine's queues readable again")
                self.state = counts
            await asyncio.sleep(CLUSTER_REFRESH_SECONDS)


def _reason(exc: BaseException) -> str:
    """One line: a driver's message may span several ("Is the server running...")."""
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


async def serve_web(config: ServiceConfig, sites: Sequence[Site]) -> None:
    """The HTTP server alone: feeds, pages, API, sign-up; /status shows the engine's queues."""
    from feeds.app import FeedService, create_app

    app = build_app(config.database_url, pool_size=2)
    migrate_in_child(config.database_url)  # Alembic would stay in this long-lived process
    if not logger.isEnabledFor(logging.DEBUG):
        # psycopg's pool warns at each reconnect attempt while the database is away;
        # ClusterView says it once, and once when it is back (-v shows the pool's own).
        logging.getLogger("psycopg.pool").setLevel(logging.ERROR)
    with Store(config.database_url) as store:
        async with app.open_async():
            view = ClusterView(app)
            refresher = asyncio.create_task(view.refresh_forever())
            service = FeedService(
                store,
                sites,
                base_url=config.server.base_url,
                websub_hub=config.server.websub_hub,
                status=view.snapshot,
                mailer=mailer(config, timeout=SEND_TIMEOUT),
                mail_origin=mail_origin(config),
            )
            server = http_server(create_app(service), config)
            stop = stop_event()
            serving = asyncio.create_task(server.serve())
            logger.info(
                "iomwatch web serving on http://%s:%d", config.server.host, config.server.port
            )
            await asyncio.wait(
                [asyncio.create_task(stop.wait()), serving], return_when=asyncio.FIRST_COMPLETED
            )
            server.should_exit = True
            await serving
            refresher.cancel()
    logger.info("stopped cleanly")


# -- worker --------------------------------------------------------------------------------


@dataclass
class EngineWorker:
    """The worker role's side of the tasks (scheduler/engine.py WorkerRuntime)."""

    supervisor: CrawlSupervisor
    sender: AlertSender
    watch: OperatorWatch
    app: App

    async def crawl(self, site_id: str) -> int:
        code = await self.supervisor.crawl(site_id)
        counters = self.supervisor.last_result.get(site_id, {}).get("counters") or {}
        if counters.get("new") or counters.get("updated"):
            await defer_alerts(self.app)  # its alerts go now, on whichever worker is free
        return code

    async def send_alerts(self) -> int:
        handled = 0
        for _ in range(ALERT_PASSES):
            report = await self.sender.send_due()
            if not report:
                break
            logger.info(
                "alerts: %d sent, %d to retry, %d given up",
                report.sent,
                report.retried,
                report.dead,
            )
            handled += report.sent + report.retried + report.dead
        return handled


def worker_name(kind: str) -> str:
    return f"{kind}@{socket.gethostname()}:{os.getpid()}"


async def serve_worker(config: ServiceConfig, sites: Sequence[Site]) -> int:
    """Take jobs from the engine until SIGTERM/SIGINT; 0 after a clean stop, 1 when the
    engine's loop ended by itself (the database went away)."""
    supervisor = CrawlSupervisor.from_config(config)
    # A worker sees a share of a site's crawls: the scheduler backs off, from the store.
    supervisor.backoff = SiteBackoff(config.crawl.interval_minutes * 60, 0)
    app = build_app(config.database_url, pool_size=config.crawl.max_parallel + 3)
    migrate_in_child(config.database_url)  # Alembic would stay in this long-lived process
    with Store(config.database_url) as store:
        async with (
            open_sender(store, config, sites) as sender,
            operator_watch(store, config) as watch,
            app.open_async(),
        ):
            runtime = EngineWorker(supervisor, sender, watch, app)
            supervisor.on_finished = lambda site_id, _outcome: watch.crawled(site_id)
            code = await _work_until_stopped(app, runtime, config)
            await watch.stop()
    logger.info("stopped cleanly" if code == 0 else "stopped: the task engine's loop ended")
    return code


async def _work_until_stopped(app: App, runtime: EngineWorker, config: ServiceConfig) -> int:
    """Two engine workers in this process, crawls and alerts, so a backfill never holds up
    a mail; at a stop the crawls get the grace, then the crawl worker is stopped."""
    grace = config.crawl.stop_grace_seconds
    common: dict[str, Any] = {
        "additional_context": {RUNTIME_KEY: runtime},
        "install_signal_handlers": False,
        "update_heartbeat_interval": HEARTBEAT_SECONDS,
        "stalled_worker_timeout": STALLED_SECONDS,
        "shutdown_graceful_timeout": grace,
        "delete_jobs": "successful",
    }
    loops = [
        asyncio.create_task(
            app.run_worker_async(
                queues=[CRAWL_QUEUE],
                concurrency=config.crawl.max_parallel,
                name=worker_name("crawl"),
                **common,
            )
        ),
        asyncio.create_task(
            app.run_worker_async(
                queues=[ALERTS_QUEUE], concurrency=1, name=worker_name("alerts"), **common
            )
        ),
    ]
    stop = stop_event()
    logger.info("iomwatch worker %s taking crawl and alert jobs", worker_name("worker"))
    done, _ = await asyncio.wait(
        [asyncio.create_task(stop.wait()), *loops], return_when=asyncio.FIRST_COMPLETED
    )
    ended = any(task in done for task in loops)
    runtime.supervisor.stopping = True
    for task in loops:
        task.cancel()
    await runtime.supervisor.pool.stop()  # running crawls end within the grace, or are killed
    for result in await asyncio.gather(*loops, return_exceptions=True):
        if isinstance(result, Exception) and not isinstance(result, asyncio.CancelledError):
            logger.error("the task engine's loop failed: %s", result)
    return 1 if ended else 0
