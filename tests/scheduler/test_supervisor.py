"""A crawl child that dies without recording its end (SIGKILL: out of memory) leaves no run
"running": the supervisor marks the site's run failed on any non-zero exit, and says why."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import pytest

from crawler.store import Store
from replica import ReplicaServer
from scheduler.commands import migrate_store
from scheduler.exceptions import CrawlFailed
from scheduler.jobs import CrawlSupervisor
from scheduler.service import child_command
from tests.helpers import write_config
from tests.scheduler.test_service import wait_for

# Takes the site as a crawl does, starts its run, then ends without finishing it: by SIGKILL
# (what the kernel's out-of-memory killer sends) or by a bare non-zero exit.
DYING_CHILD = """
import os, signal, sys
from crawler.store import Store
url, how = sys.argv[1], sys.argv[2]
site = sys.argv[sys.argv.index("--site") + 1]
store = Store(url, migrate=False)
with store.site_lock(site) as held:
    assert held
    store.start_run(site)
    if how == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    os._exit(3)
"""


@pytest.mark.parametrize(
    ("how", "code", "reason"),
    [
        ("kill", -signal.SIGKILL, "killed by signal 9 (SIGKILL: out of memory?)"),
        ("exit", 3, "exit code 3"),
    ],
)
def test_a_child_that_dies_mid_crawl_leaves_no_run_running(
    tmp_path: Path, how: str, code: int, reason: str
) -> None:
    url = f"sqlite:///{tmp_path / 'iomwatch.db'}"
    migrate_store(url)
    supervisor = CrawlSupervisor([sys.executable, "-c", DYING_CHILD, url, how], url, timeout=60)
    with pytest.raises(CrawlFailed) as info:
        asyncio.run(supervisor.crawl("mena"))
    assert str(info.value) == f"crawl of site mena failed: {reason}"
    assert supervisor.last_result["mena"]["exit"] == code
    with Store(url) as store:
        assert [(r.status, r.reason) for r in store.runs("mena")] == [("failed", reason)]
        assert "mena" not in store.locked_sites()  # the dead child's lock is stale


def test_a_real_crawl_killed_by_sigkill_is_marked_failed(tmp_path: Path) -> None:
    """`iomwatch crawl` on a site that hangs, killed -9 with its process group mid-crawl."""
    replica = ReplicaServer(sites=["mena"]).start()
    try:
        replica.set_fault("mena", "", "timeout")
        config = write_config(
            tmp_path / "config.toml",
            sites_file=replica.write_sites_file(tmp_path / "sites.toml"),
            database_url=f"sqlite:///{tmp_path / 'iomwatch.db'}",
            data_dir=tmp_path,
        )
        url = f"sqlite:///{tmp_path / 'iomwatch.db'}"
        migrate_store(url)
        supervisor = CrawlSupervisor(child_command(str(config)), url, timeout=120)
        store = Store(url, migrate=False)

        async def crawl_then_kill() -> None:
            crawl = asyncio.create_task(supervisor.crawl("mena"))
            running = lambda: any(r.status == "running" for r in store.runs("mena"))  # noqa: E731
            await asyncio.to_thread(wait_for, running, 60, "the crawl to start its run")
            os.killpg(supervisor.running["mena"].pid, signal.SIGKILL)
            await crawl

        with pytest.raises(CrawlFailed, match="killed by signal 9"):
            asyncio.run(crawl_then_kill())
        assert [r.status for r in store.runs("mena")] == ["failed"]
        store.close()
    finally:
        replica.stop()
