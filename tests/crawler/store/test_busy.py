"""A locked database: writes wait, retry with backoff, then fail with StoreBusyError.

SQLite: another connection holds the write lock (BEGIN IMMEDIATE) past the URL's `?timeout=`.
PostgreSQL: another connection holds the table (LOCK TABLE) past the session's lock_timeout.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from crawler.store import ReleaseQuery, Store, StoreBusyError, StoreError
from tests.conftest import pg_schema_url
from tests.crawler.store.test_store import release

Locker = Callable[[], Callable[[], None]]  # takes the lock; returns what releases it


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def locked(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, Locker]]:
    """A store URL with a short lock wait, and a function that locks its releases table."""
    if request.param == "sqlite":
        yield _sqlite_locked(tmp_path)
    else:
        yield from _pg_locked()


def _sqlite_locked(tmp_path: Path) -> tuple[str, Locker]:
    path = tmp_path / "iomwatch.db"
    url = f"sqlite:///{path}?timeout=0.2"  # a write waits 0.2 s for another writer
    Store(url).close()

    def lock() -> Callable[[], None]:
        other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        other.execute("BEGIN IMMEDIATE")
        return other.close  # closing ends (rolls back) its transaction

    return url, lock


def _pg_locked() -> Iterator[tuple[str, Locker]]:
    schema_urls = pg_schema_url()
    base = next(schema_urls)
    url = base + "%20-clock_timeout%3D200"  # the session waits 0.2 s for a lock
    Store(url).close()
    engine = create_engine(base)

    def lock() -> Callable[[], None]:
        conn = engine.connect()
        conn.execute(text("LOCK TABLE releases IN ACCESS EXCLUSIVE MODE"))
        return conn.close

    try:
        yield url, lock
    finally:
        engine.dispose()
        schema_urls.close()


def fast_store(url: str) -> Store:
    store = Store(url, migrate=False)
    store.write_retries, store.retry_delay = 2, 0.1
    return store


def test_a_lock_held_past_timeout_and_retries_raises_store_busy_naming_the_write(
    locked: tuple[str, Locker],
) -> None:
    url, lock = locked
    release_lock = lock()
    started = time.monotonic()
    try:
        with fast_store(url) as store, pytest.raises(StoreBusyError, match=r"save_release"):
            store.save_release(release())
    finally:
        release_lock()
    assert time.monotonic() - started < 5, "the URL's timeout, not a default of 30 s"
    with fast_store(url) as store:
        assert store.save_release(release()) == "new"  # nothing half-written before


def test_a_lock_released_within_the_retry_budget_lets_the_write_through(
    locked: tuple[str, Locker],
) -> None:
    url, lock = locked
    release_lock = lock()
    threading.Timer(0.4, release_lock).start()  # budget: 3 waits of 0.2 s + 0.1 + 0.2 s
    with fast_store(url) as store:
        assert store.save_release(release()) == "new"
        assert store.count_releases(ReleaseQuery()) == 1


@pytest.mark.parametrize(("query", "millis"), [("", 30_000), ("?timeout=1.5", 1500)])
def test_sqlite_busy_timeout_is_the_urls_or_30_seconds(
    tmp_path: Path, query: str, millis: int
) -> None:
    url = f"sqlite:///{tmp_path / 'iomwatch.db'}{query}"
    with Store(url) as store, store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == millis


def test_a_bad_timeout_is_refused_naming_it(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match=r"timeout='soon' is not a number of seconds"):
        Store(f"sqlite:///{tmp_path / 'iomwatch.db'}?timeout=soon")
