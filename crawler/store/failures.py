"""Permanent URL failures: an article that answered 404/410 or that robots.txt forbids.

Remembered per URL with a retry-after, so a dead article neither counts as an error on every
crawl (which would keep its listing's validators from ever being saved) nor is fetched again
before then.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import delete, select

from crawler.store.base import StoreBase, upsert, writes
from crawler.store.identity import url_key
from crawler.store.schema import url_failures, utcnow

if TYPE_CHECKING:
    from collections.abc import Iterable
    from datetime import datetime

MAX_REASON_CHARS = 500  # a reason is a status or a sentence, never a page


class FailureStore(StoreBase):
    """Remembers which article URLs failed for good, and until when to leave them alone."""

    @writes("url_failures")
    def remember_failure(self, site: str, url: str, reason: str, *, retry_after: datetime) -> None:
        values = {
            "url": url,
            "site": site,
            "reason": reason[:MAX_REASON_CHARS],
            "failed_at": utcnow(),
            "retry_after": retry_after,
        }
        with self.engine.begin() as conn:
            upsert(conn, url_failures, "url_hash", url_key(url), values)

    def failing_urls(self, urls: Iterable[str]) -> set[str]:
        """Those of these URLs whose remembered failure is not due for a retry yet."""
        wanted = {url_key(u): u for u in urls}
        if not wanted:
            return set()
        stmt = select(url_failures.c.url_hash).where(
            url_failures.c.url_hash.in_(list(wanted)), url_failures.c.retry_after > utcnow()
        )
        with self.engine.connect() as conn:
            return {wanted[r.url_hash] for r in conn.execute(stmt)}

    def expired_failures(self, site: str, limit: int = 50) -> list[str]:
        """This site's failing URLs whose retry-after has passed, longest due first.

        The spider fetches them again at start: a listing that keeps answering 304 would
        otherwise never show them again, and a page that came back would stay missing.
        """
        stmt = (
            select(url_failures.c.url)
            .where(url_failures.c.site == site, url_failures.c.retry_after <= utcnow())
            .order_by(url_failures.c.retry_after, url_failures.c.url_hash)
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [r.url for r in conn.execute(stmt)]

    @writes("url_failures")
    def forget_failure(self, url: str) -> None:
        """The URL gave a release after all: it is not failing any more."""
        with self.engine.begin() as conn:
            conn.execute(delete(url_failures).where(url_failures.c.url_hash == url_key(url)))
