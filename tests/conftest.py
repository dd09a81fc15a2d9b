"""Shared fixtures: stores on SQLite and on the real PostgreSQL server.

PostgreSQL tests never skip: when the server is missing they fail, so CI notices.
Each PostgreSQL store lives in a schema of its own, dropped afterwards.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from crawler.store import Store
from replica import ReplicaServer

PG_URL = os.environ.get("IOMWATCH_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def pg_schema_url() -> Generator[str, None, None]:
    """A PostgreSQL URL whose search_path is a fresh schema; dropped when the generator closes."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    sep = "&" if "?" in PG_URL else "?"
    try:
        yield f"{PG_URL}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database URL for an empty store, once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'iomwatch.db'}"
    else:
        yield from pg_schema_url()


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    s = Store(store_url)
    yield s
    s.close()


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    s = Store(f"sqlite:///{tmp_path / 'iomwatch.db'}")
    yield s
    s.close()


@pytest.fixture
def replica() -> Iterator[ReplicaServer]:
    """Every replica site, started on loopback for one test."""
    server = ReplicaServer()
    server.start()
    yield server
    server.stop()
