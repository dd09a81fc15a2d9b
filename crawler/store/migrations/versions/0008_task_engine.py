"""task engine: procrastinate's tables on PostgreSQL (issue 12, scale-out).

A deployment spread over several machines hands crawl jobs and alert deliveries to
procrastinate, whose jobs live in the store's own database. Its schema is created here, inside
the store's migration (one advisory lock, one transaction), so that processes starting
together on an empty database create it once. SQLite stores have no use for it: the
single-process service feeds its crawl worker directly.

Upgrading procrastinate past a schema change means a new revision that runs its migration
files (procrastinate's `sql/migrations`, named by version) for the versions in between.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

TABLES = (
    "procrastinate_events",
    "procrastinate_periodic_defers",
    "procrastinate_jobs",
    "procrastinate_workers",
)
TYPES = ("procrastinate_job_event_type", "procrastinate_job_status", "procrastinate_job_to_defer_v1")


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    from procrastinate.schema import SchemaManager  # here: Alembic loads every revision file

    # The driver's own connection: the schema is many statements with `$$` bodies and `%`
    # signs, which SQLAlchemy's text() would read as bind parameters. Same transaction.
    bind.connection.driver_connection.execute(SchemaManager.get_schema())  # type: ignore[union-attr]


DROP_ROUTINES = """
DO $$ DECLARE r record; BEGIN
  FOR r IN SELECT p.oid::regprocedure AS routine FROM pg_proc p
           JOIN pg_namespace n ON n.oid = p.pronamespace
           WHERE n.nspname = current_schema() AND p.proname LIKE 'procrastinate%'
  LOOP EXECUTE 'DROP ROUTINE IF EXISTS ' || r.routine || ' CASCADE'; END LOOP;
END $$;
"""


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    for table in TABLES:
        op.execute(f"DROP TABLE IF EXISTS {table} CASCADE")
    driver = bind.connection.driver_connection
    driver.execute(DROP_ROUTINES)  # type: ignore[union-attr]
    for name in TYPES:
        op.execute(f"DROP TYPE IF EXISTS {name} CASCADE")
