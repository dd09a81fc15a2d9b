"""Crawl benchmark: backfill of the whole replica (CPU ms per page, pages/s), then an idle
re-check (requests and bytes). Runs the real `iomwatch crawl` against the local replica.

The database's schema is created first, in a process of its own (`python -m
crawler.store.migrate`, as a deployment does once): a backfill of a new site runs on a migrated
database, and creating the schema (Alembic: ~0.2 s of the crawl's CPU when the crawl did it)
is no cost of its pages. Its CPU (with that process's own start-up) is printed apart.

    .venv/bin/python bench/crawl.py
"""

from __future__ import annotations

import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from crawler.store import ReleaseQuery, Store
from replica import ReplicaServer
from tests.helpers import ROOT, iomwatch, write_config


def timed_crawl(config: Path) -> tuple[float, float]:
    """Wall seconds and child CPU seconds of one `iomwatch crawl`."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    result = iomwatch("crawl", "--config", str(config), "--quiet", timeout=600)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        raise SystemExit(f"crawl failed:\n{result.stderr[-3000:]}")
    return wall, (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)


def create_schema(database_url: str) -> float:
    """Child CPU seconds of creating the schema (`python -m crawler.store.migrate`)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(
        [sys.executable, "-m", "crawler.store.migrate"],
        input=database_url,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=600,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"schema creation failed:\n{done.stderr[-3000:]}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)


ROUNDS = 5  # one backfill is ~110 pages: a single round's CPU figure moves by +-2 ms


def one_round(replica: ReplicaServer, tmp_path: Path, printing: bool) -> float:
    """A backfill and an idle re-check on a fresh database: CPU ms per page beyond start-up."""
    db = f"sqlite:///{tmp_path / 'bench.db'}"
    config = write_config(
        tmp_path / "config.toml",
        sites_file=replica.write_sites_file(tmp_path / "sites.toml"),
        database_url=db,
        data_dir=tmp_path,
    )
    replica.reset_log()
    schema_cpu = create_schema(db)
    wall, cpu = timed_crawl(config)
    pages = len([r for r in replica.requests if not r.path.endswith("/robots.txt")])
    with Store(db) as store:
        releases = store.release_count()
    replica.reset_log()
    idle_wall, idle_cpu = timed_crawl(config)
    idle = replica.requests
    with Store(db) as store:
        received = sum(store.runs(site, limit=1)[0].bytes for site in replica.site_ids)
    listings = [r for r in idle if not r.path.endswith("/robots.txt")]
    beyond = (cpu - idle_cpu) * 1000 / (pages - len(listings))
    if printing:
        peer_cpu_per_page(db)
        print(f"schema: created in its own process, {schema_cpu:.2f} s CPU (not counted below)")
        print(f"backfill: {len(replica.site_ids)} sites, {pages} pages, {releases} releases stored")
        print(
            f"idle re-check: {len(idle)} requests ({len(listings)} listings + robots.txt), "
            f"{sum(r.status == 304 for r in idle)} answered 304, "
            f"{sum(r.bytes_sent for r in idle)} body bytes, {received} bytes received with "
            f"headers, {idle_wall:.2f} s wall, {idle_cpu:.2f} s CPU"
        )
    print(
        f"backfill: {wall:.2f} s wall, {pages / wall:.1f} pages/s, "
        f"{cpu * 1000 / pages:.1f} CPU ms per page including process start-up ({cpu:.2f} s CPU), "
        f"{beyond:.1f} CPU ms per page beyond start-up (backfill CPU - idle re-check CPU)"
    )
    return beyond


def peer_cpu_per_page(database_url: str) -> None:
    """The peer, same run: trafilatura (favor_precision) on the stored pages, CPU ms per page.

    Extraction alone, in this process: no fetching, parsing of fields or storing, which the
    figure above includes."""
    import trafilatura

    with Store(database_url) as store:
        ids = [r.id for r in store.query_releases(ReleaseQuery(), limit=1000)]
        pages = [page for rid in ids if (page := store.raw_html(rid))]
    trafilatura.extract(pages[0], favor_precision=True)  # its imports and caches, not counted
    start = time.process_time()
    for page in pages:
        trafilatura.extract(page, favor_precision=True)
    took = (time.process_time() - start) * 1000 / len(pages)
    print(
        f"peer: trafilatura.extract(favor_precision) alone, {len(pages)} pages: {took:.1f} CPU ms/page"
    )


def main() -> None:
    replica = ReplicaServer()
    replica.start()
    figures = []
    for round_no in range(ROUNDS):
        with tempfile.TemporaryDirectory() as tmp:
            figures.append(one_round(replica, Path(tmp), printing=round_no == 0))
    replica.stop()
    print(
        f"CPU ms per backfill page beyond start-up, {ROUNDS} rounds: median "
        f"{statistics.median(figures):.1f} (min {min(figures):.1f}, max {max(figures):.1f}); "
        "goal <= 10"
    )


if __name__ == "__main__":
    main()
