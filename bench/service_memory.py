"""Memory of `iomwatch run` over many crawl cycles against the local replica.

Starts the replica and the service with a very short interval, samples the service's resident
memory (and its crawl children's peak), and prints RSS at the start and end of N cycles.

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

from crawler.store import Store
from replica import ReplicaServer
from tests.helpers import ROOT, free_port, write_config


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def sample_until(
    store: Store, proc: subprocess.Popen[bytes], replica: ReplicaServer, cycles: int
) -> list[tuple[int, float]]:
    """(crawl runs so far, service RSS) every 5 s until `cycles` runs; a new release now and then."""
    samples: list[tuple[int, float]] = []
    done = 0
    while done < cycles:
        time.sleep(5)
        done = len(store.runs(limit=100_000))
        samples.append((done, rss_mb(proc.pid)))
        if len(samples) % 12 == 0:
            print(f"  {done} crawl runs, service RSS {samples[-1][1]:.1f} MB", flush=True)
        if len(samples) % 24 == 0:
            replica.publish(replica.site_ids[len(samples) % len(replica.site_ids)])
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
    with Store(db) as store:
        try:
            samples = sample_until(store, proc, replica, cycles)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
            replica.stop()
        runs = store.runs(limit=100_000)
        releases = store.release_count()
    early = [mb for n, mb in samples if n >= min(50, cycles // 10)][:3]
    print(
        f"{len(runs)} crawl runs in {time.monotonic() - start:.0f} s "
        f"({sum(r.status == 'ok' for r in runs)} ok, {releases} releases)"
    )
    print(
        f"service RSS: after warm-up {sum(early) / max(len(early), 1):.1f} MB, "
        f"max {max(mb for _, mb in samples):.1f} MB, at the end {samples[-1][1]:.1f} MB "
        f"(bar: < 150 MB, no growth); service exit code {proc.returncode}"
    )


if __name__ == "__main__":
    main()
