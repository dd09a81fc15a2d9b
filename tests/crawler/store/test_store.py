"""The store on SQLite and on the real PostgreSQL server (the `store` fixture runs both)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import inspect, select
from sqlalchemy.pool import QueuePool

from crawler.items import Release
from crawler.store import ReleaseQuery, RunStats, Store
from crawler.store.schema import release_urls


def release(**overrides: object) -> Release:
    values: dict[str, object] = {
        "url": "https://mali.iom.int/news/retour-gao",
        "site": "mali",
        "lang": "fr",
        "title": "Retour volontaire à Gao",
        "published": datetime(2024, 7, 8, tzinfo=UTC),
        "type": "press_release",
        "country": "Mali",
        "region": "West and Central Africa",
        "body_text": "Bamako – L'OIM a aidé 338 migrants à rentrer chez eux.",
        "raw_html": "<html><body>page</body></html>",
    }
    values.update(overrides)
    return Release(**values)  # type: ignore[arg-type]


def test_new_then_unchanged_then_edited(store: Store) -> None:
    assert store.save_release(release()) == "new"
    assert store.save_release(release()) is None
    assert (
        store.save_release(
            release(body_text="Bamako –  L'OIM a aidé 338 migrants à  rentrer chez eux.")
        )
        is None
    )
    assert store.save_release(release(body_text="Bamako – L'OIM a aidé 412 migrants.")) == "updated"
    kinds = [e.kind for e in store.events_since()]
    assert kinds == ["new", "updated"]


def test_updates_can_be_silenced(store: Store) -> None:
    store.save_release(release())
    assert store.save_release(release(body_text="autre texte"), emit_updates=False) is None
    assert [e.kind for e in store.events_since()] == ["new"]


def test_identity_survives_slug_change_with_node_id(store: Store) -> None:
    store.save_release(release(node_id="812", url="https://mali.iom.int/news/ancien-slug"))
    assert (
        store.save_release(release(node_id="812", url="https://mali.iom.int/news/nouveau-slug"))
        is None
    )
    assert store.release_count("mali") == 1
    assert store.known_urls(
        ["https://mali.iom.int/news/ancien-slug", "https://mali.iom.int/news/x"]
    ) == {"https://mali.iom.int/news/ancien-slug"}


def test_raw_html_is_kept_compressed_and_times_are_utc(store: Store) -> None:
    store.save_release(release(raw_html="<p>é" * 1000))
    stored = store.query_releases(ReleaseQuery())[0]
    assert store.raw_html(stored.id) == "<p>é" * 1000
    assert stored.published == datetime(2024, 7, 8, tzinfo=UTC)
    assert stored.first_seen.tzinfo is not None


def test_naive_datetimes_are_refused(store: Store) -> None:
    with pytest.raises(Exception, match="naive datetime"):
        store.save_release(release(published=datetime(2024, 7, 8)))


def test_filters_and_folded_keyword_search(store: Store) -> None:
    store.save_release(release())
    store.save_release(
        release(
            url="https://mena.iom.int/ar/news/x",
            site="mena",
            lang="ar",
            country=None,
            region="Middle East and North Africa",
            title="المُنظمة تساعد المهاجرين",
            body_text="طرابلس – ساعدت المنظمة الدولية للهجرة",
            type="news",
        )
    )
    store.save_release(
        release(
            url="https://brazil.iom.int/pt-br/news/y",
            site="brazil",
            lang="pt-br",
            country="Brazil",
            region="South America",
            title="Migração segura",
            body_text="Boa Vista – A OIM apoia a integração.",
        )
    )
    assert [r.site for r in store.query_releases(ReleaseQuery(country=("mali",)))] == ["mali"]
    assert {r.site for r in store.query_releases(ReleaseQuery(site=("mali", "brazil")))} == {
        "mali",
        "brazil",
    }
    assert [r.site for r in store.query_releases(ReleaseQuery(q=("RETOUR volontaire",)))] == [
        "mali"
    ]
    assert [r.site for r in store.query_releases(ReleaseQuery(q=("المنظمة",)))] == ["mena"]
    assert [r.site for r in store.query_releases(ReleaseQuery(q=("migracao",)))] == ["brazil"]
    assert store.count_releases(ReleaseQuery(type=("news",), lang=("ar",))) == 1
    assert store.count_releases(ReleaseQuery(q=("100%_",))) == 0


def test_newest_first(store: Store) -> None:
    for day in (3, 1, 2):
        store.save_release(
            release(
                url=f"https://mali.iom.int/news/r{day}",
                published=datetime(2024, 1, day, tzinfo=UTC),
                body_text=f"Communiqué du {day} janvier.",
            )
        )
    days = [r.published.day for r in store.query_releases(ReleaseQuery()) if r.published]
    assert days == [3, 2, 1]


def test_crawl_runs_and_abandoned_runs(store: Store) -> None:
    run = store.start_run("mali")
    store.finish_run(run, RunStats(pages=4, new=2, coverage={"title": 2}))
    store.start_run("mena")
    assert store.abandon_running("mena", "killed") == 1
    mali, mena = store.runs("mali")[0], store.runs("mena")[0]
    assert (mali.status, mali.pages, mali.new, mali.coverage) == ("ok", 4, 2, {"title": 2})
    assert (mena.status, mena.reason) == ("failed", "killed")


def test_validators_and_templates_round_trip(store: Store) -> None:
    store.set_validators("http://h/news", '"abc"', "Mon, 01 Jan 2024 00:00:00 GMT")
    store.set_validators("http://h/robots.txt", '"r"', None, b"User-agent: *")
    assert store.get_validators("http://h/news") == ('"abc"', "Mon, 01 Jan 2024 00:00:00 GMT", None)
    assert store.get_validators("http://h/robots.txt") == ('"r"', None, b"User-agent: *")
    store.save_template("mali", {"blocks": {"x": 3}}, pages=3)
    store.save_template("mali", {"blocks": {"x": 4}}, pages=4)
    assert store.load_template("mali") == {"blocks": {"x": 4}}
    store.delete_template("mali")
    assert store.load_template("mali") is None


def test_migrations_are_idempotent_and_create_every_table(store_url: str) -> None:
    first = Store(store_url)
    Store(store_url).close()  # a second start migrates nothing and breaks nothing
    names = set(inspect(first.engine).get_table_names())
    assert {
        "releases",
        "events",
        "crawl_runs",
        "http_validators",
        "site_templates",
        "alembic_version",
    } <= names
    first.close()


def test_repost_under_dash_zero_slug_is_an_alias_not_an_alert(store: Store) -> None:
    assert store.save_release(release()) == "new"
    assert store.save_release(release(url="https://mali.iom.int/news/retour-gao-0")) is None
    assert store.known_urls(["https://mali.iom.int/news/retour-gao-0"]) == {
        "https://mali.iom.int/news/retour-gao-0"
    }
    other = release(url="https://mali.iom.int/news/retour-gao-1", body_text="Un autre communiqué.")
    assert store.save_release(other) == "new"
    assert store.release_count("mali") == 2


def checked_in(store: Store) -> int:
    """Idle connections in the engine's pool (a QueuePool: only it counts them)."""
    pool = store.engine.pool
    assert isinstance(pool, QueuePool)
    return pool.checkedin()


