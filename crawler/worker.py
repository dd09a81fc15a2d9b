"""A long-lived crawl worker: Scrapy imported once, many crawls on one asyncio reactor.

Why not a fresh process per crawl: an idle check of a site whose listings all answer 304
cost 2.4–3.0 s of CPU that way (interpreter start, Scrapy's import, the crawler set-up), a
quarter of a core for the 174 bundled sites every 30 minutes. A worker pays the start once;
a crawl then costs its crawler's set-up and its requests. The worker is still a process of
its own: the service's HTTP server never waits behind Scrapy's CPU-bound parsing, and a hung
or bloated worker is killed and replaced without the service noticing more than a failed run.

Like Celery's max-tasks-per-child, a worker retires after `max_crawls` crawls or once its
resident memory passes `max_rss_mb`: it takes no new job, finishes the running ones, says
"retiring" and exits; its parent starts a fresh one. Each crawl has its own timeout: past it
the worker stops the crawl (Scrapy closes the spider, the run is recorded as failed); a crawl
that does not stop within the grace is the parent's to kill, with the whole worker.

The source of jobs is pluggable (`JobSource`): `PipeJobs` reads them from the parent over
stdin (one JSON object per line) and reports results on a private copy of stdout, so a stray
`print` in a component cannot corrupt the channel (fd 1 is pointed at stderr). A distributed
engine feeds `CrawlWorker.run_job` the same way.

    parent -> worker   {"type": "crawl", "job": "<id>", "site": "<site id>"}   |  {"type": "stop"}
    worker -> parent   {"type": "ready", "pid": n}
                       {"type": "done", "job": "<id>", "site": ..., "status": ..., "reason": ...,
                        "run_id": n, "counters": {...}, "seconds": s, "cpu_seconds": s}
                       {"type": "retiring", "reason": "..."}
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import resource
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any, Protocol

from scrapy.crawler import AsyncCrawlerRunner, Crawler
from scrapy.utils.log import configure_logging

from crawler.extensions import close_kept_stores, kept_store
from crawler.jobs import CrawlJob, CrawlOutcome, WorkerLimits
from crawler.run import own_runs, project_settings
from crawler.sites import Site, load_sites
from crawler.spiders.iom import IomSpider

logger = logging.getLogger(__name__)

STOP_GRACE_SECONDS = 10.0  # a stopped crawl's time to close its spider, beyond its downloads
# Loggers of a site's failed requests: Scrapy's retry and robots.txt middlewares (the latter
# with a traceback) and the spider's errbacks. A failed crawl's run carries these reasons and
# the service logs it once; a log that runs for months would repeat each failure three times.
# Shown again with `-v` (LOG_LEVEL below WARNING).
REQUEST_FAILURE_LOGGERS = (
    "scrapy.downloadermiddlewares.retry",
    "scrapy.downloadermiddlewares.robotstxt",
    "crawler.spiders.iom.requests",
)


class JobSource(Protocol):
    """Where a worker's jobs come from and where their outcomes go."""

    async def next_job(self) -> CrawlJob | None:
        """The next job; None when the source is done (the worker then retires)."""

    async def report(self, outcome: CrawlOutcome) -> None:
        """Hand back a finished job's outcome."""

    async def retiring(self, reason: str) -> None:
        """Say the worker takes no more jobs."""


