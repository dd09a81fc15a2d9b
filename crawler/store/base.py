"""What every part of the store shares: the engine, migrations, closing, and the upsert."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Self

from sqlalchemy import insert, update
from sqlalchemy.exc import OperationalError

from crawler.exceptions import StoreError
from crawler.store.schema import make_engine

if TYPE_CHECKING:
    from sqlalchemy import Table
    from sqlalchemy.engine import Connection


class StoreBase:
    """Owns the engine of one database; each concern of the store builds on it."""

    def __init__(self, url: str, *, migrate: bool = True) -> None:
        self.url = url
        self.engine = make_engine(url)
        if migrate:
            self.migrate()

    def migrate(self) -> None:
        """Bring the schema to the latest Alembic revision."""
        from crawler.store.migrations import upgrade

        try:
            upgrade(self.engine)
        except OperationalError as exc:
            raise StoreError(f"database {self.url.split('@')[-1]!r}: {exc.orig}") from None

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


def upsert(conn: Connection, table: Table, key: str, value: str, values: dict[str, Any]) -> None:
    """Update the row whose `key` column is `value`, or insert it.

    Update-then-insert rather than a dialect's ON CONFLICT, so SQLite and PostgreSQL share it.
    """
    column = table.c[key]
    done = conn.execute(update(table).where(column == value).values(**values))
    if done.rowcount == 0:
        conn.execute(insert(table).values({key: value, **values}))
