"""Retention: history older than the retention period goes; releases and waiting alerts stay.

Releases are kept for good; only the history around them is pruned (a million runs, about
120 days at the defaults, made /metrics take seconds): crawl runs, events, raw page versions,
and the alerts' own history, outbox rows that are done (sent or dead) and the webhook
delivery log. An alert still to send (pending, failed) is never pruned, however old.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import delete

from crawler.store.base import StoreBase, writes
from crawler.store.schema import crawl_runs, events, outbox, release_versions, webhook_deliveries

if TYPE_CHECKING:
    from datetime import datetime

DONE = ("sent", "dead")  # outbox states nothing will send again (a replay requeues first)


class RetentionStore(StoreBase):
    """Deletes the history older than a cut-off, never a release or an alert still to send."""

    @writes("crawl_runs, events, release_versions, outbox, webhook_deliveries")
    def prune(self, older_than: datetime) -> dict[str, int]:
        """Delete what was created before `older_than`; how many rows went, per table.

        A run still "running" is left alone: `abandon_running` ends it first. An old outbox
        row's later delivery attempts (newer than the cut-off) go with it (ON DELETE CASCADE).
        """
        statements = {
            "crawl_runs": delete(crawl_runs).where(
                crawl_runs.c.started < older_than, crawl_runs.c.status != "running"
            ),
            "events": delete(events).where(events.c.created_at < older_than),
            "release_versions": delete(release_versions).where(
                release_versions.c.created_at < older_than
            ),
            "webhook_deliveries": delete(webhook_deliveries).where(
                webhook_deliveries.c.at < older_than
            ),
            "outbox": delete(outbox).where(
                outbox.c.created_at < older_than, outbox.c.state.in_(DONE)
            ),
        }
        with self.engine.begin() as conn:
            return {table: int(conn.execute(stmt).rowcount) for table, stmt in statements.items()}
