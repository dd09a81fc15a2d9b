"""One test per scheduler-side configuration key: set it, observe what it does.

The crawl keys that reach Scrapy (max_pages, download_delay, user_agent, ...) are tested with
the crawler; `[alerts]`, `[operator]`, `[smtp]`, `[[subscriber]]` and `[[webhook]]` in
test_alerts_config.py and test_alerts_service.py.
"""

from __future__ import annotations

import asyncio
import json
import socket
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qs

import feedparser
import httpx
import pytest
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from crawler.items import Release
from crawler.sites import load_sites
from crawler.store import Store
from replica import ReplicaServer
from scheduler.commands import migrate_store
from scheduler.config import ServiceConfig
from scheduler.jobs import CrawlSupervisor
from scheduler.service import build_scheduler
from tests.conftest import pg_schema_url
from tests.helpers import free_port, iomwatch, write_config
from tests.scheduler.fake_workers import BUSY_WORKER, HELLO_WORKER, STUBBORN_WORKER
from tests.scheduler.test_service import start_service, stop_service, wait_for


def load(tmp_path: Path, text: str) -> ServiceConfig:
    path = tmp_path / "config.toml"
    path.write_text(f'data_dir = "{tmp_path}"\n{text}', encoding="utf-8")
    return ServiceConfig.from_env(str(path), environ={})


# --- the schedule: the APScheduler trigger of every site's job ---------------------------------


def triggers(config: ServiceConfig) -> list[Any]:
    supervisor = CrawlSupervisor.from_config(config, ["true"])  # no crawl: never started
    scheduler = build_scheduler(config, load_sites()[:3], supervisor)
    return [job.trigger for job in scheduler.get_jobs() if job.id.startswith("crawl:")]


def test_interval_minutes_is_the_period_of_every_job(tmp_path: Path) -> None:
    config = load(tmp_path, "[crawl]\ninterval_minutes = 7.5\njitter_seconds = 0\n")
    found = triggers(config)
    assert len(found) == 3
    for trigger in found:
        assert isinstance(trigger, IntervalTrigger)
        assert trigger.interval == timedelta(minutes=7.5)
        start = datetime(2024, 5, 1, 12, tzinfo=UTC)
        assert trigger.get_next_fire_time(start, start) == start + timedelta(minutes=7.5)


def test_jitter_seconds_spreads_each_run_within_the_jitter(tmp_path: Path) -> None:
    config = load(tmp_path, "[crawl]\ninterval_minutes = 10\njitter_seconds = 45\n")
    trigger = triggers(config)[0]
    assert trigger.jitter == 45
    start = datetime(2024, 5, 1, 12, tzinfo=UTC)
    delays = {
        (trigger.get_next_fire_time(start, start) - start).total_seconds() - 600 for _ in range(40)
    }
    assert all(0 <= d <= 45 for d in delays)
    assert len(delays) > 1, "no jitter applied"


def test_cron_replaces_the_interval(tmp_path: Path) -> None:
    config = load(tmp_path, '[crawl]\ninterval_minutes = 10\ncron = "15 3 * * mon"\n')
    for trigger in triggers(config):
        assert isinstance(trigger, CronTrigger)
        wednesday = datetime(2024, 5, 1, 12, tzinfo=UTC)
        assert trigger.get_next_fire_time(None, wednesday) == datetime(
            2024, 5, 6, 3, 15, tzinfo=UTC
        )


# --- the supervisor: real worker processes (stand-ins speaking the worker's protocol) -----------


def most_at_once(log: Path) -> tuple[int, set[str]]:
    """The largest number of crawls running together, and the sites that ran."""
    events = sorted((float(t), int(step), site) for t, step, site in map(str.split, log.open()))
    alive = peak = 0
    for _, step, _ in events:
        alive += step
        peak = max(peak, alive)
    return peak, {site for _, _, site in events}


def test_max_parallel_bounds_the_crawls_at_once(tmp_path: Path) -> None:
    config = load(tmp_path, "[crawl]\nmax_parallel = 3\n")
    log = tmp_path / "crawls.log"
    supervisor = CrawlSupervisor.from_config(config, [sys.executable, "-c", BUSY_WORKER, str(log)])

    async def crawl_all() -> list[int]:
        codes = await asyncio.gather(*(supervisor.crawl(f"site{i}") for i in range(8)))
        await supervisor.stop()
        return codes

    assert asyncio.run(crawl_all()) == [0] * 8
    assert supervisor.pool.limits.max_parallel == 3  # the worker runs as many at once
    peak, sites = most_at_once(log)
    assert sites == {f"site{i}" for i in range(8)}
    assert peak == 3


