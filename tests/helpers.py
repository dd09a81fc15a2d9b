"""Helpers shared by tests: run the real `iomwatch` command line against a config file."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def write_config(
    path: Path, *, sites_file: Path, database_url: str, data_dir: Path, extra: str = ""
) -> Path:
    path.write_text(
        f'sites_file = "{sites_file}"\n'
        f'data_dir = "{data_dir}"\n'
        f'[database]\nurl = "{database_url}"\n'
        "[crawl]\ndownload_delay = 0\nmax_backfill_pages = 10\ndownload_timeout = 3\n"
        "timeout_seconds = 120\n" + extra,
        encoding="utf-8",
    )
    return path


def iomwatch(
    *args: str, timeout: float = 180, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run `python -m scheduler ARGS` (the installed `iomwatch`) and capture its output."""
    full_env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("IOMWATCH_") or k.startswith("IOMWATCH_TEST_")
    }
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "scheduler", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        env=full_env,
        check=False,
    )


def free_port() -> int:
    """A TCP port free on loopback right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
