"""Soak benchmark of the long-lived crawl worker: CPU per idle check and memory over many cycles.

Backfills the local replica, then runs CYCLES crawl cycles (every replica site once per
cycle, all listings answering 304) on one WorkerPool — the service's own crawl path — and
prints, beside the same idle check run the old way (a fresh `iomwatch crawl` process):

- CPU seconds per idle site check (the worker's own accounting, after warm-up);
- the worker's resident memory after warm-up and at the end (growth in %), and the peak;
- how many workers were started (recycling by max crawls / memory).

    .venv/bin/python -m bench.soak [--cycles 500] [--max-crawls 200]
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from crawler.jobs import WorkerLimits
from replica import ReplicaServer
from scheduler.commands import crawl_overrides
from scheduler.config import ServiceConfig
from scheduler.workers import WorkerPool
from tests.helpers import iomwatch, write_config

WARM_UP_CYCLES = 5


def rss_mb(pid: int) -> float:
    """Resident memory of a process now, from /proc."""
    fields = Path(f"/proc/{pid}/statm").read_text(encoding="ascii").split()
    return int(fields[1]) * resource.getpagesize() / 2**20


def fresh_process_idle_cpu(config: Path, site: str) -> float:
    """CPU seconds of one idle check the old way: a whole `iomwatch crawl` process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = iomwatch("crawl", "--config", str(config), "--quiet", "--site", site, timeout=300)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        raise SystemExit(f"crawl failed:\n{result.stderr[-2000:]}")
    return (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)


async def soak(pool: WorkerPool, sites: list[str], cycles: int) -> dict[str, list[float]]:
    cpu: list[float] = []
    memory: list[float] = []
    for cycle in range(cycles):
        outcomes = await asyncio.gather(*(pool.crawl(site) for site in sites))
        if any(o["status"] != "ok" or o["counters"]["new"] for o in outcomes):
            raise SystemExit(f"cycle {cycle}: an idle check was not idle: {outcomes}")
        if cycle >= WARM_UP_CYCLES:
            cpu.extend(o["cpu_seconds"] for o in outcomes)
        if pool.pid is not None:
            memory.append(rss_mb(pool.pid))
    await pool.stop()
    return {"cpu": cpu, "memory": memory}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cycles", type=int, default=500)
    parser.add_argument("--max-crawls", type=int, default=100_000)
    args = parser.parse_args()
    replica = ReplicaServer()
    replica.start()
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        sites_file = replica.write_sites_file(tmp_path / "sites.toml")
        config = write_config(
            tmp_path / "config.toml",
            sites_file=sites_file,
            database_url=f"sqlite:///{tmp_path / 'soak.db'}",
            data_dir=tmp_path,
        )
        iomwatch("crawl", "--config", str(config), "--quiet", timeout=600)  # the backfill
        old_way = fresh_process_idle_cpu(config, replica.site_ids[0])
        service = ServiceConfig.from_env(str(config), environ={})
        limits = WorkerLimits(max_crawls=args.max_crawls, max_rss_mb=10_000, max_parallel=2)
        pool = WorkerPool(crawl_overrides(service), str(sites_file), limits)
        started = time.monotonic()
        seen = asyncio.run(soak(pool, replica.site_ids, args.cycles))
        wall = time.monotonic() - started
    replica.stop()
    cpu, memory = seen["cpu"], seen["memory"]
    warm = memory[min(WARM_UP_CYCLES, len(memory) - 1)]
    checks = len(cpu)
    print(
        f"{args.cycles} cycles x {len(replica.site_ids)} sites in {wall:.0f} s, {pool.started} worker(s)"
    )
    print(
        f"idle check CPU: median {statistics.median(cpu) * 1000:.0f} ms, "
        f"p90 {statistics.quantiles(cpu, n=10)[-1] * 1000:.0f} ms over {checks} checks; "
        f"a fresh process: {old_way * 1000:.0f} ms (ratio {statistics.median(cpu) / old_way:.3f})"
    )
    print(
        f"worker resident memory: {warm:.0f} MB after warm-up, {memory[-1]:.0f} MB at the end "
        f"({(memory[-1] - warm) / warm * 100:+.1f} %), peak {max(memory):.0f} MB"
    )


if __name__ == "__main__":
    main()
