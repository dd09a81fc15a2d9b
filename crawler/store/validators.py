"""HTTP validators: the ETag and Last-Modified last seen per URL, for conditional requests."""

from __future__ import annotations

from sqlalchemy import select

from crawler.store.base import StoreBase, upsert, writes
from crawler.store.identity import url_key
from crawler.store.schema import http_validators, utcnow


class ValidatorStore(StoreBase):
    """Remembers what a server said about a URL so the next fetch can ask "changed since?"."""

    def get_validators(self, url: str) -> tuple[str | None, str | None, bytes | None] | None:
        """ETag, Last-Modified and (robots.txt only) the body last seen for a URL."""
        stmt = select(http_validators).where(http_validators.c.url_hash == url_key(url))
        with self.engine.connect() as conn:
            row = conn.execute(stmt).first()
        return (row.etag, row.last_modified, row.body) if row else None

    @writes("http_validators")
    def set_validators(
        self, url: str, etag: str | None, last_modified: str | None, body: bytes | None = None
    ) -> None:
        values = {
            "url": url,
            "etag": etag,
            "last_modified": last_modified,
            "body": body,
            "checked": utcnow(),
        }
        with self.engine.begin() as conn:
            upsert(conn, http_validators, "url_hash", url_key(url), values)
