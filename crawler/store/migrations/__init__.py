"""Alembic migrations of the release store; `upgrade(engine)` brings a database to head."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.engine import Engine

HERE = Path(__file__).parent

# pg_advisory_xact_lock key serialising migrations across processes (any constant would do;
# this one is "iomwatch" in ASCII). Held to the end of the migration transaction.
MIGRATION_LOCK = 0x696F6D7761746368


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(HERE))
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Run every pending migration inside one connection, one process at a time.

    Processes starting together on an empty database would each create the tables, and all
    but one crash (PostgreSQL: UniqueViolation on `alembic_version`; SQLite: "table already
    exists"). So the later ones wait for the first, then find the schema at head: PostgreSQL
    by an advisory lock, SQLite by taking the write lock up front. `BEGIN IMMEDIATE` also
    makes SQLite's DDL transactional: left alone, Python's sqlite3 runs it in autocommit.
    """
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": MIGRATION_LOCK})
        elif conn.dialect.name == "sqlite":
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        config = alembic_config()
        config.attributes["connection"] = conn
        command.upgrade(config, revision)
