"""Scale-out end to end on the real PostgreSQL server: two schedulers (one leads), three
workers, two web replicas, against three replica sites, a real SMTP server and a subscriber.

Must show (issue 12): every release stored once, no duplicate event or alert; kill -9 of a
worker (and its crawl process) mid-crawl: the job is retried by another within the job
timeout, the interrupted run is recorded as such, nothing lost or doubled; a worker started
later picks up work; web replicas serve the same feeds and ETags; the standby scheduler takes
over when the leader stops, and the schedule goes on.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from crawler.extensions import INTERRUPTED_REASON
from crawler.store import Store
from replica import ReplicaServer
from scheduler.engine import build_app, defer_crawl
from tests.conftest import pg_schema_url
from tests.helpers import ROOT, free_port, write_config
from tests.scheduler.test_alerts_service import Smtp
from tests.scheduler.test_service import wait_for

pytestmark = pytest.mark.postgres

SITES = ["mali", "brazil", "southsudan"]
JOB_TIMEOUT = 120.0  # the test config's timeout_seconds


@dataclass
class Cluster:
    """The processes of a deployment, each with its log file."""

    config: Path
    url: str
    logs: Path
    procs: dict[str, subprocess.Popen[str]] = field(default_factory=dict)

    def start(self, name: str, *args: str, **env_extra: str) -> subprocess.Popen[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("IOMWATCH_")}
        env.update(env_extra)
        log = (self.logs / f"{name}.log").open("w")
        proc = subprocess.Popen(
            [sys.executable, "-m", "scheduler", *args, "--config", str(self.config)],
            cwd=ROOT,
            env=env,
            text=True,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.procs[name] = proc
        return proc

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text()

    def stop(self, name: str, bound: float = 40.0) -> int:
        proc = self.procs[name]
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        return proc.wait(timeout=bound)

    def scalar(self, sql: str, **params: object) -> int:
        with Store(self.url, migrate=False) as store, store.engine.connect() as conn:
            return int(conn.execute(text(sql), params).scalar() or 0)


@dataclass
class World:
    cluster: Cluster
    replica: ReplicaServer
    smtp: Smtp
    web_ports: tuple[int, int]


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    smtp = Smtp()
    smtp.up()
    web_ports = (free_port(), free_port())
    with ReplicaServer(SITES) as replica:
        for url in pg_schema_url():
            sites = replica.write_sites_file(tmp_path / "sites.toml")
            config = write_config(
                tmp_path / "config.toml",
                sites_file=sites,
                database_url=url,
                data_dir=tmp_path,
                extra="interval_minutes = 0.25\njitter_seconds = 0\nstop_grace_seconds = 3\n"
                f'[server]\nport = {web_ports[0]}\nbase_url = "http://127.0.0.1:{web_ports[0]}"\n'
                f'[smtp]\nhost = "127.0.0.1"\nport = {smtp.port}\ntimeout_seconds = 3\n'
                "[alerts]\nbackfill_window_hours = 1\npoll_seconds = 2\n"
                '[[subscriber]]\nemail = "analyst@example.org"\n',
            )
            with Store(url):  # migrated before the cluster starts: the test reads it at once
                pass
            cluster = Cluster(config, url, tmp_path)
            try:
                yield World(cluster, replica, smtp, web_ports)
            finally:
                for proc in cluster.procs.values():
                    if proc.poll() is None:
                        proc.kill()
                        proc.wait()
    smtp.down()


def start_cluster(world: World) -> None:
    cluster = world.cluster
    cluster.start("scheduler-a", "run", "--role", "scheduler")
    wait_for(lambda: "scheduler leads" in cluster.log("scheduler-a"), 60, "scheduler a to lead")
    cluster.start("scheduler-b", "run", "--role", "scheduler")
    for n in (1, 2, 3):
        cluster.start(f"worker-{n}", "worker")
    cluster.start("web-1", "run", "--role", "web")
    # the second replica: the same config, its own port (a second machine would keep 8080)
    cluster.start("web-2", "run", "--role", "web", IOMWATCH_SERVER_PORT=str(world.web_ports[1]))


def releases_stored(cluster: Cluster) -> int:
    return cluster.scalar("SELECT count(*) FROM releases")


def crawl_now(url: str, site: str) -> None:
    """Queue a crawl of the site through the engine, as the scheduler does."""

    async def defer() -> None:
        app = build_app(url, pool_size=1)
        async with app.open_async():
            await defer_crawl(app, site)

    asyncio.run(defer())


def crawl_pids(cluster: Cluster, site: str) -> tuple[int, int]:
    """(the crawl process holding the site now, the worker that started it)."""
    with Store(cluster.url, migrate=False) as store, store.engine.connect() as conn:
        holder = conn.execute(
            text("SELECT holder FROM site_locks WHERE site = :s"), {"s": site}
        ).scalar_one()
    child = int(str(holder).rpartition(":")[2])
    parent = int(Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()[1])
    return child, parent


def check_web_replicas(world: World) -> None:
    """Both web replicas: the same feed, the same ETag, and each honours the other's."""
    first, second = (f"http://127.0.0.1:{port}" for port in world.web_ports)
    for base in (first, second):

        def up(b: str = base) -> bool:
            return httpx.get(f"{b}/healthz").status_code == 200

        wait_for(up, 60, "web up")
    one, two = httpx.get(f"{first}/feed.atom"), httpx.get(f"{second}/feed.atom")
    assert one.status_code == two.status_code == 200
    assert one.headers["etag"] == two.headers["etag"]
    assert one.content == two.content
    again = httpx.get(f"{second}/feed.atom", headers={"If-None-Match": one.headers["etag"]})
    assert again.status_code == 304
    health = httpx.get(f"{second}/healthz").json()
    assert health["status"] == "ok" and health["role"] == "web"
    wait_for(
        lambda: (
            httpx.get(f"{first}/status?format=json").json()["cluster"].get("workers_alive", 0) >= 3
        ),
        30,
        "/status to show the workers",
    )


