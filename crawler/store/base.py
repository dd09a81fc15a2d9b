"""What every part of the store shares: the engine, migrations, write retries and the upsert."""

from __future__ import annotations

import functools
import logging
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, Self, TypeVar

from sqlalchemy import insert, update
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from crawler.exceptions import StoreBusyError, StoreError
from crawler.store.migrate import at_head
from crawler.store.schema import make_engine

if TYPE_CHECKING:
    from sqlalchemy import Table
    from sqlalchemy.engine import Connection

logger = logging.getLogger(__name__)

# PostgreSQL errors that mean "another transaction was in the way": serialization failure,
# deadlock detected, lock not available (lock_timeout). The same write may succeed again.
TRANSIENT_SQLSTATES = frozenset({"40001", "40P01", "55P03"})

S = TypeVar("S", bound="StoreBase")
P = ParamSpec("P")
R = TypeVar("R")


def is_transient(exc: DBAPIError) -> bool:
    """Whether a failed statement met a lock another connection held (worth a retry)."""
    if getattr(exc.orig, "sqlstate", None) in TRANSIENT_SQLSTATES:
        return True
    if isinstance(exc.orig, sqlite3.OperationalError):
        message = str(exc.orig).lower()
        return "locked" in message or "busy" in message
    return False


class StoreBase:
    """Owns the engine of one database; each concern of the store builds on it."""

    # A write that meets a locked database is tried again this many times, waiting
    # retry_delay, then twice that, and so on (on top of SQLite's own busy timeout).
    write_retries = 3
    retry_delay = 0.5

    def __init__(self, url: str, *, migrate: bool = True) -> None:
        self.url = url
        self.engine = make_engine(url)
        if migrate:
            self.migrate()

    def migrate(self) -> None:
        """Bring the schema to the latest Alembic revision (Alembic imported only to change it:
        long-lived processes open stores on a migrated database, see crawler.store.migrate)."""
        if at_head(self.engine):
            return
        from crawler.store.migrations import upgrade

        try:
            self.retrying("migrate (alembic_version)", lambda: upgrade(self.engine))
        except OperationalError as exc:
            raise StoreError(f"database {self.url.split('@')[-1]!r}: {exc.orig}") from None

    def retrying(self, op: str, write: Callable[[], R]) -> R:
        """Run `write` (one transaction), again after a transient lock error, within the budget."""
        attempt = 0
        while True:
            try:
                return write()
            except DBAPIError as exc:
                if not is_transient(exc):
                    raise
                attempt += 1
                if attempt > self.write_retries:
                    raise StoreBusyError(
                        f"{op}: the database stayed locked through {attempt} attempts ({exc.orig})"
                    ) from None
                delay = self.retry_delay * 2 ** (attempt - 1)
                logger.warning(
                    "%s: database locked (%s); retry %d of %d in %.1f s",
                    op,
                    exc.orig,
                    attempt,
                    self.write_retries,
                    delay,
                )
                time.sleep(delay)

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        with self.engine.begin() as conn:
            yield conn


def writes(
    table: str,
) -> Callable[[Callable[Concatenate[S, P], R]], Callable[Concatenate[S, P], R]]:
    """Mark a store method as one write transaction to `table`, retried on a locked database.

    The method must be safe to run again from the start: its transaction rolled back whole.
    """

    def decorate(method: Callable[Concatenate[S, P], R]) -> Callable[Concatenate[S, P], R]:
        op = f"{method.__name__} ({table})"

        @functools.wraps(method)
        def wrapper(self: S, /, *args: P.args, **kwargs: P.kwargs) -> R:
            return self.retrying(op, lambda: method(self, *args, **kwargs))

        return wrapper

    return decorate


def upsert(conn: Connection, table: Table, key: str, value: str, values: dict[str, Any]) -> None:
    """Update the row whose `key` column is `value`, or insert it.

    Update-then-insert rather than a dialect's ON CONFLICT, so SQLite and PostgreSQL share it.
    """
    column = table.c[key]
    done = conn.execute(update(table).where(column == value).values(**values))
    if done.rowcount:
        return
    try:
        with conn.begin_nested():
            conn.execute(insert(table).values({key: value, **values}))
    except IntegrityError:  # another writer inserted it meanwhile: ours is the later value
        conn.execute(update(table).where(column == value).values(**values))
