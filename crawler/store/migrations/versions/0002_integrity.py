"""integrity: URL tables keyed on a hash, release flags, permanent URL failures, site locks,
raw page per event, new run counters (issue 8).

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from typing import Any

import sqlalchemy as sa
from alembic import op

from crawler.store.schema import UtcDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

CHUNK = 1000


def upgrade() -> None:
    op.add_column("releases", sa.Column("flags", sa.Text(), nullable=False, server_default="[]"))
    for counter in ("empty", "gone"):
        op.add_column(
            "crawl_runs", sa.Column(counter, sa.Integer(), nullable=False, server_default="0")
        )
    op.create_index("ix_crawl_runs_started", "crawl_runs", ["started"])
    op.create_index("ix_events_created_at", "events", ["created_at"])
    _rekey_release_urls()
    _rekey_http_validators()
    _create_new_tables()


def _url_key(url: str) -> str:
    """crawler.store.identity.url_key, frozen here: a migration must not change with the code."""
    return hashlib.sha256(url.encode("utf-8", "surrogatepass")).hexdigest()


def _key_columns(hashed: bool) -> list[sa.Column[Any]]:
    if hashed:
        return [
            sa.Column("url_hash", sa.String(64), primary_key=True),
            sa.Column("url", sa.Text(), nullable=False),
        ]
    return [sa.Column("url", sa.String(700), primary_key=True)]  # as 0001 had it


def _release_urls_table(hashed: bool) -> None:
    op.create_table(
        "release_urls_new",
        *_key_columns(hashed),
        sa.Column("release_id", sa.String(120), nullable=False),
        sa.ForeignKeyConstraint(["release_id"], ["releases.id"], ondelete="CASCADE"),
    )


def _http_validators_table(hashed: bool) -> None:
    op.create_table(
        "http_validators_new",
        *_key_columns(hashed),
        sa.Column("etag", sa.Text(), nullable=True),
        sa.Column("last_modified", sa.Text(), nullable=True),
        sa.Column("body", sa.LargeBinary(), nullable=True),
        sa.Column("checked", UtcDateTime(timezone=True), nullable=False),
    )


def _rekey_release_urls() -> None:
    """Re-key on the URL hash; every release's own (whole) URL is added back, since the old
    table kept only the first 700 characters of a long one."""
    _release_urls_table(hashed=True)
    conn = op.get_bind()
    old = conn.execute(sa.text("SELECT url, release_id FROM release_urls")).all()
    own = conn.execute(sa.text("SELECT url, id AS release_id FROM releases")).all()
    rows: dict[str, dict[str, Any]] = {}
    for url, rid in [*old, *own]:
        rows.setdefault(_url_key(url), {"url_hash": _url_key(url), "url": url, "release_id": rid})
    _copy("release_urls_new", rows.values())
    _replace("release_urls", fkey="release_id")


def _rekey_http_validators() -> None:
    _http_validators_table(hashed=True)
    old = op.get_bind().execute(sa.text("SELECT * FROM http_validators")).all()
    _copy("http_validators_new", ({"url_hash": _url_key(r.url), **r._asdict()} for r in old))
    _replace("http_validators", fkey=None)


def _unkey(name: str) -> None:
    """Back to the URL as key, cut to 700 characters; of URLs equal once cut, the first stays."""
    old = op.get_bind().execute(sa.text(f"SELECT * FROM {name}")).all()
    rows: dict[str, dict[str, Any]] = {}
    for row in old:
        values = row._asdict()
        del values["url_hash"]
        rows.setdefault(values["url"][:700], {**values, "url": values["url"][:700]})
    _copy(f"{name}_new", rows.values())
    _replace(name, fkey="release_id" if name == "release_urls" else None)


def _copy(table: str, rows: Iterable[dict[str, Any]]) -> None:
    """Insert rows as read: untyped columns, so stored values (dates too) pass unchanged."""
    for chunk in _chunks(rows):
        target = sa.table(table, *(sa.column(c) for c in chunk[0]))
        op.get_bind().execute(target.insert(), chunk)


def _chunks(rows: Iterable[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    chunk: list[dict[str, Any]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _replace(name: str, *, fkey: str | None) -> None:
    """Swap `<name>_new` in for `name`; on PostgreSQL, give its constraints the usual names."""
    op.drop_table(name)
    op.rename_table(f"{name}_new", name)
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"ALTER INDEX {name}_new_pkey RENAME TO {name}_pkey")
        if fkey:
            op.execute(
                f"ALTER TABLE {name} RENAME CONSTRAINT {name}_new_{fkey}_fkey TO {name}_{fkey}_fkey"
            )


def _create_new_tables() -> None:
    op.create_table(
        "release_versions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("release_id", sa.String(120), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("raw_html", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["release_id"], ["releases.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_release_versions_release_id", "release_versions", ["release_id"])
    op.create_index("ix_release_versions_created_at", "release_versions", ["created_at"])
    op.create_table(
        "url_failures",
        sa.Column("url_hash", sa.String(64), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("site", sa.String(64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("failed_at", UtcDateTime(timezone=True), nullable=False),
        sa.Column("retry_after", UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("url_hash"),
    )
    op.create_index("ix_url_failures_site", "url_failures", ["site"])
    op.create_table(
        "site_locks",
        sa.Column("site", sa.String(64), nullable=False),
        sa.Column("holder", sa.String(255), nullable=False),
        sa.Column("acquired", UtcDateTime(timezone=True), nullable=False),
        sa.Column("expires", UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("site"),
    )


def downgrade() -> None:
    """Back to 0001: the new tables, columns and indexes go; URL tables are keyed on the URL."""
    for table in ("site_locks", "url_failures", "release_versions"):
        op.drop_table(table)
    op.drop_index("ix_events_created_at", "events")
    op.drop_index("ix_crawl_runs_started", "crawl_runs")
    # Native DROP COLUMN (SQLite 3.35+), not a batch copy: rebuilding `releases` with foreign
    # keys on would cascade-delete its events and URLs.
    for table, column in (("crawl_runs", "gone"), ("crawl_runs", "empty"), ("releases", "flags")):
        op.drop_column(table, column)
    _release_urls_table(hashed=False)
    _unkey("release_urls")
    _http_validators_table(hashed=False)
    _unkey("http_validators")
