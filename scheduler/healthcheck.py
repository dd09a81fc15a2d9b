"""The container's HEALTHCHECK: `python -m scheduler.healthcheck` (standard library only: it
runs every 30 s).

The role comes from the container's command (PID 1 is tini, `tini -- iomwatch run --role web`).
Roles with an HTTP port (`all`, `web`) are healthy when `/healthz` answers 200: for `all` that
says the scheduler and the crawl worker are alive too. The scheduler and worker roles have no
port: asking 8080 would ask another container's web role under `--network host` (a healthy
answer about someone else), so they are healthy while they run; their liveness is in the
database (the scheduler's lock, the workers' heartbeats), shown by `/status` of a web replica.
"""

from __future__ import annotations

import os
import sys
import urllib.request
from collections.abc import Sequence
from pathlib import Path

TIMEOUT_SECONDS = 4.0  # under the HEALTHCHECK's own --timeout (5 s)


def role_of(command: Sequence[str]) -> str:
    """The role of an `iomwatch` command line (`run` alone is `all`)."""
    args = list(command)
    if "--role" in args[:-1]:
        return args[args.index("--role") + 1]
    for arg in args:
        if arg.startswith("--role="):
            return arg.split("=", 1)[1]
    if "iomwatch" in {Path(a).name for a in args} and "worker" in args:
        return "worker"
    return "all"


def container_command() -> list[str]:
    """PID 1's command line (the container's CMD under tini)."""
    raw = Path("/proc/1/cmdline").read_bytes()
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def healthy(role: str, port: str) -> bool:
    if role in ("scheduler", "worker"):
        return True
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=TIMEOUT_SECONDS):
            return True  # urlopen raises for a 503 ("failing")
    except OSError:
        return False


def main() -> int:
    role = role_of(container_command())
    return 0 if healthy(role, os.environ.get("IOMWATCH_SERVER_PORT", "8080")) else 1


if __name__ == "__main__":
    sys.exit(main())
