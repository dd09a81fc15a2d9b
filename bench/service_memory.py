"""Memory of `iomwatch run` over many crawl cycles against the local replica.

Starts the replica and the service with a very short interval on an empty database (the
service migrates it, as in production), samples the resident memory of the service, of the
processes under it (the crawl worker, a migration child) and of all together every 0.25 s, with
a new release every 10 s, and prints each at the first sample, after warm-up, at its peak and
at the end of N crawl runs.

    .venv/bin/python bench/service_memory.py [--cycles 500]
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import inspect

from crawler.store import Store
from replica import ReplicaServer
from tests.helpers import ROOT, free_port, write_config


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def children(pid: int) -> list[int]:
    """The process's children, and theirs (the crawl worker)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            kids = (task / "children").read_text().split()
        except OSError:
            continue
        for kid in map(int, kids):
            found += [kid, *children(kid)]
    return found


def tree_mb(pid: int) -> tuple[float, float, float]:
    """(the service alone, the processes under it, all together) resident MB."""
    own = rss_mb(pid)
    under = 0.0
    for kid in children(pid):
        try:
            under += rss_mb(kid)
        except OSError:  # a worker retiring right now
            continue
    return own, under, own + under


def wait_for_schema(store: Store, proc: subprocess.Popen[bytes], timeout: float = 120) -> None:
    """Until the service has created the crawl runs' table (its start-up migration)."""
    deadline = time.monotonic() + timeout
    while not inspect(store.engine).has_table("crawl_runs"):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"the service did not migrate the store (exit code {proc.poll()})")
        time.sleep(0.2)


SAMPLE_SECONDS = 0.25  # a crawl's peak lasts a second or two
PUBLISH_EVERY = 40  # samples (10 s): new releases keep the worker parsing along the way


def sample_until(
    store: Store, proc: subprocess.Popen[bytes], replica: ReplicaServer, cycles: int
) -> list[tuple[int, float, float, float]]:
    """(crawl runs so far, service RSS, its children's RSS, whole tree RSS) every
    SAMPLE_SECONDS until `cycles` runs; a new release every PUBLISH_EVERY samples."""
    samples: list[tuple[int, float, float, float]] = []
    done = 0
    while done < cycles:
        time.sleep(SAMPLE_SECONDS)
        if len(samples) % 4 == 0:  # counting runs costs more than reading /proc
            done = len(store.runs(limit=100_000))
        samples.append((done, *tree_mb(proc.pid)))
        if len(samples) % 240 == 0:
            print(
                f"  {done} crawl runs, service {samples[-1][1]:.1f} MB, "
                f"all processes {samples[-1][3]:.1f} MB",
                flush=True,
            )
        if len(samples) % PUBLISH_EVERY == 0:
            replica.publish(replica.site_ids[len(samples) // PUBLISH_EVERY % len(replica.site_ids)])
    return samples


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cycles", type=int, default=500)
    cycles = parser.parse_args().cycles
    replica = ReplicaServer()
    replica.start()
    tmp = Path(tempfile.mkdtemp())
    db = f"sqlite:///{tmp / 'bench.db'}"
    port = free_port()
    config = write_config(
        tmp / "config.toml",
        sites_file=replica.write_sites_file(tmp / "sites.toml"),
        database_url=db,
        data_dir=tmp,
        extra="interval_minutes = 0.01\njitter_seconds = 0\n"
        f'[server]\nport = {port}\nbase_url = "http://127.0.0.1:{port}"\n',
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("IOMWATCH_")}
    with (tmp / "service.log").open("w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "scheduler", "run", "--config", str(config)],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    start = time.monotonic()
    # The service migrates the empty database itself, as in production: opening the store here
    # first would migrate it from this process and spare the service its start-up migration.
    with Store(db, migrate=False) as store:
        try:
            wait_for_schema(store, proc)
            samples = sample_until(store, proc, replica, cycles)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
            replica.stop()
        runs = store.runs(limit=100_000)
        releases = store.release_count()
    warm = [s for s in samples if s[0] >= min(50, cycles // 10)][:60]  # 15 s
    print(
        f"{len(runs)} crawl runs in {time.monotonic() - start:.0f} s "
        f"({sum(r.status == 'ok' for r in runs)} ok, {releases} releases)"
    )
    labels = (("service alone", 1), ("crawl worker(s)", 2), ("all its processes", 3))
    for label, column in labels:
        early = sum(s[column] for s in warm) / max(len(warm), 1)
        end = samples[-1][column]
        peak = max(samples, key=lambda s: s[column])
        print(
            f"{label}: first sample {samples[0][column]:.1f} MB, after warm-up {early:.1f} MB, "
            f"peak {peak[column]:.1f} MB (at {peak[0]} runs), at the end {end:.1f} MB "
            f"({(end - early) / early * 100:+.1f} %)"
        )
    print(f"(bars: all processes <= 200 MB at peak, <= 5 % growth); exit code {proc.returncode}")


if __name__ == "__main__":
    main()
