"""operator notices: delivery state of operator alerts, and listing counters on runs (issue 11).

`operator_notices` keeps, per alert, phase (raised, resolved) and channel (email, webhook),
whether its notice went out: each is delivered once, across restarts. Crawl runs get
`listings` (listing pages parsed, not 304) and `entries` (the entries they held): a fresh
listing with no entries is how a layout change shows before anything else.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from crawler.store.schema import UtcDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

COUNTERS = ("listings", "entries")


def upgrade() -> None:
    for name in COUNTERS:
        op.add_column(
            "crawl_runs", sa.Column(name, sa.Integer(), nullable=False, server_default="0")
        )
    op.create_table(
        "operator_notices",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("alert_id", sa.Integer(), nullable=False),
        sa.Column("phase", sa.String(16), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UtcDateTime(timezone=True), nullable=True),
        sa.Column("sent_at", UtcDateTime(timezone=True), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["alert_id"], ["operator_alerts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("alert_id", "phase", "channel", name="uq_operator_notices"),
    )


def downgrade() -> None:
    op.drop_table("operator_notices")
    # plain DROP COLUMN (SQLite >= 3.35), as in 0006: a batch copy would cascade
    for name in COUNTERS:
        op.execute(f"ALTER TABLE crawl_runs DROP COLUMN {name}")
