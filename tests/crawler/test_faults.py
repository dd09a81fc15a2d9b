"""Hostile sites: every fault gives a recorded error or a retry, never a crash, and nothing is lost."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from crawler.parsing.urls import canonical_url
from crawler.store import ReleaseQuery, Store
from replica import ReplicaServer
from tests.helpers import iomwatch

SITE = "mali"


@pytest.fixture
def replica() -> Iterator[ReplicaServer]:
    server = ReplicaServer(sites=[SITE, "southsudan"])
    server.start()
    yield server
    server.stop()


def newest_path(replica: ReplicaServer) -> tuple[str, str]:
    newest = max(
        (r for r in replica.releases(SITE) if r.lang == "fr"), key=lambda r: (r.published, r.url)
    )
    return newest.url, urlsplit(newest.url).path


@pytest.mark.parametrize(
    "fault",
    ["500", "404", "timeout", "redirect_loop", "huge", "reset", "truncated", "wrong_charset"],
)
def test_article_fault_is_recorded_then_recovered(
    replica: ReplicaServer, config: Path, sqlite_store: Store, fault: str
) -> None:
    url, path = newest_path(replica)
    replica.set_fault(SITE, path, fault)
    first = iomwatch("crawl", "--config", str(config))
    assert "Traceback" not in first.stderr, first.stderr[-3000:]
    assert sqlite_store.runs(SITE), first.stdout + first.stderr[-3000:]
    run = sqlite_store.runs(SITE)[0]
    assert run.status == "ok", run.reason  # the site was crawled; one page was bad
    assert sqlite_store.runs("southsudan")[0].status == "ok"
    total = len(replica.releases(SITE))
    stored = sqlite_store.count_releases(ReleaseQuery(site=(SITE,)))
    if fault in {"truncated", "wrong_charset"}:
        # A damaged page still yields the release (lxml repairs; the charset is re-detected).
        assert stored == total
        release = sqlite_store.query_releases(ReleaseQuery(site=(SITE,)), limit=1)[0]
        assert "\ufffd" not in (release.title or "")
        return
    if fault == "huge":
        # Over the download bound, the page is still a release: stored from its listing entry.
        assert (run.errors, stored) == (0, total), run
        stub = next(
            r
            for r in sqlite_store.query_releases(ReleaseQuery(site=(SITE,)), limit=100)
            if canonical_url(r.url) == canonical_url(url)
        )
        truth = next(r for r in replica.releases(SITE) if r.url == url)
        assert stub.flags == ("oversize",) and stub.title == truth.title
        assert stub.published is not None and stub.published.date() == truth.published
        return
    assert run.errors >= 1
    assert stored == total - 1
    replica.clear_faults()
    if fault == "404":
        total += skip_then_retry_a_dead_article(replica, config, sqlite_store, canonical_url(url))
    second = iomwatch("crawl", "--config", str(config))
    assert second.returncode == 0, second.stderr[-3000:]
    assert sqlite_store.count_releases(ReleaseQuery(site=(SITE,))) == total, "the release was lost"
    assert sqlite_store.known_urls([url]) == {url}


def skip_then_retry_a_dead_article(
    replica: ReplicaServer, config: Path, store: Store, url: str
) -> int:
    """A 404 is remembered: skipped (not an error) until its retry-after, then fetched again.

    Returns how many releases it published to change the listing (so that it is read again).
    """
    iomwatch("crawl", "--config", str(config))
    assert (store.runs(SITE)[0].gone, store.runs(SITE)[0].errors) == (1, 0)
    assert store.failing_urls([url]) == {url}
    store.remember_failure(SITE, url, "HTTP 404", retry_after=datetime.now(UTC))  # time passed
    replica.publish(SITE, lang="fr")
    return 1


@pytest.mark.parametrize("fault", ["500", "timeout", "redirect_loop", "reset"])
def test_listing_fault_fails_the_site_with_its_reason(
    replica: ReplicaServer, config: Path, sqlite_store: Store, fault: str
) -> None:
    replica.set_fault(SITE, "/news", fault)
    replica.set_fault(SITE, "/en/news", fault)
    result = iomwatch("crawl", "--config", str(config))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    run = sqlite_store.runs(SITE)[0]
    assert run.status == "failed"
    assert run.reason and "/news" in run.reason
    assert sqlite_store.runs("southsudan")[0].status == "ok"
