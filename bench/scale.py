"""Scale-out on the task engine (issue 12): backfill throughput with 1, 2, 3 workers, and
whether one worker keeps up with the idle checks of 5,000 sites every 30 minutes.

Everything is real: `iomwatch worker` processes (each with its long-lived crawl worker) and,
for the idle part, an `iomwatch run --role scheduler`, on the PostgreSQL server of this
machine (a schema of its own, dropped after), against local replica sites.

1. Backfill: REPLICAS replica servers (6 sites each, distinct ports, so distinct URLs) are
   crawled from scratch by N workers; the bench queues every site's crawl through the engine
   and times the first crawl's start to the last one's end. download_delay 0: this measures
   the machine, not the politeness delay.
2. Idle at scale: the 6 replica sites are crawled once; then a registry of SITES simulated
   sites (the replica sites repeated under new ids: their listings answer 304, as an idle
   site's do) is scheduled every 30 minutes by the scheduler role and checked by ONE worker.
   Printed: CPU per idle check (the worker's processes together), the time the worker takes
   for the whole registry against the 30-minute interval, and the scheduler's CPU.

    .venv/bin/python -m bench.scale [--replicas 3] [--sites 5000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import text

from crawler.store import Store
from replica import ReplicaServer
from scheduler.engine import build_app, defer_crawl
from tests.conftest import pg_schema_url
from tests.helpers import ROOT, write_config

INTERVAL_SECONDS = 1800.0
SPREAD_SECONDS = 300.0  # the scheduler spreads a registry's first runs over 5 minutes at most
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int, *, waited: bool = False) -> float:
    """user + system CPU of a live process; with `waited`, its finished children's too."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])
    if waited:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / TICKS


def tree_cpu(pid: int, *, root: bool = True) -> float:
    """CPU of a process and its descendants, live or retired (a retired crawl process was
    waited for by the worker: its CPU is in the worker's children's counters)."""
    total = cpu_seconds(pid, waited=root)
    for task in Path(f"/proc/{pid}/task").iterdir():
        for kid in (task / "children").read_text().split():
            total += tree_cpu(int(kid), root=False)
    return total


def renamed_sites(toml: str, suffix: str) -> str:
    """A replica's sites file with every id given a suffix (the same sites, new ids)."""
    return re.sub(r'^id = "([^"]+)"$', rf'id = "\1{suffix}"', toml, flags=re.MULTILINE)


def config_for(base: Path, url: str, sites: Path, extra: str = "") -> Path:
    return write_config(
        base / "config.toml",
        sites_file=sites,
        database_url=url,
        data_dir=base,
        extra="jitter_seconds = 0\nstop_grace_seconds = 3\n" + extra,
    )


