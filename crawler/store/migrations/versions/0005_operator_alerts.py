"""operator alerts: when an alert was resolved, and one open alert per (subject, kind) (issue 9).

`operator_alerts` existed unused since 0001. The sender now raises alerts into it (a webhook
disabled), so it gets `resolved_at` and a partial unique index over the open ones: two
processes raising the same alert at once store one, the other's insert is refused.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from crawler.store.schema import UtcDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

INDEX = "ux_operator_alerts_open"


def upgrade() -> None:
    op.add_column(
        "operator_alerts", sa.Column("resolved_at", UtcDateTime(timezone=True), nullable=True)
    )
    op.create_index(
        INDEX,
        "operator_alerts",
        ["site", "kind"],
        unique=True,
        sqlite_where=sa.text("resolved = 0"),
        postgresql_where=sa.text("NOT resolved"),
    )


def downgrade() -> None:
    op.drop_index(INDEX, table_name="operator_alerts")
    with op.batch_alter_table("operator_alerts") as batch:
        batch.drop_column("resolved_at")
