"""Hostile sites: every fault gives a recorded error or a retry, never a crash, and nothing is lost."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from crawler.store import ReleaseQuery, Store
from replica import ReplicaServer
from tests.helpers import iomwatch, write_config

SITE = "mali"


@pytest.fixture
def replica() -> Iterator[ReplicaServer]:
    server = ReplicaServer(sites=[SITE, "southsudan"])
    server.start()
    yield server
    server.stop()


@pytest.fixture
def config(replica: ReplicaServer, sqlite_store: Store, tmp_path: Path) -> Path:
    return write_config(
        tmp_path / "config.toml",
        sites_file=replica.write_sites_file(tmp_path / "sites.toml"),
        database_url=sqlite_store.url,
        data_dir=tmp_path,
    )


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
    assert run.errors >= 1
    assert stored == total - 1
    replica.clear_faults()
    second = iomwatch("crawl", "--config", str(config))
    assert second.returncode == 0, second.stderr[-3000:]
    assert sqlite_store.count_releases(ReleaseQuery(site=(SITE,))) == total, "the release was lost"
    assert sqlite_store.known_urls([url]) == {url}


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