def test_worker_keys_reach_the_worker_it_starts(tmp_path: Path) -> None:
    """The limits the worker enforces (tests/scheduler/test_workers.py shows it does)."""
    config = load(
        tmp_path,
        "[crawl]\nworker_max_crawls = 7\nworker_max_memory_mb = 150\n"
        "timeout_seconds = 300\ndownload_timeout = 20\nmax_parallel = 4\n",
    )
    hello_file = tmp_path / "hello.json"
    supervisor = CrawlSupervisor.from_config(
        config, [sys.executable, "-c", HELLO_WORKER, str(hello_file)]
    )

    async def one_crawl() -> int:
        code = await supervisor.crawl("mali")
        await supervisor.stop()
        return code

    assert asyncio.run(one_crawl()) == 0
    hello = json.loads(hello_file.read_text())
    assert hello["limits"] == {
        "max_crawls": 7,
        "max_rss_mb": 150,
        "crawl_timeout": 320,  # Scrapy's own close at 300 s comes first
        "max_parallel": 4,
    }
    assert hello["settings"]["IOMWATCH_DATABASE_URL"] == config.database_url
    assert hello["settings"]["DOWNLOAD_TIMEOUT"] == 20


def test_stop_grace_seconds_then_sigterm_then_sigkill(tmp_path: Path) -> None:
    config = load(tmp_path, "[crawl]\nstop_grace_seconds = 2\n")
    migrate_store(config.database_url)  # the supervisor records the stopped run
    log = tmp_path / "worker.log"
    supervisor = CrawlSupervisor.from_config(
        config, [sys.executable, "-c", STUBBORN_WORKER, str(log)]
    )

    async def start_then_stop() -> tuple[float, float, int, int | None]:
        crawl = asyncio.create_task(supervisor.crawl("stubborn"))
        started = lambda: log.exists() and "ready" in log.read_text()  # noqa: E731
        await asyncio.to_thread(wait_for, started, 20, "the worker to take the crawl")
        pid = supervisor.pool.pid
        asked = time.time()
        await supervisor.stop()
        stopped = time.time()
        code = await crawl
        return asked, stopped, code, pid

    asked, stopped, code, pid = asyncio.run(start_then_stop())
    terms = [float(line.split()[1]) for line in log.open() if line.startswith("term")]
    assert len(terms) == 1
    assert 1.9 <= terms[0] - asked <= 3.0, f"SIGTERM after {terms[0] - asked:.2f} s"
    assert 1.9 <= stopped - terms[0] <= 3.0, f"SIGKILL {stopped - terms[0]:.2f} s after SIGTERM"
    assert code == 1 and pid is not None
    with Store(config.database_url) as store:
        assert store.runs("stubborn") == []  # the stand-in never started a run to mark


# --- where the data is: data_dir, database.url, and an environment override ----------------------


def seed(url: str, title: str) -> None:
    """A store at `url` holding one release with this title."""
    release = Release(
        url=f"https://mena.iom.int/news/{abs(hash(title))}",
        site="mena",
        lang="en",
        title=title,
        published=datetime(2024, 5, 1, tzinfo=UTC),
        body_text=f"{title}. Cairo – a paragraph of the release.",
    )
    with Store(url) as store:
        store.save_release(release)