def test_store_is_a_context_manager_that_closes_its_engine(store_url: str) -> None:
    with Store(store_url) as store:
        assert isinstance(store, Store)
        store.start_run("mali")
        assert checked_in(store) > 0  # a pooled connection, kept until close
    assert checked_in(store) == 0  # disposed on the way out
    with pytest.raises(RuntimeError, match="boom"), Store(store_url) as store:
        raise RuntimeError("boom")  # exceptions are not swallowed
    with Store(store_url, migrate=False) as reopened:
        assert [r.site for r in reopened.runs()] == ["mali"]


def test_run_counts_per_site_and_status(store: Store) -> None:
    assert store.run_counts() == {}
    store.finish_run(store.start_run("mali"), RunStats())
    store.finish_run(store.start_run("mali"), RunStats(), status="failed", reason="boom")
    store.finish_run(store.start_run("mali"), RunStats())
    store.start_run("mena")
    assert store.run_counts() == {("mali", "failed"): 1, ("mali", "ok"): 2, ("mena", "running"): 1}


def test_a_known_url_keeps_its_release_and_an_event_is_recorded_once(store: Store) -> None:
    """Both writes that may meet an existing row (a URL alias, an event) keep the first one."""
    first = release(node_id="812", fetched_url="https://mali.iom.int/node/812")
    assert store.save_release(first) == "new"
    # another node whose page is fetched at the first one's short link: that URL stays the first's
    other = release(
        node_id="900",
        url="https://mali.iom.int/news/autre",
        fetched_url=first.fetched_url,
        body_text="Autre.",
    )
    assert store.save_release(other) == "new"
    with store.engine.connect() as conn:
        owners = dict(conn.execute(select(release_urls.c.url, release_urls.c.release_id)).all())
    assert owners == {
        first.url: "mali-fr-812",
        "https://mali.iom.int/node/812": "mali-fr-812",
        other.url: "mali-fr-900",
    }
    edited = release(node_id="812", body_text="Bamako – L'OIM a aidé 412 migrants.")
    assert store.save_release(edited) == "updated"
    assert store.save_release(release(node_id="812")) == "updated"  # back: a new (kind, hash)
    assert store.save_release(edited) is None  # this edit was recorded already: no second event
    assert [e.kind for e in store.events_since()] == ["new", "new", "updated", "updated"]
    assert len(store.raw_versions("mali-fr-812")) == 3  # one raw page per recorded event


def test_a_save_clears_the_failure_of_the_url_it_names(store: Store) -> None:
    """In the save's own transaction: the pipeline's one commit per page."""
    gone, other = "https://mali.iom.int/news/gone", "https://mali.iom.int/news/other"
    later = datetime(2999, 1, 1, tzinfo=UTC)
    for url in (gone, other):
        store.remember_failure("mali", url, "404", retry_after=later)
    store.save_release(release(), cleared_failure=gone)
    assert store.failing_urls([gone, other]) == {other}
    store.save_release(release())  # an unchanged page, no URL named: nothing cleared
    assert store.failing_urls([gone, other]) == {other}


def test_the_stored_digest_is_the_hash_title_and_url_of_the_stored_release(store: Store) -> None:
    item = release(node_id="42")
    assert store.stored_digest("mali-fr-42") is None
    store.save_release(item)
    stored = store.get_release("mali-fr-42")
    assert stored is not None
    assert store.stored_digest("mali-fr-42") == (stored.content_hash, item.title, item.url)
