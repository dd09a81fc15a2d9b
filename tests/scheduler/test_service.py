"""`iomwatch run` against the replica: scheduled crawls keep the feeds current; SIGTERM is clean."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from crawler.store import ReleaseQuery, Store
from replica import ReplicaServer
from tests.helpers import ROOT, free_port, write_config


def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        try:
            if predicate():
                return time.monotonic() - start
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def start_service(config: Path) -> subprocess.Popen[str]:
    """The service with its output in a log file next to the config (a pipe could fill up)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("IOMWATCH_")}
    log = (config.parent / "service.log").open("a")
    return subprocess.Popen(
        [sys.executable, "-m", "scheduler", "run", "--config", str(config)],
        cwd=ROOT,
        env=env,
        text=True,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def stop_service(proc: subprocess.Popen[str], bound: float, log: Path) -> tuple[int, float, str]:
    start = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=bound)
    return proc.returncode, time.monotonic() - start, log.read_text()


def test_run_publishes_new_releases_and_stops_cleanly(
    replica: ReplicaServer, tmp_path: Path
) -> None:
    port = free_port()
    db = f"sqlite:///{tmp_path / 'iomwatch.db'}"
    config = write_config(
        tmp_path / "config.toml",
        sites_file=replica.write_sites_file(tmp_path / "sites.toml"),
        database_url=db,
        data_dir=tmp_path,
        extra="interval_minutes = 0.05\njitter_seconds = 0\nstop_grace_seconds = 3\n"
        f'[server]\nport = {port}\nbase_url = "http://127.0.0.1:{port}"\n',
    )
    base = f"http://127.0.0.1:{port}"
    total = len(replica.releases())
    proc = start_service(config)
    try:
        wait_for(lambda: httpx.get(f"{base}/healthz").status_code == 200, 20, "/healthz")
        store = Store(db)
        wait_for(
            lambda: store.count_releases(ReleaseQuery()) == total,
            120,
            "the first crawl of every site",
        )
        new = replica.publish("mena", lang="en", title="Scheduled crawl picks up this release")
        title = new.title
        assert title is not None  # given, so kept
        seconds = wait_for(
            lambda: title in httpx.get(f"{base}/feed.atom").text,
            60,
            "the new release in /feed.atom",
        )
        print(f"new release in /feed.atom {seconds:.1f} s after publication")

        replica.set_fault(
            "colombia", "", "timeout"
        )  # the next crawl of colombia hangs on its pages
        wait_for(
            lambda: any(r.status == "running" for r in store.runs("colombia", limit=1)),
            60,
            "a crawl in progress",
        )
        code, took, out = stop_service(proc, bound=40, log=tmp_path / "service.log")
        assert code == 0, out
        assert took < 30, f"SIGTERM took {took:.1f} s"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    replica.clear_faults()
    # The next start finds a consistent store: no run left "running", nothing lost.
    again = start_service(config)
    try:
        wait_for(
            lambda: httpx.get(f"{base}/healthz").status_code == 200, 20, "/healthz after restart"
        )
        assert not [
            r for r in store.runs(limit=500) if r.status == "running" and r.site != "colombia"
        ]
        assert store.count_releases(ReleaseQuery()) == total + 1
    finally:
        code, _, out = stop_service(again, bound=40, log=tmp_path / "service.log")
        store.close()
    assert code == 0, out


def test_an_unreachable_site_is_one_line_per_failed_crawl_and_no_traceback(
    tmp_path: Path,
) -> None:
    """`make run` offline: robots.txt and every listing fail to connect (retried by Scrapy);
    the log says each failed crawl once, with its reason, and shows no traceback."""
    closed = free_port()  # nothing listens here: connection refused, like a dead host
    sites = tmp_path / "sites.toml"
    sites.write_text(
        '[[site]]\nid = "dead"\nname = "Dead"\n'
        f'base_url = "http://127.0.0.1:{closed}"\nlanguages = ["en", "fr"]\n'
        'news_paths = ["/news", "/fr/news"]\n'
    )
    port = free_port()
    db = f"sqlite:///{tmp_path / 'iomwatch.db'}"
    config = write_config(
        tmp_path / "config.toml",
        sites_file=sites,
        database_url=db,
        data_dir=tmp_path,
        extra="interval_minutes = 0.05\njitter_seconds = 0\nstop_grace_seconds = 3\n"
        "backoff_max_minutes = 0\n"
        f'[server]\nport = {port}\nbase_url = "http://127.0.0.1:{port}"\n',
    )
    proc = start_service(config)
    try:
        store = Store(db)
        wait_for(
            lambda: sum(r.status == "failed" for r in store.runs("dead", limit=20)) >= 2,
            90,
            "two failed crawls of the dead site",
        )
        code, _, log = stop_service(proc, bound=40, log=tmp_path / "service.log")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert code == 0, log[-3000:]
    failed = sum(r.status == "failed" for r in store.runs("dead", limit=50))
    lines = [line for line in log.splitlines() if "crawl of site dead failed" in line]
    assert failed >= 2 and len(lines) in (failed, failed - 1)  # the last may end at the stop
    assert "Connection refused" in lines[0] or "ConnectionRefused" in lines[0], lines[0]
    assert "Traceback" not in log, log[-3000:]
    for noise in ("Gave up retrying", "Error downloading", "listing http"):
        assert noise not in log, noise