def exported_titles(*args: str, env: dict[str, str] | None = None) -> list[str]:
    result = iomwatch("export", *args, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    return [json.loads(line)["title"] for line in result.stdout.splitlines()]


def test_data_dir_holds_the_sqlite_store(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    seed(f"sqlite:///{state / 'iomwatch.db'}", "kept in data_dir")
    config = tmp_path / "config.toml"
    config.write_text(f'data_dir = "{state}"\n', encoding="utf-8")
    assert exported_titles("--config", str(config)) == ["kept in data_dir"]


@pytest.fixture
def pg_url() -> Iterator[str]:
    yield from pg_schema_url()


@pytest.mark.postgres
def test_database_url_is_the_store(tmp_path: Path, pg_url: str) -> None:
    seed(pg_url, "kept in PostgreSQL")
    config = tmp_path / "config.toml"
    config.write_text(f'data_dir = "{tmp_path}"\n[database]\nurl = "{pg_url}"\n', encoding="utf-8")
    assert exported_titles("--config", str(config)) == ["kept in PostgreSQL"]
    assert not (tmp_path / "iomwatch.db").exists()


def test_environment_overrides_a_key_of_the_file(tmp_path: Path) -> None:
    in_file, in_env = f"sqlite:///{tmp_path / 'file.db'}", f"sqlite:///{tmp_path / 'env.db'}"
    seed(in_file, "named by the file")
    seed(in_env, "named by the environment")
    config = tmp_path / "config.toml"
    config.write_text(f'[database]\nurl = "{in_file}"\n', encoding="utf-8")
    titles = exported_titles("--config", str(config), env={"IOMWATCH_DATABASE_URL": in_env})
    assert titles == ["named by the environment"]


# --- the running service: sites_file, server.* ---------------------------------------------------

HOST = "127.0.0.2"  # loopback, but not 127.0.0.1: shows the service binds the configured host
BASE_URL = "http://iomwatch.example.test/watch"


class HubHandler(BaseHTTPRequestHandler):
    """A WebSub hub that records each publish ping."""

    pings: ClassVar[list[dict[str, list[str]]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.pings.append(parse_qs(body.decode()))
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, str, ReplicaServer]]:
    """`iomwatch run` on HOST and a free port, crawling two replica sites, with a local hub."""
    tmp = tmp_path_factory.mktemp("service")
    replica = ReplicaServer(sites=["mena", "colombia"]).start()
    hub = ThreadingHTTPServer(("127.0.0.1", 0), HubHandler)
    threading.Thread(target=hub.serve_forever, daemon=True).start()
    hub_url = f"http://127.0.0.1:{hub.server_address[1]}/hub"
    port = free_port()
    config = write_config(
        tmp / "config.toml",
        sites_file=replica.write_sites_file(tmp / "sites.toml"),
        database_url=f"sqlite:///{tmp / 'iomwatch.db'}",
        data_dir=tmp,
        extra="interval_minutes = 60\nstop_grace_seconds = 3\n"
        f'[server]\nhost = "{HOST}"\nport = {port}\nbase_url = "{BASE_URL}"\n'
        f'websub_hub = "{hub_url}"\n',
    )
    proc = start_service(config)
    try:
        wait_for(lambda: httpx.get(f"http://{HOST}:{port}/healthz").status_code == 200, 20, "up")
        yield port, hub_url, replica
    finally:
        code, _, out = stop_service(proc, bound=40, log=tmp / "service.log")
        hub.shutdown()
        replica.stop()
    assert code == 0, out


def test_server_port_answers_http(service: tuple[int, str, ReplicaServer]) -> None:
    port = service[0]
    with socket.create_connection((HOST, port), timeout=5) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        reply = b"".join(iter(lambda: sock.recv(4096), b""))
    assert reply.startswith(b"HTTP/1.1 200"), reply[:200]


def test_server_host_is_the_only_address_bound(service: tuple[int, str, ReplicaServer]) -> None:
    port = service[0]
    socket.create_connection((HOST, port), timeout=5).close()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5)


def test_sites_file_sites_are_scheduled(service: tuple[int, str, ReplicaServer]) -> None:
    port, _, replica = service
    status = httpx.get(
        f"http://{HOST}:{port}/status", headers={"Accept": "application/json"}
    ).json()
    assert set(status["next_run"]) == set(replica.site_ids) == {"mena", "colombia"}


def first_crawled_feed(port: int) -> Any:
    """/feed.atom once the first scheduled crawl has stored releases."""
    url = f"http://{HOST}:{port}/feed.atom"
    wait_for(lambda: bool(feedparser.parse(httpx.get(url).content).entries), 120, "entries")
    return feedparser.parse(httpx.get(url).content)


def test_server_base_url_is_in_the_feed_links(service: tuple[int, str, ReplicaServer]) -> None:
    feed = first_crawled_feed(service[0])
    links = {link.rel: link.href for link in feed.feed.links}
    assert links["self"] == f"{BASE_URL}/feed.atom" and links["alternate"] == f"{BASE_URL}/"
    # An entry's id is its permalink on this service (its alternate link is the IOM page).
    assert all(entry.id.startswith(f"{BASE_URL}/releases/") for entry in feed.entries)


def test_server_websub_hub_is_advertised_and_pinged(
    service: tuple[int, str, ReplicaServer],
) -> None:
    port, hub_url, _ = service
    feed = first_crawled_feed(port)
    assert [link.href for link in feed.feed.links if link.rel == "hub"] == [hub_url]
    wait_for(lambda: bool(HubHandler.pings), 120, "a publish ping")
    assert HubHandler.pings[0] == {"hub.mode": ["publish"], "hub.url": [f"{BASE_URL}/feed.atom"]}
