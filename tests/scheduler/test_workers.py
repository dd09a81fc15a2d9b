"""The long-lived crawl worker and its pool: real worker processes crawling the replica.

Each test starts real `python -m crawler.worker` processes through `WorkerPool` and crawls
local replica sites; kills are real signals. CPU per idle check is measured by bench/soak.py,
not here.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from crawler.jobs import WorkerLimits
from crawler.store import Store
from replica import ReplicaServer
from scheduler.commands import crawl_overrides
from scheduler.config import ServiceConfig
from scheduler.workers import WorkerLost, WorkerPool
from tests.helpers import write_config

pytestmark = pytest.mark.timeout(180)


def _pool(
    replica: ReplicaServer, tmp_path: Path, limits: WorkerLimits, **settings: Any
) -> tuple[WorkerPool, str]:
    db = f"sqlite:///{tmp_path / 'iomwatch.db'}"
    sites_file = replica.write_sites_file(tmp_path / "sites.toml")
    config = write_config(
        tmp_path / "config.toml",
        sites_file=sites_file,
        database_url=db,
        data_dir=tmp_path,
    )
    service = ServiceConfig.from_env(str(config), environ={})
    Store(db).close()  # migrated once, as the service does before its first crawl
    overrides = {**crawl_overrides(service), **settings}
    return WorkerPool(overrides, str(sites_file), limits, stop_grace=3), db


def _run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_one_worker_runs_many_crawls_and_each_release_is_stored_once(
    replica: ReplicaServer, tmp_path: Path
) -> None:
    pool, db = _pool(replica, tmp_path, WorkerLimits(max_parallel=2))
    sites = replica.site_ids[:3]

    async def scenario() -> tuple[list[dict[str, Any]], list[dict[str, Any]], set[int | None]]:
        pids: set[int | None] = set()
        first = await asyncio.gather(*(pool.crawl(site) for site in sites))
        pids.add(pool.pid)
        again = []
        for site in sites * 2:
            again.append(await pool.crawl(site))
            pids.add(pool.pid)
        await pool.stop()
        return first, again, pids

    first, again, pids = _run(scenario())
    assert len(pids) == 1 and pool.started == 1  # nine crawls, one interpreter
    assert [o["status"] for o in first + again] == ["ok"] * 9
    with Store(db) as store:
        for outcome in first:
            truth = len(replica.releases(outcome["site"]))
            assert outcome["counters"]["new"] > 0
            assert store.release_count(outcome["site"]) == outcome["counters"]["new"] <= truth
    assert all(o["counters"]["new"] == 0 and o["counters"]["not_modified"] > 0 for o in again)
    assert pool.pid is None  # stopped: the worker exited


def test_worker_retires_after_max_crawls_and_no_job_is_lost(
    replica: ReplicaServer, tmp_path: Path
) -> None:
    pool, _ = _pool(replica, tmp_path, WorkerLimits(max_crawls=2, max_parallel=1))
    site = replica.site_ids[0]

    async def scenario() -> list[tuple[int | None, str]]:
        seen = []
        for _ in range(4):
            outcome = await pool.crawl(site)
            seen.append((pool.pid, outcome["status"]))
        await pool.stop()
        return seen

    seen = _run(scenario())
    assert [status for _, status in seen] == ["ok"] * 4
    assert pool.started >= 2  # 4 crawls, at most 2 (+ one already taken) per worker
    assert len({pid for pid, _ in seen}) == pool.started


def test_worker_above_its_memory_bound_is_replaced(replica: ReplicaServer, tmp_path: Path) -> None:
    pool, _ = _pool(replica, tmp_path, WorkerLimits(max_rss_mb=1, max_parallel=1))

    async def scenario() -> list[str]:
        statuses = [(await pool.crawl(site))["status"] for site in replica.site_ids[:2]]
        await pool.stop()
        return statuses

    assert _run(scenario()) == ["ok", "ok"]
    assert pool.started == 2  # every worker is above 1 MB after its first crawl


def test_kill_9_of_the_worker_fails_its_jobs_and_the_next_crawl_gets_a_new_worker(
    replica: ReplicaServer, tmp_path: Path
) -> None:
    pool, db = _pool(replica, tmp_path, WorkerLimits(max_parallel=1))
    site = replica.site_ids[0]

    async def scenario() -> tuple[str, dict[str, Any]]:
        await pool.crawl(replica.site_ids[1])  # a warm worker
        replica.reset_log()
        task = asyncio.create_task(pool.crawl(site))
        while not any(r.site_id == site for r in replica.requests):  # noqa: ASYNC110
            await asyncio.sleep(0.01)  # the replica is threads, not our loop: poll it
        assert pool.pid is not None
        os.kill(pool.pid, signal.SIGKILL)
        with pytest.raises(WorkerLost) as lost:
            await task
        after = await pool.crawl(site)
        await pool.stop()
        return str(lost.value), after

    reason, after = _run(scenario())
    assert "signal 9" in reason
    assert pool.started == 2
    assert after["status"] == "ok"
    with Store(db) as store:  # the release the killed crawl did not finish is stored now
        assert store.release_count(site) == len(replica.releases(site))


def test_a_crawl_past_its_timeout_is_stopped_by_the_worker(
    replica: ReplicaServer, tmp_path: Path
) -> None:
    site = replica.site_ids[0]
    pool, _ = _pool(
        replica,
        tmp_path,
        WorkerLimits(crawl_timeout=5, max_parallel=1),
        DOWNLOAD_TIMEOUT=8,  # the hung requests in flight end within a download timeout or two
    )

    async def scenario() -> tuple[dict[str, Any], float]:
        await pool.crawl(replica.site_ids[1])  # a warm worker: start-up is not timed
        for path in replica.listing_paths(site):  # the listings hang for a minute
            replica.set_fault(site, path, "timeout")
        started = time.monotonic()
        outcome = await pool.crawl(site)
        elapsed = time.monotonic() - started
        await pool.stop()
        return outcome, elapsed

    outcome, elapsed = _run(scenario())
    assert outcome["status"] == "failed"
    assert "timed out after 5 s" in (outcome["reason"] or "")
    assert 5 <= elapsed < 5 + 2 * 8 + 5  # the timeout, the requests in flight, the close
    assert pool.started == 1  # stopped by the worker, not killed


HUNG_WORKER = """
import json, sys, time
sys.stdin.readline()
print(json.dumps({"type": "ready", "pid": 0}), flush=True)
sys.stdin.readline()
time.sleep(600)
"""


def test_a_worker_that_never_answers_is_killed_past_timeout_and_grace(tmp_path: Path) -> None:
    script = tmp_path / "hung.py"
    script.write_text(HUNG_WORKER, encoding="utf-8")
    pool = WorkerPool(
        {"DOWNLOAD_TIMEOUT": 1},
        "",
        WorkerLimits(crawl_timeout=1),
        stop_grace=0.5,
        command=(sys.executable, str(script)),
    )

    async def scenario() -> tuple[str, float]:
        started = time.monotonic()
        with pytest.raises(WorkerLost) as lost:
            await pool.crawl("mali")
        return str(lost.value), time.monotonic() - started

    reason, elapsed = _run(scenario())
    assert "signal 9" in reason
    assert pool.job_deadline == 1 + 1 + 3 * 0.5  # timeout, a download, the grace thrice
    assert pool.job_deadline <= elapsed < pool.job_deadline + 5


def test_a_worker_that_cannot_start_is_a_clear_error(tmp_path: Path) -> None:
    pool = WorkerPool({}, "", WorkerLimits(), command=(sys.executable, "-c", "raise SystemExit(3)"))

    async def scenario() -> str:
        with pytest.raises(WorkerLost) as lost:
            await pool.crawl("mali")
        return str(lost.value)

    assert "did not start (exit code 3)" in _run(scenario())
