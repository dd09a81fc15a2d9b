"""Nothing lost, nothing hidden: real `iomwatch crawl` children against one small replica site.

Each test drives a fault that used to lose a release or hide it behind a 304 for good: a locked
database, a dead article, an over-long URL, an oversize page, two crawls of one site at once,
an XML-invalid character.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from sqlalchemy import update

from crawler.parsing.text import XML_INVALID
from crawler.parsing.urls import canonical_url
from crawler.store import ReleaseQuery, Store
from crawler.store.schema import url_failures
from replica import ReplicaServer
from tests.helpers import ROOT, iomwatch, write_config

SITE = "southsudan"  # one language, one listing, 11 releases


def crawl_child(
    config: Path, *, stdout: int | None = None, stderr: int | None = None
) -> subprocess.Popen[str]:
    """`iomwatch crawl --site SITE` started, not waited for (as `tests.helpers.iomwatch` runs it)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("IOMWATCH_")}
    command = ["-m", "scheduler", "crawl", "--config", str(config), "--site", SITE]
    return subprocess.Popen(
        [sys.executable, *command], cwd=ROOT, env=env, text=True, stdout=stdout, stderr=stderr
    )


@pytest.fixture
def replica() -> Iterator[ReplicaServer]:
    server = ReplicaServer(sites=[SITE])
    server.start()
    yield server
    server.stop()


def crawl(config: Path) -> subprocess.CompletedProcess[str]:
    result = iomwatch("crawl", "--config", str(config), "--site", SITE)
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    return result


def listing_url(replica: ReplicaServer) -> str:
    return replica.base_url(SITE) + replica.listing_paths(SITE)[0]


def stored_count(store: Store) -> int:
    return store.count_releases(ReleaseQuery(site=(SITE,)))


def page_requests(replica: ReplicaServer) -> list[tuple[str, int]]:
    return [(r.path, r.status) for r in replica.requests if not r.path.endswith("/robots.txt")]


def newest_path(replica: ReplicaServer) -> tuple[str, str]:
    newest = max(replica.releases(SITE), key=lambda r: (r.published, r.url))
    return canonical_url(newest.url), urlsplit(newest.url).path


# -- a failed store write ----------------------------------------------------------------------


def hold_write_lock_from_the_listing(replica: ReplicaServer, db: Path) -> sqlite3.Connection:
    """A connection that takes the database's write lock once the crawl reads its listing."""
    conn = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
    listing = replica.listing_paths(SITE)[0]

    def hold() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if any(r.path == listing for r in replica.requests):
                conn.execute("BEGIN IMMEDIATE")
                return
            time.sleep(0.002)

    threading.Thread(target=hold, daemon=True).start()
    return conn


def test_a_locked_database_is_an_error_and_hides_no_release(
    replica: ReplicaServer, sqlite_store: Store, tmp_path: Path
) -> None:
    db = tmp_path / "iomwatch.db"
    config = write_config(
        tmp_path / "locked.toml",
        sites_file=replica.write_sites_file(tmp_path / "sites.toml"),
        database_url=f"{sqlite_store.url}?timeout=1",  # the busy timeout the lock outlasts
        data_dir=tmp_path,
    )
    lock = hold_write_lock_from_the_listing(replica, db)
    child = crawl_child(config, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL)
    assert child.stderr is not None
    lines: list[str] = []
    for line in child.stderr:  # hold the lock until the first release fails to be stored
        lines.append(line)
        if "Error processing" in line and lock.in_transaction:
            lock.execute("ROLLBACK")
    child.wait(timeout=120)
    if lock.in_transaction:
        lock.execute("ROLLBACK")
    lock.close()
    log = "".join(lines)
    [failed_line, *_] = [line for line in lines if "Error processing" in line]
    assert len(failed_line.encode()) < 1024, "an item error is logged with its URL, not its page"
    assert all(p not in log for r in replica.releases(SITE) for p in r.body_paragraphs[1:2])

    run = sqlite_store.runs(SITE)[0]
    assert run.errors >= 1 and "not stored" in (run.reason or ""), run
    assert sqlite_store.get_validators(listing_url(replica)) is None, "the 304 would hide it"
    assert child.returncode == 0  # the site was crawled; the missing release is retried

    second = crawl(config)
    assert second.returncode == 0, second.stderr[-3000:]
    assert stored_count(sqlite_store) == len(replica.releases(SITE)), "a release was lost"


# -- a dead article ----------------------------------------------------------------------------


def test_a_dead_article_is_remembered_and_the_listing_gets_its_304_back(
    replica: ReplicaServer, config: Path, sqlite_store: Store
) -> None:
    url, path = newest_path(replica)
    replica.set_fault(SITE, path, "404")
    crawl(config)
    first = sqlite_store.runs(SITE)[0]
    assert first.errors == 1 and sqlite_store.get_validators(listing_url(replica)) is None

    replica.reset_log()
    crawl(config)
    second = sqlite_store.runs(SITE)[0]
    assert (second.errors, second.gone) == (0, 1), second
    assert path not in [p for p, _ in page_requests(replica)], "a remembered 404 is refetched"

    replica.reset_log()
    crawl(config)
    assert page_requests(replica) == [(replica.listing_paths(SITE)[0], 304)]
    assert stored_count(sqlite_store) == len(replica.releases(SITE)) - 1
    assert sqlite_store.known_urls([url]) == set()


def expire_failures(store: Store) -> None:
    """Time passed: every remembered failure is due for its retry."""
    with store.engine.begin() as conn:
        conn.execute(update(url_failures).values(retry_after=datetime.now(UTC) - timedelta(1)))


