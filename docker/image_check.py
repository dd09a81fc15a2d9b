"""The image, run for real: `make image-test` (docker/image_check.py --image iomwatch:latest).

On the host: the replica (one site) and an aiosmtpd mailbox on loopback. In the container,
with --network host: `iomwatch run` (tini as PID 1) configured by a mounted TOML file. Checks:
the Docker health check turns healthy and /healthz names the scheduler and the crawl worker;
after the first crawl a release published on the replica reaches /feed.atom and the mailbox;
`docker stop` (SIGTERM) during a hanging crawl ends the service with exit code 0 within the
stop timeout.
Prints one line per step; exits non-zero with the container's log on the first failure.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from aiosmtpd.controller import Controller

from replica import ReplicaServer

SITE = "mena"
SUBSCRIBER = "analyst@example.org"


class Mailbox:
    """An aiosmtpd handler that keeps the subjects of the messages it receives."""

    def __init__(self) -> None:
        self.subjects: list[str] = []

    async def handle_DATA(self, server: object, session: object, envelope: Any) -> str:
        for line in envelope.content.decode("utf-8", "replace").splitlines():
            if line.lower().startswith("subject:"):
                self.subjects.append(line.split(":", 1)[1].strip())
        return "250 2.0.0 queued"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(what: str, predicate: Callable[[], bool], timeout: float) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        try:
            if predicate():
                took = time.monotonic() - start
                print(f"ok   {what} ({took:.1f} s)", flush=True)
                return took
        except (httpx.HTTPError, json.JSONDecodeError):
            pass
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout:.0f} s: {what}")


def docker(*args: str) -> str:
    done = subprocess.run(["docker", *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise AssertionError(f"docker {args[0]} failed: {done.stderr.strip()}")
    return done.stdout.strip()


def write_config(folder: Path, sites: Path, port: int, smtp_port: int) -> None:
    """Paths are the container's: the folder is mounted at /config, the data is in /data."""
    (folder / "config.toml").write_text(
        f'sites_file = "/config/{sites.name}"\n'
        "[crawl]\ninterval_minutes = 0.1\njitter_seconds = 0\ndownload_delay = 0\n"
        "max_backfill_pages = 10\ndownload_timeout = 3\ntimeout_seconds = 120\n"
        "stop_grace_seconds = 5\n"
        f'[server]\nport = {port}\nbase_url = "http://127.0.0.1:{port}"\n'
        f'[smtp]\nhost = "127.0.0.1"\nport = {smtp_port}\ntimeout_seconds = 3\n'
        f'[[subscriber]]\nemail = "{SUBSCRIBER}"\nsite = ["{SITE}"]\n',
        encoding="utf-8",
    )
    for path in (folder, *folder.iterdir()):
        path.chmod(0o755 if path.is_dir() else 0o644)  # the image's user is not ours


def first_crawl_done(base: str) -> bool:
    status = httpx.get(f"{base}/status", headers={"Accept": "application/json"}).json()
    row = next(r for r in status["sites"] if r["id"] == SITE)
    last = row.get("last_run") or {}
    return last.get("status") not in (None, "running") and row["releases"] > 0


def crawling(base: str) -> bool:
    status = httpx.get(f"{base}/status", headers={"Accept": "application/json"}).json()
    return SITE in status.get("running", [])


def in_container(name: str) -> None:
    """PID 1 is tini, the service is its child, and the crawl worker is alive below it."""
    script = (
        "import os\n"
        "for p in sorted(os.listdir('/proc'), key=lambda s: s.zfill(9)):\n"
        "    if p.isdigit() and int(p) != os.getpid():\n"
        "        c = open(f'/proc/{p}/cmdline','rb').read().replace(b'\\0',b' ').decode()\n"
        "        print(p, c.strip())\n"
    )
    processes = docker("exec", name, "python", "-c", script)
    print("     processes in the container:")
    for line in processes.splitlines():
        print(f"       {line}")
    first = processes.splitlines()[0]
    assert first.startswith("1 /usr/bin/tini"), f"PID 1 is not tini: {first}"
    assert "iomwatch run" in processes and "crawler.worker" in processes, processes
    print("ok   PID 1 is tini; iomwatch run and its crawl worker run under it")


