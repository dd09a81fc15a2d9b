"""The task engine and the scheduler's leadership, on the real PostgreSQL server.

What can go wrong, and what must happen:
- a site deferred twice while its first crawl waits: one job (queueing lock);
- a worker killed with a job in hand: the job goes back to the queue once its heartbeat is
  stale; when the same crawl already waits, the stale one is given up, not doubled;
- two schedulers: one leads, the other stands by until the leader's session ends;
- a failing site: its crawls wait interval x 2^(n-1) from the store's runs, capped, and a
  success resets it;
- SQLite given to a role that needs a shared database: a clear error naming it, exit 2.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from procrastinate import App
from sqlalchemy import text

from crawler.store import Store
from crawler.store.records import RunStats
from scheduler.engine import (
    ALERTS_QUEUE,
    CRAWL_QUEUE,
    build_app,
    conninfo,
    defer_alerts,
    defer_crawl,
    queue_counts,
    retry_stalled,
)
from scheduler.exceptions import RoleError
from scheduler.leader import acquire_leadership, lead_until_stopped, store_backoff
from tests.conftest import pg_schema_url
from tests.helpers import iomwatch, write_config

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A migrated store in a schema of its own (procrastinate's tables included)."""
    for url in pg_schema_url():
        with Store(url):
            pass
        yield url


def with_app(pg_url: str, body: Callable[[App], Awaitable[None]]) -> None:
    """Run `body` with a procrastinate app open on the store's database."""

    async def main() -> None:
        engine = build_app(pg_url, pool_size=2)
        async with engine.open_async():
            await body(engine)

    asyncio.run(main())


def job_rows(url: str) -> list[tuple[str, str, str | None]]:
    with Store(url, migrate=False) as store, store.engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT task_name, status::text, queueing_lock FROM procrastinate_jobs ORDER BY id"
            )
        )
        return [(r[0], r[1], r[2]) for r in rows]


def test_a_waiting_site_is_queued_once(pg_url: str) -> None:
    async def body(app: App) -> None:
        assert await defer_crawl(app, "mali") is True
        assert await defer_crawl(app, "mali") is False  # it waits already
        assert await defer_crawl(app, "brazil") is True
        assert await defer_alerts(app) is True
        assert await defer_alerts(app) is False
        rows = job_rows(pg_url)
        assert rows == [
            ("iomwatch.crawl_site", "todo", "crawl:mali"),
            ("iomwatch.crawl_site", "todo", "crawl:brazil"),
            ("iomwatch.send_alerts", "todo", "alerts"),
        ]
        counts = await queue_counts(app)
        assert counts["queues"] == {CRAWL_QUEUE: {"todo": 2}, ALERTS_QUEUE: {"todo": 1}}
        assert counts["workers_alive"] == 0

    with_app(pg_url, body)


async def _take_as_dead_worker(app: App, pg_url: str) -> None:
    """A worker takes the crawl job, then dies: its heartbeat is an hour old."""
    worker_id = await app.job_manager.register_worker()
    job = await app.job_manager.fetch_job(queues=[CRAWL_QUEUE], worker_id=worker_id)
    assert job is not None
    with Store(pg_url, migrate=False) as store, store.engine.begin() as conn:
        conn.execute(
            text("UPDATE procrastinate_workers SET last_heartbeat = now() - interval '1 hour'")
        )


def test_a_dead_workers_job_is_retried(pg_url: str) -> None:
    async def body(app: App) -> None:
        await defer_crawl(app, "mali")
        await _take_as_dead_worker(app, pg_url)
        assert job_rows(pg_url) == [("iomwatch.crawl_site", "doing", "crawl:mali")]
        assert await retry_stalled(app) == 1
        assert job_rows(pg_url) == [("iomwatch.crawl_site", "todo", "crawl:mali")]
        assert await retry_stalled(app) == 0  # nothing else is stalled

    with_app(pg_url, body)


def test_a_dead_workers_job_is_not_doubled_when_the_crawl_waits_again(pg_url: str) -> None:
    async def body(app: App) -> None:
        await defer_crawl(app, "mali")
        await _take_as_dead_worker(app, pg_url)
        assert await defer_crawl(app, "mali") is True  # the next scheduled run, queued meanwhile
        assert await retry_stalled(app) == 1
        assert job_rows(pg_url) == [
            ("iomwatch.crawl_site", "failed", "crawl:mali"),
            ("iomwatch.crawl_site", "todo", "crawl:mali"),
        ]

    with_app(pg_url, body)


