"""The schema's migrations seen from outside Alembic: is a database at head, and migrating it
in a process of its own (`python -m crawler.store.migrate`, the URL on stdin).

Alembic (with Mako) is ~9 MB resident, and only a schema change needs it. Processes that live
for months (the service, a crawl worker) should not keep it for a start-up step, so:
- `at_head` compares the database's `alembic_version` with the heads of the revision files,
  read from their source: a store opened on a migrated database never imports Alembic;
- `migrate_in_child` runs the migration in a child process that exits when it is done.
The serialisation of concurrent migrations (`crawler.store.migrations.upgrade`: an advisory
lock on PostgreSQL, the write lock on SQLite) runs in whichever process migrates, unchanged.
"""

from __future__ import annotations

import ast
import functools
import subprocess
import sys
from pathlib import Path

from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

from crawler.exceptions import StoreError
from crawler.store.schema import make_engine

VERSIONS = Path(__file__).parent / "migrations" / "versions"
VERSION_TABLE = "alembic_version"  # Alembic's default, which migrations/env.py keeps
MIGRATE_COMMAND = (sys.executable, "-m", "crawler.store.migrate")
CHILD_TIMEOUT = 600.0  # a migration that rewrites big tables takes minutes, not hours


def _revision_ids(path: Path) -> tuple[str | None, tuple[str, ...]]:
    """A revision file's `revision` and its `down_revision`(s), from its source."""
    values: dict[str, object] = {}
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign):  # revision = "0002"
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:  # revision: str = ...
            target, value = node.target, node.value
        else:
            continue
        if isinstance(target, ast.Name) and target.id in ("revision", "down_revision"):
            values[target.id] = ast.literal_eval(value)
    down = values.get("down_revision")
    downs = tuple(down) if isinstance(down, tuple | list) else (down,) if down else ()
    revision = values.get("revision")
    return (revision if isinstance(revision, str) else None), tuple(map(str, downs))


@functools.cache
def head_revisions() -> frozenset[str]:
    """The revisions no other revision builds on (Alembic's heads), without Alembic."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in VERSIONS.glob("*.py"):
        revision, downs = _revision_ids(path)
        if revision is not None:
            revisions.add(revision)
            parents.update(downs)
    return frozenset(revisions - parents)


def at_head(engine: Engine) -> bool:
    """Whether the database's schema is at head: False when it has none yet, or when it cannot
    be read (the migration then says what is wrong)."""
    try:
        with engine.connect() as conn:
            if not inspect(conn).has_table(VERSION_TABLE):
                return False
            found = set(conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars())
    except DBAPIError:
        return False
    return found == head_revisions()


def migrate_in_child(url: str, *, timeout: float = CHILD_TIMEOUT) -> None:
    """Bring the database to head in a short-lived child process (none when it is at head).

    The URL goes over stdin, not the command line: a password in argv is visible to every
    user of the machine. StoreError with the child's last words when it fails.
    """
    engine = make_engine(url)
    try:
        if at_head(engine):
            return
    finally:
        engine.dispose()
    try:
        done = subprocess.run(
            MIGRATE_COMMAND, input=url, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        raise StoreError(f"the schema migration did not end within {timeout:.0f} s") from None
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines() or [f"exit code {done.returncode}"]
        raise StoreError(f"the schema migration failed: {lines[-1]}")


def main() -> int:
    """`python -m crawler.store.migrate` (the URL on stdin): migrate, exit 0; else 1."""
    from crawler.store import Store

    url = sys.stdin.readline().strip()
    try:
        with Store(url, migrate=False) as store:
            store.migrate()
    except Exception as exc:  # whatever it is, the parent gets one line (SQLAlchemy's are many)
        print(str(exc).strip().split("\n")[0] or type(exc).__name__, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
