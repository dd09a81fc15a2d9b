"""The supervisor over the crawl worker: a worker that dies mid-crawl (SIGKILL: out of memory)
leaves no run "running", a failing site is said once per crawl and backs off, and recovers."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from pathlib import Path

import pytest

from crawler.store import Store
from replica import ReplicaServer
from scheduler.commands import migrate_store
from scheduler.config import ServiceConfig
from scheduler.jobs import CrawlSupervisor, SiteBackoff
from tests.helpers import write_config
from tests.scheduler.fake_workers import DYING_WORKER, ERRORS_WORKER, FAILING_WORKER
from tests.scheduler.test_service import wait_for


def supervisor_for(tmp_path: Path, command: list[str], extra: str = "") -> CrawlSupervisor:
    path = tmp_path / "config.toml"
    path.write_text(f'data_dir = "{tmp_path}"\n[crawl]\n{extra}', encoding="utf-8")
    config = ServiceConfig.from_env(str(path), environ={})
    migrate_store(config.database_url)
    return CrawlSupervisor.from_config(config, command)


@pytest.mark.parametrize(
    ("how", "reason"),
    [
        ("kill", "the crawl worker was killed by signal 9 (SIGKILL: out of memory"),
        ("exit", "the crawl worker exited with code 3 before reporting the crawl"),
    ],
)
def test_a_worker_that_dies_mid_crawl_leaves_no_run_running(
    tmp_path: Path, how: str, reason: str, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"sqlite:///{tmp_path / 'iomwatch.db'}"
    supervisor = supervisor_for(tmp_path, [sys.executable, "-c", DYING_WORKER, url, how])
    with caplog.at_level(logging.WARNING, logger="scheduler.jobs"):
        assert asyncio.run(supervisor.crawl("mena")) == 1
    assert supervisor.last_result["mena"]["status"] == "failed"
    assert supervisor.last_result["mena"]["reason"].startswith(reason)
    with Store(url) as store:
        [run] = store.runs("mena")
        assert run.status == "failed" and (run.reason or "").startswith(reason)
        assert "mena" not in store.locked_sites()  # the dead worker's lock is stale
    lines = [r for r in caplog.records if r.name == "scheduler.jobs"]
    assert len(lines) == 1 and lines[0].exc_info is None  # one line, no traceback
    assert "crawl of site mena failed (1 in a row)" in lines[0].getMessage()


def test_a_real_crawl_whose_worker_is_killed_is_marked_failed(tmp_path: Path) -> None:
    """The real worker crawling a site that hangs, killed -9 with its process group."""
    replica = ReplicaServer(sites=["mena"]).start()
    try:
        replica.set_fault("mena", "", "timeout")
        url = f"sqlite:///{tmp_path / 'iomwatch.db'}"
        config = write_config(
            tmp_path / "config.toml",
            sites_file=replica.write_sites_file(tmp_path / "sites.toml"),
            database_url=url,
            data_dir=tmp_path,
        )
        migrate_store(url)
        supervisor = CrawlSupervisor.from_config(ServiceConfig.from_env(str(config), environ={}))
        store = Store(url, migrate=False)

        async def crawl_then_kill() -> int:
            crawl = asyncio.create_task(supervisor.crawl("mena"))
            running = lambda: any(r.status == "running" for r in store.runs("mena"))  # noqa: E731
            await asyncio.to_thread(wait_for, running, 60, "the crawl to start its run")
            assert supervisor.pool.pid is not None
            os.killpg(supervisor.pool.pid, signal.SIGKILL)
            return await crawl

        assert asyncio.run(crawl_then_kill()) == 1
        [run] = store.runs("mena")
        assert run.status == "failed" and "killed by signal 9" in (run.reason or "")
        store.close()
    finally:
        replica.stop()


def test_a_failing_site_backs_off_then_recovers(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    supervisor = supervisor_for(
        tmp_path,
        [sys.executable, "-c", FAILING_WORKER],
        "interval_minutes = 10\nbackoff_max_minutes = 30\n",
    )
    now = [1000.0]
    supervisor.backoff = SiteBackoff(
        supervisor.backoff.interval, supervisor.backoff.cap, clock=lambda: now[0]
    )

    async def scenario() -> list[tuple[int, float]]:
        seen = []
        for _ in range(5):
            code = await supervisor.crawl("mali")
            seen.append((code, supervisor.backoff.waiting("mali")))
            now[0] += supervisor.backoff.waiting("mali")  # the next run that is not skipped
        skipped = await supervisor.crawl("mali")  # no wait passed: still tried (count 5 -> cap)
        seen.append((skipped, supervisor.backoff.waiting("mali")))
        await supervisor.stop()
        return seen

    with caplog.at_level(logging.WARNING, logger="scheduler.jobs"):
        seen = asyncio.run(scenario())
    waits = [wait for _, wait in seen]
    # first failure: tried again at the next run; then 2, 4 intervals..., capped at 30 min
    assert waits[:4] == [0, 1200, 1800, 1800]
    assert all(code == 1 for code, _ in seen[:5])
    lines = [r.getMessage() for r in caplog.records if r.name == "scheduler.jobs"]
    assert len(lines) == 6 and "(2 in a row): site unreachable; skipped for 20 min" in lines[1]
    assert supervisor.summary()["backing_off"] == 1


def test_runs_within_the_backoff_are_skipped_without_a_crawl(tmp_path: Path) -> None:
    supervisor = supervisor_for(
        tmp_path, [sys.executable, "-c", FAILING_WORKER], "interval_minutes = 10\n"
    )

    async def scenario() -> tuple[int, int, int]:
        await supervisor.crawl("mali")
        await supervisor.crawl("mali")  # second failure: 20 minutes' wait
        before = len(supervisor.backoff.failures)
        code = await supervisor.crawl("mali")  # skipped: the worker is not asked
        count = supervisor.backoff.failures["mali"]
        await supervisor.stop()
        return before, code, count

    before, code, count = asyncio.run(scenario())
    assert (before, code, count) == (1, 0, 2)


def test_backoff_max_minutes_zero_tries_every_run(tmp_path: Path) -> None:
    supervisor = supervisor_for(
        tmp_path, [sys.executable, "-c", FAILING_WORKER], "backoff_max_minutes = 0\n"
    )

    async def scenario() -> list[int]:
        codes = [await supervisor.crawl("mali") for _ in range(3)]
        await supervisor.stop()
        return codes

    assert asyncio.run(scenario()) == [1, 1, 1]  # all three tried and failed
    assert supervisor.backoff.failures["mali"] == 3
    assert supervisor.backoff.waiting("mali") == 0


def test_the_status_hook_gives_each_site_its_next_run_and_backoff(tmp_path: Path) -> None:
    from crawler.sites import load_sites
    from scheduler.service import build_scheduler, scheduler_status

    supervisor = supervisor_for(
        tmp_path, [sys.executable, "-c", FAILING_WORKER], "interval_minutes = 10\n"
    )
    sites = load_sites()[:3]
    scheduler = build_scheduler(
        ServiceConfig.from_env(str(tmp_path / "config.toml"), environ={}), sites, supervisor
    )

    async def two_failures() -> dict[str, object]:
        scheduler.start(paused=True)  # next run times computed, nothing fires
        for _ in range(2):
            await supervisor.crawl(sites[0].id)
        await supervisor.stop()
        status = scheduler_status(scheduler, supervisor)
        scheduler.shutdown(wait=False)
        return status

    status = asyncio.run(two_failures())
    rows = status["sites"]
    assert isinstance(rows, dict) and set(rows) == {s.id for s in sites}
    assert rows[sites[0].id]["backoff"] == "20 min" and rows[sites[1].id]["backoff"] == ""
    assert all(row["next_run"] for row in rows.values())
    assert status["site_counts"] == {"ok": 0, "failing": 0, "backing_off": 1, "running": 0}


def test_an_ok_crawl_with_errors_says_so_once_and_does_not_back_off(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The worker quiets a site's per-request lines: the supervisor's line is the one left."""
    supervisor = supervisor_for(tmp_path, [sys.executable, "-c", ERRORS_WORKER])

    async def twice() -> list[int]:
        try:
            return [await supervisor.crawl("mali"), await supervisor.crawl("mali")]
        finally:
            await supervisor.stop()

    with caplog.at_level(logging.WARNING, logger="scheduler.jobs"):
        assert asyncio.run(twice()) == [0, 0]
    lines = [r.getMessage() for r in caplog.records if r.name == "scheduler.jobs"]
    assert lines == ["crawl of site mali: ok with 2 error(s): http://a/1: 404; http://a/2: 404"] * 2
    assert supervisor.backoff.waiting("mali") == 0 and not supervisor.backoff.failures