def test_one_scheduler_leads_the_other_stands_by(pg_url: str) -> None:
    asyncio.run(_leadership(pg_url))


async def _leadership(pg_url: str) -> None:
    with Store(pg_url, migrate=False) as store:
        first, second = store.engine.connect(), store.engine.connect()
        stop = asyncio.Event()
        assert await acquire_leadership(first, stop) is True
        waiting = asyncio.create_task(acquire_leadership(second, stop))
        await asyncio.sleep(1.0)
        assert not waiting.done()  # standing by while the leader's session lives
        first.invalidate()  # the leader's session ends (a stop, a crash: the lock is freed)
        assert await asyncio.wait_for(waiting, 15) is True
        third = store.engine.connect()
        stop.set()
        assert await acquire_leadership(third, stop) is False  # stopped while standing by
        for conn in (second, third):
            conn.invalidate()


def test_a_leader_that_loses_its_session_stops(pg_url: str) -> None:
    """Its lock went with the session: it must not go on scheduling beside a new leader."""

    async def lead() -> bool:
        with Store(pg_url, migrate=False) as store:
            conn = store.engine.connect()
            stop = asyncio.Event()
            assert await acquire_leadership(conn, stop)
            backend = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
            conn.commit()
            with store.engine.connect() as other:
                other.execute(text("SELECT pg_terminate_backend(:p)"), {"p": backend})
            lost = await asyncio.wait_for(lead_until_stopped(conn, stop, check_every=0.2), 10)
            conn.invalidate()
            return lost

    assert asyncio.run(lead()) is True


def _runs(store: Store, site: str, statuses: list[str]) -> None:
    for status in statuses:
        run = store.start_run(site)
        store.finish_run(run, RunStats(), status=status, reason=None if status == "ok" else "x")


def test_backoff_comes_from_the_stores_runs(pg_url: str) -> None:
    with Store(pg_url, migrate=False) as store:

        def wait(site: str, cap: float = 3600.0) -> float:
            return store_backoff(store, site, interval=60.0, cap=cap, now=datetime.now(UTC))

        _runs(store, "one", ["ok", "failed"])
        assert wait("one") == 0.0  # one failure: tried at its next run
        _runs(store, "three", ["failed", "failed", "failed"])
        assert 230 <= wait("three") <= 240  # 60 x 2^2 from the last failure's end
        assert 110 <= wait("three", cap=120.0) <= 120  # capped
        assert wait("three", cap=0.0) == 0.0  # backoff_max_minutes 0: none
        _runs(store, "back", ["failed", "failed", "ok"])
        assert wait("back") == 0.0  # a success resets it
        _runs(store, "locked", ["failed", "skipped", "failed"])
        assert wait("locked") > 0  # a skipped run neither counts nor resets


def test_conninfo_keeps_the_schema_and_refuses_sqlite(pg_url: str, tmp_path: Path) -> None:
    assert "search_path" in conninfo(pg_url)
    assert conninfo(pg_url).startswith("postgresql://")
    with pytest.raises(RoleError, match=r"iomwatch\.db.*PostgreSQL"):
        conninfo(f"sqlite:///{tmp_path}/iomwatch.db")


@pytest.mark.parametrize(
    "args", [("run", "--role", "worker"), ("worker",), ("run", "--role", "web")]
)
def test_a_role_on_sqlite_is_a_clear_error(tmp_path: Path, args: tuple[str, ...]) -> None:
    sites = tmp_path / "sites.toml"
    sites.write_text(
        '[[site]]\nid = "x"\nname = "X"\nbase_url = "http://127.0.0.1:9"\nlanguages = ["en"]\n'
    )
    config = write_config(
        tmp_path / "config.toml",
        sites_file=sites,
        database_url=f"sqlite:///{tmp_path}/iomwatch.db",
        data_dir=tmp_path,
    )
    result = iomwatch(*args, "--config", str(config), timeout=60)
    assert result.returncode == 2
    assert "PostgreSQL" in result.stderr and "iomwatch.db" in result.stderr
    assert "Traceback" not in result.stderr
