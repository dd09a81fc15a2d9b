"""The service's side of the long-lived crawl worker (crawler/worker.py): start, feed, replace.

One worker process runs up to `max_parallel` crawls at once on its own reactor. The parent
never imports Scrapy: it writes jobs to the worker's stdin and reads outcomes from its stdout.
Memory is the reason for one worker rather than one per slot: a worker is ~90 MB resident
with Scrapy loaded, and the service's bar is 200 MB for all its processes together.

What can go wrong, and what happens:
- the worker retires (max crawls, memory): it finishes its running crawls and exits; the
  next job waits for that exit, then starts a fresh worker (never two at once);
- a crawl runs past its timeout and the worker cannot stop it (a parse loop that never
  yields): past timeout + grace the worker is killed with its process group, every job it was
  running fails with that reason, and their runs left "running" are marked failed;
- the worker dies (SIGKILL, out of memory, a crash): the same, with the signal as the reason;
- the service stops: "stop" is sent, running crawls get the grace to finish, then SIGTERM,
  then SIGKILL.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from crawler.jobs import WorkerLimits

logger = logging.getLogger(__name__)

WORKER_COMMAND = (sys.executable, "-m", "crawler.worker")
STREAM_LIMIT = 1 << 20  # one outcome line, with room to spare
NOT_TAKEN_RETRIES = 3  # a worker always takes its first job: one retry is all it needs


class WorkerLost(Exception):
    """The worker that ran a job died or was killed before reporting it."""


class _NotTaken(WorkerLost):
    """A retiring worker exited cleanly without reading the job: it never ran; send it again."""


@dataclass
class _Worker:
    proc: asyncio.subprocess.Process
    pending: dict[str, asyncio.Future[dict[str, Any]]] = field(default_factory=dict)
    retiring: bool = False
    reader: asyncio.Task[None] | None = None


class WorkerPool:
    """Runs crawl jobs on one long-lived worker process, replaced when it retires or dies."""

    def __init__(
        self,
        overrides: Mapping[str, Any],
        sites_file: str,
        limits: WorkerLimits,
        *,
        stop_grace: float = 10.0,
        command: Sequence[str] = WORKER_COMMAND,
    ) -> None:
        self.hello = {
            "settings": dict(overrides),
            "sites_file": sites_file,
            "limits": asdict(limits),
        }
        self.limits = limits
        self.stop_grace = stop_grace
        # How long a job may take before the worker is killed: its timeout, then the worker's
        # own stop (requests in flight end within a download timeout, then the spider closes).
        download_timeout = float(overrides.get("DOWNLOAD_TIMEOUT", 180))
        self.job_deadline = limits.crawl_timeout + download_timeout + 3 * stop_grace
        self.command = tuple(command)
        self.started = 0  # workers started so far (the soak bench and tests read it)
        self.stopping = False
        self._worker: _Worker | None = None
        self._starting = asyncio.Lock()
        self._jobs = 0

    @property
    def pid(self) -> int | None:
        worker = self._worker
        return worker.proc.pid if worker is not None and worker.proc.returncode is None else None

    async def crawl(self, site_id: str) -> dict[str, Any]:
        """Run one crawl; its outcome (crawler.worker.CrawlOutcome as a dict).

        Raises WorkerLost when the worker died or was killed before reporting the job.
        """
        for _ in range(NOT_TAKEN_RETRIES):
            if self.stopping:  # no new worker once the service stops
                raise WorkerLost("the crawl worker is stopping")
            try:
                return await self._crawl_once(site_id)
            except _NotTaken:
                continue  # written to a worker that had just decided to retire
        raise WorkerLost(f"no crawl worker took the crawl of site {site_id}")

    async def _crawl_once(self, site_id: str) -> dict[str, Any]:
        worker = await self._ready_worker()
        self._jobs += 1
        job = f"{os.getpid()}-{self._jobs}"
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        worker.pending[job] = future
        self._send(worker, {"type": "crawl", "job": job, "site": site_id})
        deadline = self.job_deadline
        try:
            return await asyncio.wait_for(asyncio.shield(future), deadline)
        except TimeoutError:
            logger.error(
                "crawl worker %d did not end the crawl of site %s within %.0f s; killing it",
                worker.proc.pid,
                site_id,
                deadline,
            )
            await self._kill(worker)
            return await future  # failed by the reader when the worker's pipe closed

    async def _ready_worker(self) -> _Worker:
        async with self._starting:
            worker = self._worker
            if worker is not None and (worker.retiring or worker.proc.returncode is not None):
                await worker.proc.wait()  # a retiring worker finishes its crawls first
                if worker.reader is not None:
                    await worker.reader
                worker = self._worker = None
            if worker is None:
                worker = self._worker = await self._start()
            return worker

    async def _start(self) -> _Worker:
        proc = await asyncio.create_subprocess_exec(
            *self.command,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            start_new_session=True,  # a kill takes the worker's own children with it
            limit=STREAM_LIMIT,
        )
        worker = _Worker(proc)
        self.started += 1
        self._send(worker, self.hello)
        ready = await self._read(worker)
        if ready is None or ready.get("type") != "ready":
            code = await proc.wait()
            raise WorkerLost(f"the crawl worker did not start (exit code {code})")
        worker.reader = asyncio.create_task(self._read_outcomes(worker))
        logger.info("crawl worker %d started", proc.pid)
        return worker

    def _send(self, worker: _Worker, message: Mapping[str, Any]) -> None:
        assert worker.proc.stdin is not None
        line = json.dumps(message, separators=(",", ":"), default=str) + "\n"
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            worker.proc.stdin.write(line.encode("utf-8"))

    async def _read(self, worker: _Worker) -> dict[str, Any] | None:
        assert worker.proc.stdout is not None
        line = await worker.proc.stdout.readline()
        if not line:
            return None
        try:
            message = json.loads(line)
        except ValueError:
            logger.error("crawl worker %d: unreadable line %r", worker.proc.pid, line[:200])
            return {}
        return message if isinstance(message, dict) else {}

    async def _read_outcomes(self, worker: _Worker) -> None:
        """Resolve each job's future from the worker's lines; fail the rest when it ends."""
        while (message := await self._read(worker)) is not None:
            if message.get("type") == "done":
                future = worker.pending.pop(str(message.get("job")), None)
                if future is not None and not future.done():
                    future.set_result(message)
            elif message.get("type") == "retiring":
                worker.retiring = True
                logger.info("crawl worker %d retires: %s", worker.proc.pid, message.get("reason"))
        code = await worker.proc.wait()
        # A worker that retired and exited 0 reported every job it took (it waits for them).
        lost = _NotTaken if code == 0 and worker.retiring else WorkerLost
        for future in worker.pending.values():
            if not future.done():
                future.set_exception(lost(_death(code)))
        worker.pending.clear()

    async def _kill(self, worker: _Worker) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(worker.proc.pid, signal.SIGKILL)
        await worker.proc.wait()
        if worker.reader is not None:
            await worker.reader

    async def stop(self) -> None:
        """No new jobs; running crawls get the grace to finish, then SIGTERM, then SIGKILL."""
        self.stopping = True
        worker, self._worker = self._worker, None
        if worker is None or worker.proc.returncode is not None:
            return
        self._send(worker, {"type": "stop"})
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(worker.proc.wait(), self.stop_grace)
            if worker.reader is not None:
                await worker.reader
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(worker.proc.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(worker.proc.wait(), self.stop_grace)
        except TimeoutError:
            await self._kill(worker)
        if worker.reader is not None:
            await worker.reader


def _death(code: int) -> str:
    if code < 0:
        hint = " (SIGKILL: out of memory, or killed past its timeout)" if -code == 9 else ""
        return f"the crawl worker was killed by signal {-code}{hint}"
    return f"the crawl worker exited with code {code} before reporting the crawl"
