"""Migrations: 0002 carries rows over, the schema matches the tables, processes migrate together,
a store on a migrated database never imports Alembic, a child process migrates for the service.

On SQLite and on the real PostgreSQL server.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import CursorResult, column, create_engine, select, table, text

from crawler.exceptions import StoreError
from crawler.store import ReleaseQuery, Store
from crawler.store.migrate import at_head, head_revisions, migrate_in_child
from crawler.store.migrations import alembic_config, upgrade
from crawler.store.schema import UtcDateTime, metadata
from tests.helpers import ROOT

WHEN = datetime(2024, 1, 1, tzinfo=UTC)
LONG = "https://mena.iom.int/ar/news/" + "%D8%A7" * 300  # over 700 characters


def _insert(conn: Any, name: str, row: dict[str, Any]) -> None:
    """An insert naming only the columns given (the 0001 schema lacks the new ones)."""
    columns = [
        column(k, UtcDateTime()) if isinstance(v, datetime) else column(k) for k, v in row.items()
    ]
    conn.execute(table(name, *columns).insert().values(row))


def _fill_0001(url: str) -> None:
    engine = create_engine(url)
    upgrade(engine, "0001")
    times = {"first_seen": WHEN, "updated": WHEN, "last_crawled": WHEN}
    empty = {"body_text": "", "body_html": "", "summary": "", "search_text": ""}
    with engine.begin() as conn:
        for rid, page in (("mena-1", LONG), ("mena-2", "https://mena.iom.int/ar/news/b")):
            _insert(
                conn,
                "releases",
                {"id": rid, "site": "mena", "url": page, "group_key": rid, "lang": "ar"}
                | {"type": "news", "attachments": "[]", "translations": "{}"}
                | {"content_hash": rid, **times, **empty},
            )
        _insert(conn, "release_urls", {"url": LONG[:700], "release_id": "mena-1"})
        _insert(conn, "release_urls", {"url": "https://mena.iom.int/b-0", "release_id": "mena-2"})
        _insert(conn, "http_validators", {"url": "http://h/news", "etag": '"e"', "checked": WHEN})
        counters = dict.fromkeys(("pages", "not_modified", "items", "new", "updated"), 1)
        _insert(
            conn,
            "crawl_runs",
            {"site": "mena", "started": WHEN, "status": "ok", "errors": 0, "bytes": 9}
            | {**counters, "coverage": "{}"},
        )
    engine.dispose()


def test_0002_carries_existing_rows_over_and_down_again(store_url: str) -> None:
    _fill_0001(store_url)
    with Store(store_url) as store:
        assert store.known_urls([LONG, "https://mena.iom.int/b-0", "https://x/"]) == {
            LONG,  # the release's own URL, whole again
            "https://mena.iom.int/b-0",
        }
        assert store.get_validators("http://h/news") == ('"e"', None, None)
        run = store.runs("mena")[0]
        assert (run.pages, run.bytes, run.empty, run.gone, run.started) == (1, 9, 0, 0, WHEN)
        assert {r.flags for r in store.query_releases(ReleaseQuery())} == {()}
        with store.engine.begin() as conn:  # and back: the 0001 tables, rows kept
            config = alembic_config()
            config.attributes["connection"] = conn
            command.downgrade(config, "0001")
        with store.engine.connect() as conn:
            urls = conn.execute(text("SELECT url FROM release_urls ORDER BY url")).scalars()
            assert [len(u) for u in urls] == [700, len("https://mena.iom.int/ar/news/b"), 24]
        upgrade(store.engine)
        assert store.get_validators("http://h/news") == ('"e"', None, None)


@pytest.mark.filterwarnings("ignore:Skipped unsupported reflection of expression-based index")
def test_the_migrated_schema_has_every_table_and_column_of_the_code(store: Store) -> None:
    """What the tables in schema.py declare, migrations create (other additions, such as a
    search index, are the search module's and not declared there)."""
    with store.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diffs = compare_metadata(context, metadata)
    missing = [d for d in diffs if not (isinstance(d, tuple) and d[0].startswith("remove_"))]
    assert missing == []


MIGRATE = """
import sys
from crawler.store import Store
from crawler.store.migrate import migrate_in_child
print("ready", flush=True)
sys.stdin.readline()
if sys.argv[2] == "child":
    migrate_in_child(sys.argv[1])
Store(sys.argv[1]).close()
"""


@pytest.mark.parametrize("how", ["in-process", "child"])
def test_three_processes_migrating_an_empty_database_at_once_all_succeed(
    store_url: str, how: str
) -> None:
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", MIGRATE, store_url, how],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    for proc in procs:  # every one imported and waiting: then all go at once
        assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
    results = [proc.communicate(timeout=60) for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0, 0], [err for _, err in results]
    engine = create_engine(store_url)
    with engine.connect() as conn:
        versions: CursorResult[Any] = conn.execute(
            select(column("version_num")).select_from(table("alembic_version"))
        )
        assert len(versions.all()) == 1
    engine.dispose()


def test_the_heads_read_from_the_revision_files_are_alembics() -> None:
    script = ScriptDirectory.from_config(alembic_config())
    assert head_revisions() == frozenset(script.get_heads())
    assert len(head_revisions()) == 1


def test_a_database_is_at_head_only_once_every_migration_ran(store_url: str) -> None:
    engine = create_engine(store_url)
    assert not at_head(engine)  # empty: no alembic_version yet
    upgrade(engine, "0001")
    assert not at_head(engine)
    upgrade(engine)
    assert at_head(engine)
    engine.dispose()


OPEN_MIGRATED = """
import sys
from crawler.store import Store
from crawler.store.migrate import migrate_in_child
migrate_in_child(sys.argv[1])
Store(sys.argv[1]).close()
print(sorted(m for m in sys.modules if m.split(".")[0] in ("alembic", "mako")))
"""


def test_the_child_migrates_and_the_parent_never_imports_alembic(store_url: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", OPEN_MIGRATED, store_url],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
    engine = create_engine(store_url)
    assert at_head(engine)
    engine.dispose()


def test_a_child_migration_that_fails_says_why(tmp_path: Path) -> None:
    bad = tmp_path / "not-a-database.db"
    bad.write_bytes(b"this is no SQLite file" * 100)
    with pytest.raises(StoreError, match=r"the schema migration failed: .*not a database"):
        migrate_in_child(f"sqlite:///{bad}")