def scenario(image: str, stop_timeout: int, folder: Path, log_lines: int) -> None:
    port, mailbox = free_port(), Mailbox()
    smtp = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    replica = ReplicaServer(sites=[SITE]).start()
    smtp.start()
    name = f"iomwatch-check-{os.getpid()}"
    base = f"http://127.0.0.1:{port}"
    try:
        sites = replica.write_sites_file(folder / "sites.toml")
        write_config(folder, Path(sites), port, smtp.port)
        docker(
            "run", "-d", "--name", name, "--network", "host", "--stop-timeout", str(stop_timeout),
            "--health-interval", "2s", "--health-start-period", "5s",
            "-v", f"{folder}:/config:ro", "-e", "IOMWATCH_CONFIG=/config/config.toml",
            "-e", f"IOMWATCH_SERVER_PORT={port}", image,  # the image's ENV beats the file
        )  # fmt: skip
        print(f"ok   started {image} as {name} (port {port}, smtp {smtp.port})", flush=True)
        wait_for("/healthz answers", lambda: httpx.get(f"{base}/healthz").status_code == 200, 60)
        wait_for("the first crawl stored the replica site", lambda: first_crawl_done(base), 180)
        health = lambda: docker("inspect", "-f", "{{.State.Health.Status}}", name) == "healthy"  # noqa: E731
        wait_for("the image's HEALTHCHECK reports healthy", health, 60)
        print(f"     /healthz: {httpx.get(f'{base}/healthz').text}")
        in_container(name)
        title = f"Container check release {os.getpid()}"
        replica.publish(SITE, lang="en", title=title)
        wait_for(
            "the new release in /feed.atom",
            lambda: title in httpx.get(f"{base}/feed.atom").text,
            120,
        )
        wait_for("its alert in the mailbox", lambda: any(title in s for s in mailbox.subjects), 60)
        replica.set_fault(SITE, "", "timeout")  # the next crawl hangs on its pages: stop mid-crawl
        wait_for("a crawl in progress (the replica hangs)", lambda: crawling(base), 60)
        stop(name, stop_timeout, log_lines)
    except BaseException:
        print(container_log(name, 60), file=sys.stderr)
        raise
    finally:
        if container_exists(name):
            subprocess.run(["docker", "rm", "-f", "-v", name], capture_output=True, check=False)
        smtp.stop()
        replica.stop()


def container_exists(name: str) -> bool:
    done = subprocess.run(["docker", "inspect", name], capture_output=True, check=False)
    return done.returncode == 0


def container_log(name: str, lines: int) -> str:
    """The service logs to stderr: both streams, merged."""
    done = subprocess.run(
        ["docker", "logs", "--tail", str(lines), name],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False,
    )  # fmt: skip
    return done.stdout.strip()


def stop(name: str, stop_timeout: int, log_lines: int) -> None:
    start = time.monotonic()
    docker("stop", "-t", str(stop_timeout), name)  # SIGTERM (STOPSIGNAL); SIGKILL after the timeout
    took = time.monotonic() - start
    code = docker("inspect", "-f", "{{.State.ExitCode}}", name)
    tail = container_log(name, log_lines).splitlines()
    assert code == "0", f"exit code {code} after SIGTERM: {tail}"
    assert took < stop_timeout, f"docker stop took {took:.1f} s (timeout {stop_timeout} s)"
    print(f"ok   SIGTERM: exit code 0 in {took:.1f} s (stop timeout {stop_timeout} s)")
    for line in tail:
        print(f"       {line}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", default="iomwatch:latest")
    parser.add_argument("--stop-timeout", type=int, default=60)
    parser.add_argument("--log-lines", type=int, default=3, help="of the log after the stop")
    args = parser.parse_args(argv)
    print(f"     image size: {docker('image', 'ls', args.image, '--format', '{{.Size}}')}")
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="iomwatch-image-") as folder:
        scenario(args.image, args.stop_timeout, Path(folder), args.log_lines)
    print(f"PASS image check in {time.monotonic() - start:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