def resident_mb() -> float:
    """This process's resident memory now (Linux /proc), else its peak."""
    try:
        pages = int(Path("/proc/self/statm").read_text(encoding="ascii").split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class CrawlWorker:
    """Runs crawls of known sites on one AsyncCrawlerRunner, at most `max_parallel` at once."""

    def __init__(
        self, overrides: Mapping[str, Any], sites: Sequence[Site], limits: WorkerLimits
    ) -> None:
        own = {
            "IOMWATCH_KEEP_STORE_OPEN": True,
            # Scrapy checks each callback's source for `return value` in generators, keyed on
            # the bound method: every crawl's new spider parses it again (10 ms a callback).
            "WARN_ON_GENERATOR_RETURN_VALUE": False,
        }
        settings = project_settings(
            {**overrides, **own},
            log_level=str(overrides.get("LOG_LEVEL", "WARNING")),
        )
        configure_logging(settings)  # to stderr at LOG_LEVEL, as CrawlerProcess would
        if logging.getLevelName(settings.get("LOG_LEVEL")) >= logging.WARNING:
            for name in REQUEST_FAILURE_LOGGERS:
                logging.getLogger(name).setLevel(logging.CRITICAL)
        self.database_url = str(settings["IOMWATCH_DATABASE_URL"])
        # A stopped crawl ends once its requests in flight do: within one download timeout.
        self.stop_wait = settings.getfloat("DOWNLOAD_TIMEOUT") + STOP_GRACE_SECONDS
        self.runner = AsyncCrawlerRunner(settings)
        self.sites = {site.id: site for site in sites}
        self.limits = limits
        self.crawls_done = 0

    def retire_reason(self) -> str | None:
        """Why this worker should take no more jobs, or None (never before its first crawl:
        a replacement must make progress even when the bound is below Scrapy's own size)."""
        if self.crawls_done == 0:
            return None
        if self.crawls_done >= self.limits.max_crawls:
            return f"{self.crawls_done} crawls done (max {self.limits.max_crawls})"
        rss = resident_mb()
        if rss > self.limits.max_rss_mb:
            return f"resident memory {rss:.0f} MB above {self.limits.max_rss_mb:.0f} MB"
        return None

    async def run_job(self, job: CrawlJob) -> CrawlOutcome:
        """One crawl of one site; never raises for what the site or the crawl does."""
        site = self.sites.get(job.site)
        if site is None:
            return CrawlOutcome(job.job, job.site, "failed", f"unknown site {job.site!r}")
        started, cpu = time.monotonic(), time.process_time()
        crawler = self.runner.create_crawler(IomSpider)
        reason = await self._crawl(crawler, site)
        self.crawls_done += 1
        outcome = self._outcome(job, crawler, reason)
        outcome.seconds = round(time.monotonic() - started, 3)
        outcome.cpu_seconds = round(time.process_time() - cpu, 3)
        return outcome

    async def _crawl(self, crawler: Crawler, site: Site) -> str | None:
        """Run the crawl within its timeout; the reason it failed outside Scrapy, if any."""
        task = self.runner.crawl(crawler, site=site)
        try:
            await asyncio.wait_for(asyncio.shield(task), self.limits.crawl_timeout)
        except TimeoutError:
            why = f"timed out after {self.limits.crawl_timeout:.0f} s"
            logger.error("crawl of site %s %s; stopping it", site.id, why)
            # Closing with a reason records it as the run's (a plain stop would say "shutdown").
            # A crawl that does not close in time is the parent's to kill, with this worker.
            await asyncio.wait_for(crawler.engine.close_spider_async(reason=why), self.stop_wait)
            await asyncio.wait_for(task, STOP_GRACE_SECONDS)
            return why
        except Exception as exc:  # a crawl that could not start (its run says why, if any)
            logger.error("crawl of site %s failed: %s", site.id, exc)
            return str(exc) or type(exc).__name__
        return None

    def _outcome(self, job: CrawlJob, crawler: Crawler, reason: str | None) -> CrawlOutcome:
        store = kept_store(self.database_url)
        run = own_runs(store, {job.site: crawler}).get(job.site)
        if run is not None and reason and run.status == "running":
            store.abandon_running(job.site, reason)
            run = own_runs(store, {job.site: crawler}).get(job.site)
        if run is None:
            return CrawlOutcome(job.job, job.site, "failed", reason or "the crawl never started")
        return CrawlOutcome(
            job.job,
            job.site,
            run.status,
            reason or run.reason,
            run_id=run.id,
            counters=run.counters(),
        )


async def work(worker: CrawlWorker, source: JobSource) -> str:
    """Take jobs from `source` until it ends or the worker must retire; why it stopped."""
    slots = asyncio.Semaphore(worker.limits.max_parallel)
    running: set[asyncio.Task[None]] = set()

    async def one(job: CrawlJob) -> None:
        try:
            await source.report(await worker.run_job(job))
        finally:
            slots.release()

    reason = "the job source ended"
    while True:
        await slots.acquire()
        retire = worker.retire_reason()
        if retire is not None:
            reason = retire
            break
        job = await source.next_job()
        if job is None:
            break
        task = asyncio.create_task(one(job))
        running.add(task)
        task.add_done_callback(running.discard)
    await source.retiring(reason)
    if running:
        await asyncio.wait(running)
    return reason


class PipeJobs:
    """Jobs from the parent process, one JSON line each on stdin; outcomes on `out`."""

    def __init__(self, reader: asyncio.StreamReader, out: IO[str]) -> None:
        self.reader = reader
        self.out = out

    def send(self, message: Mapping[str, Any]) -> None:
        self.out.write(json.dumps(message, separators=(",", ":")) + "\n")
        self.out.flush()

    async def next_job(self) -> CrawlJob | None:
        while True:
            line = await self.reader.readline()
            if not line:
                return None  # the parent closed the pipe (or died)
            try:
                message = json.loads(line)
            except ValueError:
                logger.error("worker: unreadable job line %r ignored", line[:200])
                continue
            if message.get("type") == "stop":
                return None
            if message.get("type") == "crawl":
                return CrawlJob(str(message.get("job", "")), str(message.get("site", "")))
            logger.error("worker: unknown message %r ignored", message.get("type"))

    async def report(self, outcome: CrawlOutcome) -> None:
        self.send(outcome.message())

    async def retiring(self, reason: str) -> None:
        self.send({"type": "retiring", "reason": reason})


def _private_stdout() -> IO[str]:
    """The protocol's own copy of stdout; fd 1 then goes to stderr (stray prints, C code)."""
    channel = os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8", buffering=1)
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    return channel


async def _stdin_reader() -> asyncio.StreamReader:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=1 << 20)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    return reader