def kill_a_worker_mid_crawl(world: World) -> tuple[str, float]:
    """Publish on a slow site, queue its crawl, kill -9 whoever crawls it; (title, when)."""
    cluster, replica = world.cluster, world.replica
    replica.set_fault("brazil", "/", "slow")  # every request 2 s: the crawl is still running
    title = replica.publish("brazil", title="Released while its worker is killed").title
    assert title is not None  # given, so kept
    crawl_now(cluster.url, "brazil")
    wait_for(
        lambda: (
            cluster.scalar(
                "SELECT count(*) FROM site_locks s JOIN crawl_runs r ON r.site = s.site"
                " WHERE s.site = 'brazil' AND r.status = 'running'"
            )
            > 0
        ),
        60,
        "a crawl of brazil to be running",
    )
    child, parent = crawl_pids(cluster, "brazil")
    victim = next(name for name, proc in cluster.procs.items() if proc.pid == parent)
    os.kill(parent, signal.SIGKILL)
    os.kill(child, signal.SIGKILL)
    killed_at = time.monotonic()
    cluster.procs[victim].wait(10)
    replica.clear_faults("brazil")
    return title, killed_at


def stored_once(cluster: Cluster, title: str) -> bool:
    return cluster.scalar("SELECT count(*) FROM releases WHERE title = :t", t=title) == 1


def test_a_scaled_out_deployment_loses_nothing_and_doubles_nothing(world: World) -> None:
    cluster, replica, smtp = world.cluster, world.replica, world.smtp
    start_cluster(world)
    truth = len(replica.releases())
    wait_for(lambda: releases_stored(cluster) >= truth, 180, "every replica release stored")
    check_web_replicas(world)
    assert "another scheduler leads the schedule; this one stands by" in cluster.log("scheduler-b")

    title, killed_at = kill_a_worker_mid_crawl(world)
    wait_for(lambda: stored_once(cluster, title), JOB_TIMEOUT, "the killed crawl's release")
    retried_in = time.monotonic() - killed_at
    print(f"kill -9 of a worker mid-crawl -> release stored by another in {retried_in:.1f} s")
    assert "was left by a worker that died" in cluster.log("scheduler-a")
    assert (
        cluster.scalar(
            "SELECT count(*) FROM crawl_runs WHERE site = 'brazil' AND reason = :r",
            r=INTERRUPTED_REASON,
        )
        == 1
    )
    wait_for(lambda: bool(smtp.inbox.about(title)), 30, "the mail about it")

    # a worker started later picks up work: the others stop, the schedule's crawls go to it
    cluster.start("worker-4", "worker")
    for name in ("worker-1", "worker-2", "worker-3"):
        if cluster.procs[name].poll() is None:
            assert cluster.stop(name) == 0, cluster.log(name)[-2000:]
    # and the standby scheduler takes over from a leader that stops
    assert cluster.stop("scheduler-a") == 0
    wait_for(lambda: "leads now" in cluster.log("scheduler-b"), 30, "scheduler b to lead")
    later = replica.publish("southsudan", title="Crawled by a worker started later").title
    assert later is not None  # given, so kept
    wait_for(lambda: stored_once(cluster, later), 90, "the later release")
    assert "crawl worker" in cluster.log("worker-4")
    wait_for(lambda: bool(smtp.inbox.about(later)), 30, "the mail about the later release")

    for name in ("worker-4", "scheduler-b", "web-1", "web-2"):
        assert cluster.stop(name) == 0, cluster.log(name)[-2000:]
    assert releases_stored(cluster) == truth + 2
    assert cluster.scalar("SELECT count(DISTINCT url) FROM releases") == truth + 2
    doubled = cluster.scalar(
        "SELECT count(*) FROM (SELECT release_id, kind FROM events"
        " GROUP BY release_id, kind HAVING count(*) > 1) d"
    )
    assert doubled == 0
    overlapping = cluster.scalar(
        "SELECT count(*) FROM crawl_runs a JOIN crawl_runs b ON a.site = b.site AND a.id < b.id"
        " WHERE a.status <> 'skipped' AND b.status <> 'skipped'"
        " AND b.started < coalesce(a.finished, now())"
    )
    assert overlapping == 0, "a site was crawled by two workers at once"
    mails = Counter(m.message_id for m in smtp.inbox.mails)
    assert mails and max(mails.values()) == 1, mails
    assert len(smtp.inbox.about(title)) == len(smtp.inbox.about(later)) == 1
    for name in cluster.procs:
        assert "Traceback" not in cluster.log(name), (name, cluster.log(name)[-3000:])
