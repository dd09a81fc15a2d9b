"""Per-site locks across processes: one crawl of a site at a time, whoever starts it.

PostgreSQL: a session advisory lock on a connection held for the block; the server frees it
when that session ends, however the process died. SQLite: a `site_locks` row naming its
holder ("host:pid"), taken atomically; a row whose pid is dead on this host, or whose expiry
passed, is stale and may be taken over. On PostgreSQL the row is written too, only to say who
holds the lock (`locked_sites`, `abandon_running`). A lock is not re-entrant: a second
`site_lock` of a held site gives False, in this process as in any other.
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import delete, insert, select, text, update
from sqlalchemy.exc import DBAPIError, IntegrityError

from crawler.exceptions import StoreError
from crawler.store.base import StoreBase, upsert, writes
from crawler.store.schema import site_locks, utcnow

if TYPE_CHECKING:
    from collections.abc import Iterator

    from sqlalchemy.engine import Connection

logger = logging.getLogger(__name__)

HELD_ADVISORY_LOCKS = text(
    "SELECT classid, objid FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 1"
    " AND granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
)


def holder_id() -> str:
    """This process as a lock holder: "host:pid"."""
    return f"{socket.gethostname()}:{os.getpid()}"


def holder_alive(holder: str) -> bool:
    """Whether a holder may still run: a dead (or zombie) pid on this host does not.

    A holder on another host cannot be checked from here; only the lock's expiry frees it.
    """
    host, _, pid_text = holder.rpartition(":")
    if host != socket.gethostname():
        return True
    try:
        pid = int(pid_text)
        os.kill(pid, 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:  # alive, run by another user
        return True
    return not _zombie(pid)


def _zombie(pid: int) -> bool:
    """A killed child its parent has not reaped yet still answers kill(0) on Linux."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[:1] in (["Z"], ["X"])


def advisory_key(schema: str, site: str) -> int:
    """The bigint advisory lock of a site; the schema keeps two stores of one database apart."""
    digest = hashlib.sha256(f"iomwatch site lock\0{schema}\0{site}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class LockStore(StoreBase):
    """Which process crawls a site now; `abandon_running` asks it before failing a run."""

    lock_ttl = timedelta(hours=6)  # a holder on another host is trusted this long

    @contextmanager
    def site_lock(self, site: str) -> Iterator[bool]:
        """True while this block holds the site; False when another holder does (skip it)."""
        if self.engine.dialect.name == "postgresql":
            with self._advisory_lock(site) as held:
                yield held
            return
        me = holder_id()
        held = self._claim(site, me)
        try:
            yield held
        finally:
            if held:
                self._let_go(site, me)

    def locked_sites(self) -> set[str]:
        """Sites a live holder (this process included) holds now."""
        return set(self._live_holders())

    def held_elsewhere(self) -> set[str]:
        """Sites a live holder other than this process holds now."""
        me = holder_id()
        return {site for site, holder in self._live_holders().items() if holder != me}

    def _live_holders(self) -> dict[str, str]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(site_locks)).all()
            if self.engine.dialect.name == "postgresql":
                schema = conn.execute(text("SELECT current_schema()")).scalar_one()
                held = {(int(c), int(o)) for c, o in conn.execute(HELD_ADVISORY_LOCKS)}
                return {
                    r.site: r.holder for r in rows if _split(advisory_key(schema, r.site)) in held
                }
        now = utcnow()
        return {r.site: r.holder for r in rows if r.expires > now and holder_alive(r.holder)}

    @contextmanager
    def _advisory_lock(self, site: str) -> Iterator[bool]:
        conn = self.engine.connect()
        try:
            key = advisory_key(conn.execute(text("SELECT current_schema()")).scalar_one(), site)
            held = bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar())
            conn.commit()  # the lock is the session's: it outlives this transaction
            try:  # from here on, whatever fails, the lock is given back before the pool gets conn
                if held:
                    self._claim(site, holder_id(), force=True)
                yield held
            finally:
                if held:
                    self._let_go(site, holder_id())
                    _advisory_unlock(conn, key)
        finally:
            conn.close()

    @writes("site_locks")
    def _claim(self, site: str, me: str, *, force: bool = False) -> bool:
        """Take the site's row, if free or stale (or `force`: the advisory lock is ours)."""
        now = utcnow()
        values = {"holder": me, "acquired": now, "expires": now + self.lock_ttl}
        with self.engine.begin() as conn:
            if force:
                upsert(conn, site_locks, "site", site, values)
                return True
            current = conn.execute(select(site_locks).where(site_locks.c.site == site)).first()
            if current is None:
                return _insert_lock(conn, site, values)
            if current.expires > now and holder_alive(current.holder):
                return False
            done = conn.execute(
                update(site_locks)
                .where(site_locks.c.site == site, site_locks.c.holder == current.holder)
                .values(**values)
            )
        if done.rowcount:
            logger.warning("site %s: took over the stale lock of %s", site, current.holder)
        return bool(done.rowcount)

    def _let_go(self, site: str, me: str) -> None:
        """Drop our row; a failure only leaves it to go stale (the crawl itself is done)."""
        try:
            self._delete_lock(site, me)
        except StoreError as exc:
            logger.error("site %s: could not release its lock: %s", site, exc)

    @writes("site_locks")
    def _delete_lock(self, site: str, me: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                delete(site_locks).where(site_locks.c.site == site, site_locks.c.holder == me)
            )


def _insert_lock(conn: Connection, site: str, values: dict[str, object]) -> bool:
    try:
        conn.execute(insert(site_locks).values(site=site, **values))
    except IntegrityError:  # taken meanwhile (SQLite keeps the transaction usable)
        return False
    return True


def _split(key: int) -> tuple[int, int]:
    """How pg_locks shows a bigint key: high half as classid, low half as objid (unsigned)."""
    unsigned = key & 0xFFFF_FFFF_FFFF_FFFF
    return unsigned >> 32, unsigned & 0xFFFF_FFFF


def _advisory_unlock(conn: Connection, key: int) -> None:
    try:
        conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
        conn.commit()
    except DBAPIError:  # whatever broke, closing the session frees the lock
        logger.warning("advisory unlock failed; dropping the connection to free the lock")
        conn.invalidate()
