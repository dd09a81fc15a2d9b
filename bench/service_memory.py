"""Memory of `iomwatch run` over many crawl cycles against the local replica.

Starts the replica and the service with a very short interval, samples the resident memory of
the service and of its crawl worker (all its processes together, and each), and prints it after
warm-up, at its peak and at the end of N crawl runs.

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


def tree_mb(pid: int) -> tuple[float, float]:
    """(the service alone, the service and every process under it) resident MB."""
    own = rss_mb(pid)
    total = own
    for kid in children(pid):
        try:
            total += rss_mb(kid)
        except OSError:  # a worker retiring right now
            continue
    return own, total


def sample_until(
    store: Store, proc: subprocess.Popen[bytes], replica: ReplicaServer, cycles: int
) -> list[tuple[int, float, float]]:
    """(crawl runs so far, service RSS, whole tree RSS) every 5 s until `cycles` runs; a new
    release now and then."""
    samples: list[tuple[int, float, float]] = []
    done = 0
    while done < cycles:
        time.sleep(5)
        done = len(store.runs(limit=100_000))
        samples.append((done, *tree_mb(proc.pid)))
        if len(samples) % 12 == 0:
            print(
                f"  {done} crawl runs, service {samples[-1][1]:.1f} MB, "
                f"all processes {samples[-1][2]:.1f} MB",
                flush=True,
            )
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
    warm = [s for s in samples if s[0] >= min(50, cycles // 10)][:3]
    print(
        f"{len(runs)} crawl runs in {time.monotonic() - start:.0f} s "
        f"({sum(r.status == 'ok' for r in runs)} ok, {releases} releases)"
    )
    for label, column in (("service alone", 1), ("all its processes", 2)):
        early = sum(s[column] for s in warm) / max(len(warm), 1)
        end = samples[-1][column]
        print(
            f"{label}: after warm-up {early:.1f} MB, peak {max(s[column] for s in samples):.1f} "
            f"MB, at the end {end:.1f} MB ({(end - early) / early * 100:+.1f} %)"
        )
    print(f"(bars: all processes <= 200 MB at peak, <= 5 % growth); exit code {proc.returncode}")


if __name__ == "__main__":
    main()
