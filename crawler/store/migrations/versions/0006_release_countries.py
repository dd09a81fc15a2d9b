"""release countries: the countries each release is about, as a JSON list (issue 10).

One new column with a default; nothing existing changes. Releases stored before it have no
tags (`[]`): the `country` filter still matches them by their site's country.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "releases",
        sa.Column("countries", sa.Text(), nullable=False, server_default="[]"),
    )


def downgrade() -> None:
    # A plain DROP COLUMN (SQLite >= 3.35), not a batch copy of `releases`: with foreign keys
    # on, dropping the old table would cascade to every table that references it.
    op.execute("ALTER TABLE releases DROP COLUMN countries")
