"""A full crawl of replica sites with bare-slug releases and a listing of plain rows: every
release found, each tagged with its countries, and `country` filters that find a release by
its tags on the global and regional sites (SQL on SQLite and PostgreSQL, and outbox.matches)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from crawler.parsing.listing import is_article_url
from crawler.parsing.urls import canonical_url
from crawler.store import ReleaseQuery, Store
from crawler.store.outbox import matches
from crawler.store.schema import releases
from feeds.api import api_item
from feeds.entries import make_entry
from replica import ReplicaServer
from tests.helpers import iomwatch, write_config

SITES = ("global", "mena", "colombia")


def test_crawl_finds_bare_slugs_and_filters_by_tags(
    replica: ReplicaServer, store_url: str, tmp_path: Path
) -> None:
    sites = replica.write_sites_file(tmp_path / "sites.toml")
    config = write_config(
        tmp_path / "config.toml", sites_file=sites, database_url=store_url, data_dir=tmp_path
    )
    site_args = [a for s in SITES for a in ("--site", s)]
    result = iomwatch("crawl", "--config", str(config), *site_args)
    assert result.returncode == 0, result.stdout + result.stderr
    truth = {canonical_url(r.url): r for s in SITES for r in replica.releases(s)}
    bare = [u for u in truth if not is_article_url(u, u)]
    assert len(bare) >= 10

    with Store(store_url) as store:
        found = {canonical_url(r.url): r for r in store.query_releases(ReleaseQuery(), limit=999)}
        assert set(found) == set(truth)  # bare slugs included, no menu or footer page
        wrong = [(u, found[u].countries, r.countries) for u, r in truth.items()
                 if tuple(sorted(found[u].countries)) != r.countries]  # fmt: skip
        assert not wrong

        libya = store.query_releases(ReleaseQuery(country=("libya",)), limit=999)
        want = {u for u, r in truth.items() if "Libya" in r.countries}
        assert want and {canonical_url(r.url) for r in libya} == want
        assert {r.site for r in libya} == {"mena"}  # a regional site: no country of its own
        assert all(r.country is None for r in libya)

        with store.engine.connect() as conn:
            rows = [dict(m) for m in conn.execute(select(releases)).mappings()]
        for country in ("Libya", "Sudan", "Colombia", "Bangladesh", "United States of America"):
            query = ReleaseQuery(country=(country,))
            in_sql = {r.id for r in store.query_releases(query, limit=999)}
            assert in_sql == {row["id"] for row in rows if matches(query, row)}, country
            assert in_sql == {found[u].id for u, r in truth.items() if country in r.countries}

        release = libya[0]
        entry = make_entry(release, base_url="http://feeds.test")
        assert ("country", "Libya") in {(c.key, c.term) for c in entry.categories}
        assert "Libya" in api_item(release, entry)["countries"]
