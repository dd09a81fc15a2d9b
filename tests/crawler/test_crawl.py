"""Full crawls of the replica over loopback with the real CLI, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from crawler.parsing.urls import canonical_url
from crawler.store import ReleaseQuery, Store, StoredRelease
from replica import ReplicaServer
from tests.helpers import iomwatch, write_config


@pytest.fixture
def config(replica: ReplicaServer, store_url: str, tmp_path: Path) -> Path:
    sites = replica.write_sites_file(tmp_path / "sites.toml")
    return write_config(
        tmp_path / "config.toml", sites_file=sites, database_url=store_url, data_dir=tmp_path
    )


def stored(store_url: str) -> dict[str, StoredRelease]:
    store = Store(store_url)
    try:
        return {canonical_url(r.url): r for r in store.query_releases(ReleaseQuery(), limit=10_000)}
    finally:
        store.close()


def crawl(config: Path, *extra: str) -> str:
    result = iomwatch("crawl", "--config", str(config), *extra)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_full_then_idle_then_one_new(replica: ReplicaServer, config: Path, store_url: str) -> None:
    crawl(config)
    found = stored(store_url)
    truth = replica.releases()
    assert len(found) == len(truth)
    for expected in truth:
        got = found[canonical_url(expected.url)]
        assert got.title == expected.title, expected.url
        assert got.lang == expected.lang, expected.url
        assert got.type == expected.type, expected.url
        assert got.published is not None and got.published.date() == expected.published, (
            expected.url
        )
        assert got.body_text.strip(), expected.url

    replica.reset_log()
    store = Store(store_url)
    events_before = len(store.events_since())
    crawl(config)
    pages = [r for r in replica.requests if not r.path.endswith("/robots.txt")]
    assert pages, "the idle crawl sent no request at all"
    assert all(r.status == 304 for r in pages), [(r.path, r.status) for r in pages]
    assert all(("If-None-Match" in r.headers) or ("If-Modified-Since" in r.headers) for r in pages)
    assert len(store.events_since()) == events_before

    new = replica.publish("mali", lang="fr", title="Nouvelle publication de test à Mopti")
    crawl(config)
    events = store.events_since()[events_before:]
    assert [e.kind for e in events] == ["new"]
    assert store.get_release(events[0].release_id).title == new.title  # type: ignore[union-attr]
    store.close()


def test_failing_site_is_recorded_and_others_complete(
    replica: ReplicaServer, config: Path, store_url: str
) -> None:
    down = replica.site_ids[0]
    replica.set_down(down)
    result = iomwatch("crawl", "--config", str(config))
    assert result.returncode == 1, result.stdout + result.stderr
    store = Store(store_url)
    try:
        failed = store.runs(down)[0]
        assert failed.status == "failed"
        assert "503" in (failed.reason or "") or "refused" in (failed.reason or "").lower()
        for other in replica.site_ids[1:]:
            assert store.runs(other)[0].status == "ok"
            assert store.count_releases(ReleaseQuery(site=(other,))) > 0
    finally:
        store.close()
    assert down in result.stdout and "failed" in result.stdout


def test_unreachable_site_says_so(tmp_path: Path, sqlite_store: Store) -> None:
    sites = tmp_path / "sites.toml"
    sites.write_text(
        '[[site]]\nid = "nowhere"\nbase_url = "http://127.0.0.1:9"\nlanguages = ["en"]\n'
    )
    cfg = write_config(
        tmp_path / "c.toml", sites_file=sites, database_url=sqlite_store.url, data_dir=tmp_path
    )
    result = iomwatch("crawl", "--config", str(cfg))
    assert result.returncode == 1
    run = sqlite_store.runs("nowhere")[0]
    assert run.status == "failed"
    assert "refused" in (run.reason or "").lower()
    assert run.finished is not None and run.finished <= datetime.now(UTC)


def test_edit_gives_one_update_and_noise_gives_none(
    replica: ReplicaServer, store_url: str, tmp_path: Path
) -> None:
    sites = replica.write_sites_file(tmp_path / "sites.toml")
    # recheck_hours = 0: every young known release is fetched again on each crawl
    config = write_config(
        tmp_path / "config.toml",
        sites_file=sites,
        database_url=store_url,
        data_dir=tmp_path,
        extra="recheck_hours = 0\n",
    )
    crawl(config, "--site", "mena")
    store = Store(store_url)
    before = len(store.events_since())
    replica.touch_noise("mena")
    crawl(config, "--site", "mena")
    assert len(store.events_since()) == before, "view counters and related news are not edits"

    target = next(r for r in replica.releases("mena") if r.lang == "ar")
    replica.edit(target.url, body="طرابلس – تحديث: ارتفع عدد المستفيدين إلى 1200 شخص.")
    crawl(config, "--site", "mena")
    events = store.events_since()[before:]
    assert [e.kind for e in events] == ["updated"]
    edited = store.get_release(events[0].release_id)
    assert edited is not None and "1200" in edited.body_text
    crawl(config, "--site", "mena")
    assert len(store.events_since()) == before + 1, "an edit is announced once"
    store.close()
