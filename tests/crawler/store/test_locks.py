"""One crawl of a site at a time across processes, on SQLite and on PostgreSQL.

The holder is a real second process; killed with SIGKILL, its lock is taken over (PostgreSQL
frees the advisory lock with the session; on SQLite the holder's pid is dead).
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert

from crawler.store import Store
from crawler.store.locks import holder_alive, holder_id
from crawler.store.schema import site_locks
from tests.helpers import ROOT

HOLD = """
import sys, time
from crawler.store import Store
store = Store(sys.argv[1], migrate=False)
with store.site_lock(sys.argv[2]) as held:
    print("held" if held else "busy", flush=True)
    time.sleep(120)
"""


@pytest.fixture
def holder(store: Store) -> Iterator[subprocess.Popen[str]]:
    """Another process holding the lock of site "mali" until it is killed."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, store.url, "mali"], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdout.readline() == "held\n"
    yield proc
    proc.kill()
    proc.wait()


def test_a_site_held_by_another_process_is_refused_until_that_process_dies(
    store: Store, holder: subprocess.Popen[str]
) -> None:
    with store.site_lock("mali") as held:
        assert not held
    with store.site_lock("mena") as held:
        assert held  # locks are per site
    assert store.locked_sites() == {"mali"}
    holder.kill()  # not reaped yet: a zombie holds nothing either
    assert _taken_within(store, "mali", seconds=10)
    holder.wait()
    assert store.locked_sites() == set()


def test_abandon_running_leaves_alone_the_runs_of_a_site_another_process_holds(
    store: Store, holder: subprocess.Popen[str]
) -> None:
    mali, mena = store.start_run("mali"), store.start_run("mena")
    assert store.abandon_running(reason="service restarted") == 1
    assert {r.id: r.status for r in store.runs()} == {mali: "running", mena: "failed"}
    assert store.abandon_running("mali", "timed out") == 0
    holder.kill()
    holder.wait()
    _taken_within(store, "mali", seconds=10)  # the dead holder's lock is gone
    assert store.abandon_running("mali", "timed out") == 1


def test_the_lock_is_not_reentrant_and_is_released_after_the_block(store: Store) -> None:
    with store.site_lock("mali") as held:
        assert held
        assert store.locked_sites() == {"mali"}
        with store.site_lock("mali") as again:
            assert not again  # a second crawl in this process is refused too
        assert store.abandon_running() == 0  # nothing ran; and our own lock does not count
    assert store.locked_sites() == set()
    with store.site_lock("mali") as held:
        assert held


def test_a_lock_row_past_its_expiry_is_taken_over(sqlite_store: Store) -> None:
    now = datetime.now(UTC)
    with sqlite_store.engine.begin() as conn:
        for site, expires in (
            ("mali", now - timedelta(minutes=1)),
            ("mena", now + timedelta(hours=1)),
        ):
            row = {"site": site, "holder": "elsewhere:1", "acquired": now, "expires": expires}
            conn.execute(insert(site_locks).values(row))
    assert sqlite_store.locked_sites() == {"mena"}  # another host: trusted until it expires
    with sqlite_store.site_lock("mali") as held:
        assert held
    with sqlite_store.site_lock("mena") as held:
        assert not held


def test_holders_are_host_and_pid_and_a_dead_pid_is_not_alive() -> None:
    assert holder_alive(holder_id())
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    host = holder_id().rpartition(":")[0]
    assert not holder_alive(f"{host}:{dead.stdout.strip()}")
    assert not holder_alive(f"{host}:not-a-pid")


def _taken_within(store: Store, site: str, *, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with store.site_lock(site) as held:
            if held:
                return True
        time.sleep(0.05)
    return False
