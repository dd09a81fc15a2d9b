"""Operator alerts from recorded crawl runs, on SQLite and PostgreSQL: each problem raises one
alert when it starts and one recovery when it ends, whatever happens in between."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from crawler.boilerplate.dom import SiteTemplate
from crawler.store import RunStats, Store
from crawler.store.site_health import Notice, Thresholds, check_site, template_staleness
from replica import ReplicaServer
from tests.helpers import iomwatch, write_config

NOW = datetime(2026, 3, 3, 7, 30, tzinfo=UTC)
HEALTHY = {"listings": 1, "entries": 20, "pages": 3, "items": 1, "new": 1}
FULL = {"title": 1, "published": 1, "dateline": 1, "body_text": 1}


def crawl(
    store: Store, status: str = "ok", *, site: str = "mali", reason: str | None = None, **kw: Any
) -> list[Notice]:
    """Record one finished run of the site as the crawler does, then check the site."""
    counters = {**HEALTHY, **kw} if status == "ok" else {"pages": 1, "errors": 1, **kw}
    coverage = counters.pop("coverage", FULL if status == "ok" else {})
    run = store.start_run(site)
    store.finish_run(run, RunStats(**counters, coverage=coverage), status=status, reason=reason)
    return check_site(store, site, now=NOW)


def kinds(notices: list[Notice]) -> list[tuple[str, str]]:
    return [(n.kind, n.phase) for n in notices]


def test_failing_three_times_raises_once_and_an_ok_crawl_resolves(store: Store) -> None:
    for _ in range(3):
        assert crawl(store) == []
    assert crawl(store, "failed", reason="GET /news: 503") == []
    assert crawl(store, "skipped") == []  # another process had the site: breaks no streak
    assert crawl(store, "failed", reason="GET /news: 503") == []
    (raised,) = crawl(store, "failed", reason="GET https://mali.iom.int/news:\n timeout")
    assert (raised.kind, raised.phase, raised.subject) == ("failing", "raised", "mali")
    assert "3 crawls failed in a row" in raised.message and "timeout" in raised.message
    assert "\n" not in raised.message
    for _ in range(5):  # still failing: still the one alert
        assert crawl(store, "failed", reason="timeout") == []
    (resolved,) = crawl(store)
    assert (resolved.kind, resolved.phase, resolved.alert_id) == (
        "failing",
        "resolved",
        raised.alert_id,
    )
    assert crawl(store) == []
    (alert,) = store.operator_alerts(subject="mali")
    assert alert.resolved and alert.resolved_at == NOW and alert.kind == "failing"
    # a second streak is a new alert, and other sites are unaffected
    for _ in range(3):
        notices = crawl(store, "failed", reason="down again")
    assert kinds(notices) == [("failing", "raised")]
    assert crawl(store, "failed", site="niger") == []
    assert len(store.operator_alerts(open_only=True)) == 1


def test_failures_threshold_is_honoured(store: Store) -> None:
    limits = Thresholds(failures=5)
    for n in range(1, 6):
        run = store.start_run("mali")
        store.finish_run(run, RunStats(errors=1), status="failed", reason="x")
        found = check_site(store, "mali", now=NOW, thresholds=limits)
        assert kinds(found) == ([("failing", "raised")] if n == 5 else [])


def test_a_fresh_listing_with_no_entries_raises_and_304s_keep_it_open(store: Store) -> None:
    assert crawl(store, entries=0, listings=1, items=0, new=0) == []  # never had any: no change
    assert crawl(store) == []
    assert crawl(store, listings=0, entries=0, items=0, not_modified=1) == []
    (raised,) = crawl(store, listings=2, entries=0, items=0, new=0)
    assert raised.kind == "no_entries" and "2 listing page(s) changed but hold no entries" in (
        raised.message
    )
    # every listing answers 304 now (the broken page's validators were saved): can't tell
    for _ in range(4):
        assert crawl(store, listings=0, entries=0, items=0, new=0, not_modified=1) == []
    assert crawl(store, listings=1, entries=0, items=0, new=0) == []  # still broken
    assert [a.resolved for a in store.operator_alerts(subject="mali")] == [False]
    (resolved,) = crawl(store, listings=1, entries=12, items=0, new=0)
    assert (resolved.kind, resolved.phase) == ("no_entries", "resolved")


def test_empty_bodies_over_half_of_the_newest_items(store: Store) -> None:
    assert crawl(store, items=5, empty=1) == []
    assert crawl(store, items=1, empty=1) == []  # 1 of 1 + 2 of the 5 before: not over half
    assert crawl(store, items=1, empty=1) == []  # newest 3 items hold ... the run of 5: 3/7
    (raised,) = crawl(store, items=3, empty=2)
    assert raised.kind == "empty_bodies" and "2 of the newest 3 items" in raised.message
    assert crawl(store, items=0, new=0) == []  # nothing new: nothing to judge
    assert crawl(store, items=2, empty=1) == []  # 1 of 2, then 2 of 3: 3 of 5, over half
    (resolved,) = crawl(store, items=4, empty=0)
    assert (resolved.kind, resolved.phase) == ("empty_bodies", "resolved")


def test_a_field_the_site_had_falls_away_and_comes_back(store: Store) -> None:
    for _ in range(12):  # the sample's 3 items, and a baseline of 10 before them
        assert crawl(store) == []
    without = {"title": 1, "dateline": 1, "body_text": 1}
    assert crawl(store, coverage=without) == []  # 2 of the newest 3 still dated
    (raised,) = crawl(store, coverage=without)  # 1 of 3: lost
    assert raised.kind == "lost_published"
    assert "published on 33% of the newest items, 100% before" in raised.message
    assert crawl(store, coverage=without) == []
    assert crawl(store) == [] and crawl(store) == []  # 2 of 3 back: not yet
    (resolved,) = crawl(store)
    assert (resolved.kind, resolved.phase) == ("lost_published", "resolved")
    # body_text is empty_bodies' concern; a field the site never had is never "lost"
    assert {a.kind for a in store.operator_alerts()} == {"lost_published"}


def test_too_little_history_says_nothing_about_fields(store: Store) -> None:
    for _ in range(4):
        assert crawl(store) == []
    for _ in range(4):
        assert crawl(store, coverage={"title": 1}) == []  # 5 items before the newest 3 < 10
    assert store.operator_alerts() == []


def learned(template: SiteTemplate, chrome: list[str], pages: int) -> SiteTemplate:
    """`pages` more pages, each with the chrome and one block of its own (the learner's API)."""
    for _ in range(pages):
        n = template.pages
        template.add({*chrome, f"own-{n}"}, f"https://mali.iom.int/news/{n}", article=True)
    return template


def test_a_template_shift_raises_until_the_learner_has_the_new_chrome(store: Store) -> None:
    old = [f"old-{i}" for i in range(10)]
    new = [f"new-{i}" for i in range(10)]
    template = learned(SiteTemplate(), old, 30)
    store.save_template("mali", template.to_state(), template.pages)
    assert crawl(store) == []
    assert template_staleness(store.load_template("mali")) == (30, 0.0)
    learned(template, new, 3)
    store.save_template("mali", template.to_state(), template.pages)
    (raised,) = crawl(store)
    assert raised.kind == "template_shift" and "100% of its template's blocks" in raised.message
    learned(template, new, 2)
    store.save_template("mali", template.to_state(), template.pages)
    assert crawl(store) == []  # the new chrome on 5 pages: not learned yet
    learned(template, new, 1)
    store.save_template("mali", template.to_state(), template.pages)
    (resolved,) = crawl(store)
    assert (resolved.kind, resolved.phase) == ("template_shift", "resolved")
    learned(template, new, 10)
    store.save_template("mali", template.to_state(), template.pages)
    assert crawl(store) == []  # settled: no new alert while the old chrome fades


def test_a_young_or_foreign_template_is_not_judged(store: Store) -> None:
    template = learned(SiteTemplate(), ["a", "b", "c", "d", "e", "f"], 8)
    learned(template, ["g", "h", "i", "j", "k", "l"], 8)
    store.save_template("mali", template.to_state(), template.pages)
    assert crawl(store) == []  # 16 pages < template_pages
    store.save_template("mali", {"v": 99, "fp": {"x": "not a pair"}, "pages": "many"})
    assert crawl(store) == []
    assert template_staleness({"fp": {"x": [1]}}) is None


def test_checking_again_changes_nothing(store: Store) -> None:
    for _ in range(3):
        crawl(store, "failed", reason="down")
    for _ in range(3):
        assert check_site(store, "mali", now=NOW + timedelta(minutes=1)) == []
    assert len(store.operator_alerts()) == 1
    assert check_site(store, "unknown-site", now=NOW) == []


def test_real_crawls_of_the_replica_fail_then_recover(
    replica: ReplicaServer, sqlite_store: Store, tmp_path: Path
) -> None:
    """The real CLI against a replica site: the counters the judges read are recorded, and
    a site down for two crawls (the threshold here) gives one alert, then one recovery when it is back."""
    site = replica.site_ids[0]
    config = write_config(
        tmp_path / "config.toml",
        sites_file=replica.write_sites_file(tmp_path / "sites.toml"),
        database_url=str(sqlite_store.engine.url),
        data_dir=tmp_path,
    )

    def crawl_site() -> list[Notice]:
        iomwatch("crawl", "--config", str(config), "--site", site, "--quiet")
        return check_site(sqlite_store, site, now=NOW, thresholds=Thresholds(failures=2))

    assert crawl_site() == []
    first = sqlite_store.runs(site)[0]
    assert first.status == "ok" and first.listings >= 1 and first.entries >= first.new > 0
    replica.set_down(site)
    assert [kinds(crawl_site()) for _ in range(2)] == [[], [("failing", "raised")]]
    replica.set_down(site, down=False)
    assert kinds(crawl_site()) == [("failing", "resolved")]
    idle = sqlite_store.runs(site)[0]  # back, and unchanged: its listings answer 304
    assert (idle.status, idle.listings, idle.entries, idle.items) == ("ok", 0, 0, 0)
    assert idle.not_modified >= 1
    (alert,) = sqlite_store.operator_alerts(subject=site)
    assert alert.resolved and "503" in alert.message
