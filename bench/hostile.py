"""Hostile page bench: one 19 MB article on a replica site, crawled, stored and served.

Crawls a small replica site once (the baseline), publishes a 19 MB article on it, then measures
the real `iomwatch crawl` of it (the child's peak RSS, from `os.wait4`), how much the database
grew, and `iomwatch run` answering /feed.atom, /feed.rss, /feed.json and / (its RSS after them).
Targets: service under 150 MB, database growth under 1 MB.

    .venv/bin/python bench/hostile.py               # this working tree
    .venv/bin/python bench/hostile.py --tree DIR    # another checkout (e.g. a git worktree)
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TREE = Path(__file__).resolve().parent.parent
SITE = "southsudan"
PAGE_BYTES = 19 * 1024 * 1024
FEED_PATHS = ("/feed.atom", "/feed.rss", "/feed.json", "/")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tree", type=Path, default=TREE, help="the checkout to measure")
    return parser.parse_args()


def child_env(tree: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IOMWATCH_")}
    env["PYTHONPATH"] = str(tree)
    return env


def crawl(tree: Path, config: Path) -> tuple[int, float]:
    """Exit code and peak RSS (MB) of one `iomwatch crawl` child."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "scheduler", "crawl", "--config", str(config), "--quiet"],
        cwd=tree,
        env=child_env(tree),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _pid, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, usage.ru_maxrss / 1024  # ru_maxrss is in KiB on Linux


def database_bytes(path: Path) -> int:
    """The database's size with its write-ahead log folded in."""
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))


def huge_body() -> list[str]:
    """Distinct paragraphs (~1 KB each) that add up to PAGE_BYTES of article text."""
    line = "Displacement tracking figures for the region, compiled from field teams. " * 14
    return [f"Paragraph {n}: {line}" for n in range(PAGE_BYTES // (len(line) + 20))]


def stored_as(database_url: str, url: str) -> str:
    """How the 19 MB release was stored: body size and flags (a tree without flags: none)."""
    from crawler.store import ReleaseQuery, Store

    with Store(database_url, migrate=False) as store:
        found = [r for r in store.query_releases(ReleaseQuery(), limit=1000) if r.url == url]
        count = store.release_count()
    if not found:
        return f"stored: {count} releases; the 19 MB one is not among them"
    release = found[0]
    flags = getattr(release, "flags", ())
    return (
        f"stored: {count} releases; the 19 MB one with {len(release.body_text):,} body chars, "
        f"flags {list(flags)}"
    )


def rss_mb(pid: int, field: str = "VmRSS") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


def serve_feeds(tree: Path, config: Path, port: int) -> tuple[float, float, list[str]]:
    """`iomwatch run`: RSS after 4 requests, its peak, and each answer's status and size."""
    import httpx

    proc = subprocess.Popen(
        [sys.executable, "-m", "scheduler", "run", "--config", str(config)],
        cwd=tree,
        env=child_env(tree),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    answers: list[str] = []
    try:
        with httpx.Client(base_url=base, timeout=httpx.Timeout(120.0)) as client:
            wait_until_up(client)
            for path in FEED_PATHS:
                response = client.get(path)
                answers.append(f"{path} {response.status_code} {len(response.content):,} B")
        return rss_mb(proc.pid), rss_mb(proc.pid, "VmHWM"), answers
    finally:
        proc.terminate()
        proc.wait(timeout=60)


def wait_until_up(client: object) -> None:
    import httpx

    assert isinstance(client, httpx.Client)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if client.get("/healthz").status_code < 500:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise SystemExit("the service did not come up in 60 s")


def main() -> None:
    tree = parse_args().tree.resolve()
    sys.path.insert(0, str(tree))  # the replica and test helpers of the measured tree
    from replica import ReplicaServer
    from tests.helpers import free_port, write_config

    replica = ReplicaServer(sites=[SITE])
    replica.start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            tmp_path = Path(tmp)
            db = tmp_path / "bench.db"
            port = free_port()
            config = write_config(
                tmp_path / "config.toml",
                sites_file=replica.write_sites_file(tmp_path / "sites.toml"),
                database_url=f"sqlite:///{db}",
                data_dir=tmp_path,
                extra="interval_minutes = 600\n"
                f'[server]\nport = {port}\nbase_url = "http://127.0.0.1:{port}"\n',
            )
            code, baseline_rss = crawl(tree, config)
            print(f"tree: {tree}")
            print(f"baseline crawl of {SITE}: exit {code}, peak RSS {baseline_rss:.0f} MB")
            title = "Regional displacement report, full data"
            page = replica.publish(SITE, title=title, body=huge_body())
            before = database_bytes(db)
            code, peak = crawl(tree, config)
            growth = database_bytes(db) - before
            print(f"19 MB article {page.url}")
            print(f"crawl with it: exit {code}, child peak RSS {peak:.0f} MB")
            print(f"database growth: {growth:,} bytes (target < 1,048,576)")
            print(stored_as(f"sqlite:///{db}", page.url))
            rss, hwm, answers = serve_feeds(tree, config, port)
            print("served: " + "; ".join(answers))
            print(f"service RSS after 4 requests: {rss:.0f} MB, peak {hwm:.0f} MB (target < 150)")
    finally:
        replica.stop()


if __name__ == "__main__":
    main()
