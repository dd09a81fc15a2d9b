"""Service start-up fails the runs a dead process left "running", never a live crawl's run.

A run whose site lock another live process holds (`iomwatch crawl` by hand while the service
restarts) survives the start; a run nobody holds is marked interrupted.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from crawler.store import Store
from scheduler.commands import migrate_store
from tests.helpers import ROOT, free_port, write_config
from tests.scheduler.test_service import start_service, stop_service, wait_for

# Another process crawling a site: holds its lock until its stdin closes.
HOLDER = """
import sys
from crawler.store import Store
with Store(sys.argv[1], migrate=False) as store, store.site_lock(sys.argv[2]) as held:
    print("held" if held else "refused", flush=True)
    sys.stdin.read()
"""


@pytest.fixture
def holder(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """A store, and a live process other than the service holding the lock of site "held"."""
    url = f"sqlite:///{tmp_path / 'iomwatch.db'}"
    migrate_store(url)
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, url, "held"],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
        yield url, proc
    finally:
        proc.communicate(timeout=20)


def test_start_up_spares_a_live_crawl_and_fails_an_orphaned_run(
    tmp_path: Path, holder: tuple[str, subprocess.Popen[str]]
) -> None:
    url, _ = holder
    with Store(url, migrate=False) as store:
        live, orphan = store.start_run("held"), store.start_run("orphan")
    # The service's own site points at a closed port: its first crawl fails fast, elsewhere.
    sites = tmp_path / "sites.toml"
    sites.write_text(
        f'[[site]]\nid = "elsewhere"\nbase_url = "http://127.0.0.1:{free_port()}"\n'
        'languages = ["en"]\n',
        encoding="utf-8",
    )
    port = free_port()
    config = write_config(
        tmp_path / "config.toml",
        sites_file=sites,
        database_url=url,
        data_dir=tmp_path,
        extra=f"stop_grace_seconds = 2\n[server]\nport = {port}\n",
    )
    proc = start_service(config)
    try:
        wait_for(lambda: httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200, 30, "up")
    finally:
        code, _, log = stop_service(proc, bound=40, log=tmp_path / "service.log")
    assert code == 0, log
    with Store(url, migrate=False) as store:
        runs = {r.id: r for r in store.runs(limit=10)}
    assert runs[live].status == "running"
    assert runs[orphan].status == "failed"
    assert (runs[orphan].reason or "").startswith("interrupted")
    assert "marked 1 crawl run(s) left running by a previous process as failed" in log
    assert "crawled by another process: ['held']" in log
