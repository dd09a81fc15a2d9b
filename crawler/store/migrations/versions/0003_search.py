"""search: full-text index over releases.search_text (SQLite FTS5, PostgreSQL tsvector + GIN).

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass  # filled by the search work of issue 8


def downgrade() -> None:
    pass
