"""Scheduled jobs. Each crawl runs as a child process (`iomwatch crawl --site ID`).

Why a child per crawl rather than Scrapy on the service's own loop: a hard timeout is a kill,
a crash or leak in one crawl cannot take the service or its memory with it, and the HTTP server
never waits behind Scrapy's CPU-bound parsing. Measured cost: ~1.2 s CPU per crawl; the parent
stays small (no Scrapy imported).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from crawler.store import Store
from scheduler.exceptions import CrawlFailed

if TYPE_CHECKING:
    from scheduler.config import ServiceConfig

logger = logging.getLogger(__name__)


@dataclass
class CrawlSupervisor:
    """Starts, bounds and stops crawl child processes; at most `max_parallel` at once."""

    command: Sequence[str]
    database_url: str
    timeout: float
    max_parallel: int = 2
    stop_grace: float = 10.0
    running: dict[str, asyncio.subprocess.Process] = field(default_factory=dict)
    last_result: dict[str, dict[str, object]] = field(default_factory=dict)
    stopping: bool = False
    on_finished: Callable[[str], None] | None = None  # e.g. refresh the feeds' change cache
    _slots: asyncio.Semaphore | None = None

    @classmethod
    def from_config(cls, config: ServiceConfig, command: Sequence[str]) -> CrawlSupervisor:
        """The service's supervisor: timeout, parallelism and stop grace from `[crawl]`."""
        return cls(
            command,
            config.database_url,
            config.crawl.timeout_seconds,
            max_parallel=config.crawl.max_parallel,
            stop_grace=config.crawl.stop_grace_seconds,
        )

    @property
    def slots(self) -> asyncio.Semaphore:
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.max_parallel)
        return self._slots

    async def crawl(self, site_id: str) -> int:
        """One crawl of one site; raises CrawlFailed (logged by the scheduler) when it fails."""
        async with self.slots:
            if self.stopping:
                return 0
            started = time.monotonic()
            proc = await asyncio.create_subprocess_exec(
                *self.command, "--site", site_id, "--quiet", start_new_session=True
            )
            self.running[site_id] = proc
            try:
                code, reason = await self._wait(site_id, proc)
            finally:
                self.running.pop(site_id, None)
            self.last_result[site_id] = {
                "exit": code,
                "seconds": round(time.monotonic() - started, 2),
            }
            if code != 0:
                # A child killed from outside (out of memory: SIGKILL) never records its end.
                self._abandon(site_id, reason or self._exit_reason(code))
            if self.on_finished is not None:
                self.on_finished(site_id)
            if code != 0 and not self.stopping:
                raise CrawlFailed(f"crawl of site {site_id} failed: {self._reason(site_id, code)}")
            return code

    def _exit_reason(self, code: int) -> str:
        """What a run its child left "running" is marked with: the stop, a signal, or the code."""
        if self.stopping:
            return "stopped at service shutdown"
        if code < 0:
            hint = " (SIGKILL: out of memory?)" if -code == signal.SIGKILL else ""
            return f"killed by signal {-code}{hint}"
        return f"exit code {code}"

    async def _wait(self, site_id: str, proc: asyncio.subprocess.Process) -> tuple[int, str | None]:
        """The child's exit code; -1 and the reason when it ran past the timeout."""
        try:
            return await asyncio.wait_for(proc.wait(), self.timeout), None
        except TimeoutError:
            logger.error(
                "crawl of site %s timed out after %.0f s; stopping it", site_id, self.timeout
            )
            await self._terminate(proc)
            return -1, f"timed out after {self.timeout:.0f} s"

    async def _terminate(self, proc: asyncio.subprocess.Process) -> None:
        """SIGTERM (Scrapy stops cleanly and records its run), then SIGKILL after the grace."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), self.stop_grace)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            await proc.wait()

    def _reason(self, site_id: str, code: int) -> str:
        """Why the crawl failed, as its child recorded it (e.g. the site is unreachable)."""
        with Store(self.database_url, migrate=False) as store:
            runs = store.runs(site_id, limit=1)
        return (runs[0].reason if runs and runs[0].reason else None) or f"exit code {code}"

    def _abandon(self, site_id: str, reason: str) -> None:
        with Store(self.database_url, migrate=False) as store:
            store.abandon_running(site_id, reason)

    async def stop(self) -> None:
        """Take no new crawls; let running ones finish within the grace, then stop them."""
        self.stopping = True
        procs = dict(self.running)
        if not procs:
            return
        logger.info("waiting up to %.0f s for %d running crawl(s)", self.stop_grace, len(procs))
        done = await asyncio.wait(
            [asyncio.ensure_future(p.wait()) for p in procs.values()], timeout=self.stop_grace
        )
        if done[1]:
            await asyncio.gather(
                *(self._terminate(p) for p in procs.values() if p.returncode is None)
            )
            for site_id, proc in procs.items():
                if proc.returncode not in (0, None):
                    self._abandon(site_id, "stopped at service shutdown")


async def crawl_site(supervisor: CrawlSupervisor, site_id: str) -> int:
    """The scheduled crawl job of one site."""
    return await supervisor.crawl(site_id)


def prune_store(database_url: str, retention_days: int) -> dict[str, int]:
    """The daily retention job: crawl runs, events and page versions past retention go.

    Releases are kept whatever their age. `retention_days` 0 keeps everything.
    """
    if retention_days <= 0:
        return {}
    older_than = datetime.now(UTC) - timedelta(days=retention_days)
    with Store(database_url, migrate=False) as store:
        counts = store.prune(older_than=older_than)
    logger.info(
        "retention: pruned %s older than %s (%d days)",
        ", ".join(f"{count} {table}" for table, count in sorted(counts.items())) or "nothing",
        older_than.isoformat(timespec="seconds"),
        retention_days,
    )
    return counts