async def serve_pipe(overrides: Mapping[str, Any], sites_file: str, limits: WorkerLimits) -> str:
    """The worker process's main coroutine: jobs from stdin until told to stop or retiring."""
    channel = _private_stdout()
    worker = CrawlWorker(overrides, load_sites(sites_file or None), limits)
    source = PipeJobs(await _stdin_reader(), channel)
    source.send({"type": "ready", "pid": os.getpid()})
    try:
        return await work(worker, source)
    finally:
        close_kept_stores()


def run_pipe_worker(overrides: Mapping[str, Any], sites_file: str, limits: WorkerLimits) -> None:
    """Install the asyncio reactor and serve jobs from stdin until stopped; react() exits."""
    from scrapy.utils.defer import deferred_f_from_coro_f
    from scrapy.utils.reactor import install_reactor
    from twisted.internet.task import react

    install_reactor("twisted.internet.asyncioreactor.AsyncioSelectorReactor")

    async def main(_reactor: object) -> None:
        reason = await serve_pipe(overrides, sites_file, limits)
        logger.info("crawl worker %d exits: %s", os.getpid(), reason)

    react(deferred_f_from_coro_f(main))


def read_hello(line: str) -> tuple[dict[str, Any], str, WorkerLimits]:
    """The first line from the parent: Scrapy settings, the sites file and the limits."""
    hello = json.loads(line)
    limits = WorkerLimits(**hello.get("limits", {}))
    return dict(hello["settings"]), str(hello.get("sites_file") or ""), limits


def _first_line() -> str:
    """The hello line, read byte by byte: a buffered read could swallow the first job."""
    data = bytearray()
    while not data.endswith(b"\n"):
        chunk = os.read(0, 1)
        if not chunk:
            break
        data += chunk
    return data.decode("utf-8")


def main() -> None:
    """`python -m crawler.worker`: started by the service, its settings on the first line."""
    overrides, sites_file, limits = read_hello(_first_line())
    run_pipe_worker(overrides, sites_file, limits)


if __name__ == "__main__":
    main()
