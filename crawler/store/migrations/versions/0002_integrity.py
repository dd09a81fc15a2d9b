"""integrity: URL tables keyed on a hash, release flags, permanent URL failures, site locks,
raw page per event, new run counters (issue 8).

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass  # filled by the store work of issue 8


def downgrade() -> None:
    pass