def start(config: Path, log: Path, *args: str) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IOMWATCH_")}
    with log.open("w") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "scheduler", *args, "--config", str(config)],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def stop(procs: Sequence[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        proc.send_signal(signal.SIGTERM)
    for proc in procs:
        proc.wait(timeout=120)


def queue_all(url: str, site_ids: Sequence[str]) -> None:
    async def defer() -> None:
        app = build_app(url, pool_size=1)
        async with app.open_async():
            for site_id in site_ids:
                await defer_crawl(app, site_id)

    asyncio.run(defer())


def finished_runs(store: Store) -> tuple[int, int, float]:
    """(finished runs, pages fetched, seconds from the first start to the last end)."""
    with store.engine.connect() as conn:
        row = conn.execute(
            text(
                "SELECT count(*), coalesce(sum(pages), 0),"
                " extract(epoch FROM max(finished) - min(started))"
                " FROM crawl_runs WHERE finished IS NOT NULL"
            )
        ).one()
    return int(row[0]), int(row[1]), float(row[2] or 0.0)


def wait_runs(
    store: Store, count: int, timeout: float, procs: Sequence[subprocess.Popen[bytes]]
) -> tuple[int, int, float]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(proc.poll() is not None for proc in procs):
            raise SystemExit(
                f"a process ended early: {[p.args for p in procs if p.poll() is not None]}"
            )
        done = finished_runs(store)
        if done[0] >= count:
            return done
        time.sleep(1.0)
    raise SystemExit(f"only {finished_runs(store)[0]} of {count} crawls finished in {timeout} s")


def backfill(workers: int, replicas: int, base: Path) -> float:
    """Pages per second of a from-scratch backfill of every site with `workers` workers."""
    servers = [ReplicaServer().start() for _ in range(replicas)]
    try:
        toml = "\n".join(renamed_sites(s.sites_toml(), f"-{n}") for n, s in enumerate(servers))
        site_ids = re.findall(r'^id = "([^"]+)"$', toml, flags=re.MULTILINE)
        (base / "sites.toml").write_text(toml)
        for url in pg_schema_url():
            config = config_for(base, url, base / "sites.toml")
            with Store(url) as store:
                procs = [start(config, base / f"w{n}.log", "worker") for n in range(workers)]
                time.sleep(8)  # the workers are up (their start is not what is measured)
                queue_all(url, site_ids)
                runs, pages, seconds = wait_runs(store, len(site_ids), 1800, procs)
                stop(procs)
            rate = pages / seconds
            print(
                f"  {workers} worker(s): {pages} pages, {runs} crawls in {seconds:.1f} s:"
                f" {rate:.1f} pages/s",
                flush=True,
            )
    finally:
        for server in servers:
            server.stop()
    return rate


def idle_at_scale(sites: int, base: Path) -> None:
    """One worker, the scheduler role, `sites` simulated idle sites every 30 minutes."""
    with ReplicaServer() as replica:
        seed = replica.write_sites_file(base / "seed.toml")
        toml = replica.sites_toml()
        copies = -(-sites // len(replica.site_ids))
        many = "\n".join(renamed_sites(toml, f"-{n}") for n in range(copies))
        entries = many.split("[[site]]")[1 : sites + 1]
        (base / "many.toml").write_text("".join("[[site]]" + e for e in entries))
        for url in pg_schema_url():
            with Store(url) as store:
                seeding = start(config_for(base, url, seed), base / "seed.log", "worker")
                queue_all(url, replica.site_ids)
                wait_runs(store, len(replica.site_ids), 600, [seeding])
                stop([seeding])
                before = finished_runs(store)[0]
                config = config_for(base, url, base / "many.toml", "interval_minutes = 30\n")
                worker = start(config, base / "worker.log", "worker")
                scheduler = start(config, base / "scheduler.log", "run", "--role", "scheduler")
                time.sleep(5)
                cpu_start = tree_cpu(worker.pid), cpu_seconds(scheduler.pid)
                started = time.monotonic()
                wait_runs(store, before + sites, INTERVAL_SECONDS * 2, [worker, scheduler])
                took = time.monotonic() - started
                cpu_worker = tree_cpu(worker.pid) - cpu_start[0]
                cpu_scheduler = cpu_seconds(scheduler.pid) - cpu_start[1]
                statuses = store.run_counts()
                stop([scheduler, worker])
    ok = sum(n for (_, status), n in statuses.items() if status == "ok")
    print(
        f"  {sites} simulated sites: all checked in {took:.0f} s by one worker"
        f" (interval {INTERVAL_SECONDS:.0f} s; the scheduler spreads the first runs over"
        f" {SPREAD_SECONDS:.0f} s); {ok} runs ok in all"
    )
    print(
        f"  CPU per idle check: {cpu_worker / sites * 1000:.1f} ms (worker and its crawl"
        f" process); scheduler {cpu_scheduler / sites * 1000:.2f} ms per site"
    )
    busy = cpu_worker / INTERVAL_SECONDS
    verdict = "keeps up" if took < INTERVAL_SECONDS else "does NOT keep up"
    print(f"  one worker {verdict} with a 30-minute interval: {busy * 100:.1f} % of a core")
    if took > SPREAD_SECONDS * 1.1:  # the worker, not the scheduler's spread, set the pace
        print(
            f"  one worker's capacity: about {int(sites * INTERVAL_SECONDS / took)} idle sites"
            " per 30 minutes"
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--replicas", type=int, default=3, help="replica servers (6 sites each)")
    parser.add_argument("--sites", type=int, default=5000, help="simulated idle sites")
    parser.add_argument("--skip-backfill", action="store_true")
    args = parser.parse_args()
    base = Path(os.environ.get("TMPDIR", "/tmp")) / f"iomwatch-scale-{os.getpid()}"
    base.mkdir(parents=True)
    print(f"{os.cpu_count()} cores; logs in {base}")
    if not args.skip_backfill:
        print(f"backfill of {6 * args.replicas} replica sites from scratch:")
        rates = {n: backfill(n, args.replicas, base) for n in (1, 2, 3)}
        print(
            "  ratio to 1 worker: "
            + ", ".join(f"{n} workers {rate / rates[1]:.2f}x" for n, rate in rates.items())
        )
    print(f"idle checks of {args.sites} simulated sites:")
    idle_at_scale(args.sites, base)


if __name__ == "__main__":
    main()