def test_an_expired_failure_is_retried_though_its_listing_answers_304(
    replica: ReplicaServer, config: Path, sqlite_store: Store
) -> None:
    url, path = newest_path(replica)
    replica.set_fault(SITE, path, "404")
    crawl(config)
    crawl(config)  # skipped as gone: the listing's validators are saved
    assert sqlite_store.get_validators(listing_url(replica)) is not None

    expire_failures(sqlite_store)
    replica.reset_log()
    crawl(config)  # still gone on its retry: remembered again, not an error
    assert (path, 404) in page_requests(replica), "an expired failure was not retried"
    run = sqlite_store.runs(SITE)[0]
    assert (run.errors, run.gone) == (0, 1), run
    assert sqlite_store.failing_urls([url]) == {url}

    replica.clear_faults()
    expire_failures(sqlite_store)
    replica.reset_log()
    crawl(config)
    assert (replica.listing_paths(SITE)[0], 304) in page_requests(replica)
    assert stored_count(sqlite_store) == len(replica.releases(SITE)), "the release was lost"
    assert sqlite_store.known_urls([url]) == {url}
    assert sqlite_store.expired_failures(SITE) == [] and sqlite_store.failing_urls([url]) == set()


def test_an_oversize_stub_is_completed_once_its_page_fits(
    replica: ReplicaServer, config: Path, sqlite_store: Store
) -> None:
    url, path = newest_path(replica)
    replica.set_fault(SITE, path, "huge")
    crawl(config)
    assert sqlite_store.failing_urls([url]) == {url}  # the stub's page is retried later
    assert sqlite_store.get_validators(listing_url(replica)) is not None  # no error: a stub

    replica.clear_faults()
    expire_failures(sqlite_store)
    crawl(config)
    assert stored_count(sqlite_store) == len(replica.releases(SITE)), "stored twice"
    [release] = [
        r
        for r in sqlite_store.query_releases(ReleaseQuery(site=(SITE,)), limit=50)
        if canonical_url(r.url) == url
    ]
    assert release.flags == () and release.body_text, release.flags
    kinds = [e.kind for e in sqlite_store.events_since() if e.release_id == release.id]
    assert kinds == ["new", "updated"]
    assert sqlite_store.failing_urls([url]) == set()


# -- an over-long URL --------------------------------------------------------------------------


def test_a_url_over_700_characters_is_known_on_the_next_crawl(
    replica: ReplicaServer, config: Path, sqlite_store: Store
) -> None:
    word = "internationalorganizationformigrationdisplacementtracking"
    long = replica.publish(SITE, title=" ".join(f"{word}{n}" for n in range(12)))
    url = canonical_url(long.url)
    assert len(url) > 700
    crawl(config)
    before = len(sqlite_store.events_since())
    other = replica.publish(SITE, title="Another release moves the listing on")
    crawl(config)
    for run in sqlite_store.runs(SITE, limit=2):
        assert run.errors == 0, run
    events = sqlite_store.events_since()[before:]
    assert [e.kind for e in events] == ["new"]
    assert canonical_url(sqlite_store.get_release(events[0].release_id).url) == canonical_url(  # type: ignore[union-attr]
        other.url
    )
    assert sqlite_store.known_urls([url]) == {url}
    long_path = urlsplit(long.url).path
    assert [p for p, _ in page_requests(replica) if p == long_path] == [long_path], "refetched"


# -- two crawls of one site at once ------------------------------------------------------------


def test_two_crawls_of_one_site_at_once_one_crawls_one_skips(
    replica: ReplicaServer, sqlite_store: Store, tmp_path: Path
) -> None:
    config = write_config(
        tmp_path / "slow.toml",
        sites_file=replica.write_sites_file(tmp_path / "sites.toml"),
        database_url=sqlite_store.url,
        data_dir=tmp_path,
    )
    # Slow enough that the second starts while the first holds the site.
    slow = config.read_text().replace("download_delay = 0\n", "download_delay = 0.4\n")
    config.write_text(slow)
    pipes = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE}
    first = crawl_child(config, **pipes)
    deadline = time.monotonic() + 60
    while not page_requests(replica) and time.monotonic() < deadline:
        time.sleep(0.05)  # the first holds the site once it sends a request
    second = crawl_child(config, **pipes)
    outputs = [p.communicate(timeout=120) for p in (first, second)]
    assert [first.returncode, second.returncode] == [0, 0], outputs
    runs = sqlite_store.runs(SITE)
    assert sorted(r.status for r in runs) == ["ok", "skipped"], runs
    skipped = next(r for r in runs if r.status == "skipped")
    assert skipped.reason == "another crawl of this site is running"
    assert "skipped" in outputs[1][0]  # the summary of the second says so
    events = sqlite_store.events_since()
    assert len(events) == len({e.release_id for e in events}) == len(replica.releases(SITE))


# -- XML-invalid characters --------------------------------------------------------------------


def test_xml_invalid_characters_are_stripped_at_ingest(
    replica: ReplicaServer, config: Path, sqlite_store: Store
) -> None:
    # The replica folds whitespace in a body (a vertical tab among it), so the body carries
    # other forbidden characters; the title keeps its vertical tab.
    new = replica.publish(
        SITE,
        title="Flood response\x0b in Bentiu",
        body="IOM teams\x08 reached 4,000 people\ufffe displaced by floods\x1b in Bentiu.",
    )
    crawl(config)
    [stored] = [
        r
        for r in sqlite_store.query_releases(ReleaseQuery(site=(SITE,)), limit=50)
        if canonical_url(r.url) == canonical_url(new.url)
    ]
    assert stored.title == "Flood response in Bentiu"
    for name in ("title", "body_text", "body_html", "summary", "dateline"):
        assert not XML_INVALID.search(getattr(stored, name) or ""), name
    assert "reached 4,000 people displaced by floods in Bentiu" in stored.body_text
