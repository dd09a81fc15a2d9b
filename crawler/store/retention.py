"""Retention: crawl runs, events and raw page versions older than the retention period go.

Releases are kept for good; only the history around them is pruned (a million runs, about
120 days at the defaults, made /metrics take seconds).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import delete

from crawler.store.base import StoreBase, writes
from crawler.store.schema import crawl_runs, events, release_versions

if TYPE_CHECKING:
    from datetime import datetime


class RetentionStore(StoreBase):
    """Deletes the history older than a cut-off, never a release."""

    @writes("crawl_runs, events, release_versions")
    def prune(self, older_than: datetime) -> dict[str, int]:
        """Delete what was created before `older_than`; how many rows went, per table.

        A run still "running" is left alone: `abandon_running` ends it first.
        """
        statements = {
            "crawl_runs": delete(crawl_runs).where(
                crawl_runs.c.started < older_than, crawl_runs.c.status != "running"
            ),
            "events": delete(events).where(events.c.created_at < older_than),
            "release_versions": delete(release_versions).where(
                release_versions.c.created_at < older_than
            ),
        }
        with self.engine.begin() as conn:
            return {table: int(conn.execute(stmt).rowcount) for table, stmt in statements.items()}
