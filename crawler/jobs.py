"""The crawl worker's protocol: its jobs, their outcomes and its limits (Scrapy-free).

Shared by the worker (crawler/worker.py, which imports Scrapy) and the service that feeds it
(scheduler/workers.py, which must not): one definition of what crosses the pipe.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class CrawlJob:
    """One crawl to run: a job id (the source's own) and the site."""

    job: str
    site: str


@dataclass
class CrawlOutcome:
    """What a crawl did, as reported to the job's source."""

    job: str
    site: str
    status: str  # the run's status ("ok", "failed", "skipped"), or "failed" with no run
    reason: str | None = None
    run_id: int | None = None
    counters: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    cpu_seconds: float = 0.0

    def message(self) -> dict[str, Any]:
        return {"type": "done", **asdict(self)}


@dataclass
class WorkerLimits:
    """When a worker retires, and how long one crawl may take."""

    max_crawls: int = 200
    max_rss_mb: float = 120.0
    crawl_timeout: float = 1800.0
    max_parallel: int = 2
