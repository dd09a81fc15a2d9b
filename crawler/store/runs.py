"""Crawl runs: one row per crawl of one site, from start to an ending (ok, failed, abandoned)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, insert, select, update

from crawler.store.base import writes
from crawler.store.locks import LockStore
from crawler.store.records import CrawlRun
from crawler.store.schema import crawl_runs, utcnow

if TYPE_CHECKING:
    from crawler.store.records import RunStats


class RunStore(LockStore):
    """Records crawl runs and reads them back for /status, the CLI and the metrics.

    Built on LockStore: abandoning runs must tell a dead crawl from one another process runs.
    """

    @writes("crawl_runs")
    def start_run(self, site: str) -> int:
        with self.engine.begin() as conn:
            result = conn.execute(
                insert(crawl_runs)
                .values(site=site, started=utcnow(), status="running")
                .returning(crawl_runs.c.id)
            )
            return int(result.scalar_one())

    @writes("crawl_runs")
    def finish_run(
        self, run_id: int, stats: RunStats, *, status: str = "ok", reason: str | None = None
    ) -> None:
        now = utcnow()
        with self.engine.begin() as conn:
            started = conn.execute(
                select(crawl_runs.c.started).where(crawl_runs.c.id == run_id)
            ).scalar_one()
            conn.execute(
                update(crawl_runs)
                .where(crawl_runs.c.id == run_id)
                .values(
                    finished=now,
                    status=status,
                    reason=reason,
                    **stats.counters(),
                    duration=(now - started).total_seconds(),
                    coverage=json.dumps(stats.coverage),
                )
            )

    @writes("crawl_runs")
    def abandon_running(self, site: str | None = None, reason: str = "interrupted") -> int:
        """Mark runs left 'running' by a killed or timed-out crawl as failed.

        The runs of a site another live process holds (`site_lock`) are left alone: that
        crawl is running, not left behind.
        """
        stmt = update(crawl_runs).where(crawl_runs.c.status == "running")
        if site:
            stmt = stmt.where(crawl_runs.c.site == site)
        if busy := self.held_elsewhere():
            stmt = stmt.where(crawl_runs.c.site.not_in(sorted(busy)))
        with self.engine.begin() as conn:
            result = conn.execute(stmt.values(status="failed", reason=reason, finished=utcnow()))
            return int(result.rowcount)

    def runs(self, site: str | None = None, limit: int = 50) -> list[CrawlRun]:
        """The latest runs, newest first, of one site or of all."""
        stmt = select(crawl_runs).order_by(crawl_runs.c.id.desc()).limit(limit)
        if site:
            stmt = stmt.where(crawl_runs.c.site == site)
        with self.engine.connect() as conn:
            return [_row_run(r) for r in conn.execute(stmt)]

    def run_counts(self) -> dict[tuple[str, str], int]:
        """How many runs were recorded, per (site, status)."""
        columns = (crawl_runs.c.site, crawl_runs.c.status)
        stmt = select(*columns, func.count()).group_by(*columns).order_by(*columns)
        with self.engine.connect() as conn:
            return {(site, status): int(count) for site, status, count in conn.execute(stmt)}


def _row_run(row: Any) -> CrawlRun:
    return CrawlRun(**{**row._asdict(), "coverage": json.loads(row.coverage or "{}")})
