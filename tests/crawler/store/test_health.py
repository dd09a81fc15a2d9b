"""Health queries on SQLite and PostgreSQL: run history, failures in a row, publication latency,
the histograms of /metrics, and releases grouped by translation for the index page."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import update

from crawler.store import ReleaseQuery, RunStats, Store, SubscriberSpec
from crawler.store.health import quantile
from crawler.store.schema import crawl_runs, releases, utcnow
from tests.crawler.store.test_store import release


def run(store: Store, site: str, status: str = "ok", **stats: Any) -> int:
    run_id = store.start_run(site)
    store.finish_run(run_id, RunStats(**stats), status=status, reason=None)
    return run_id


def test_history_keeps_the_last_runs_per_site_and_counts_failures_in_a_row(store: Store) -> None:
    for pages in range(1, 5):
        run(store, "mali", pages=pages, items=10, new=1, coverage={"published": 10, "title": 9})
    run(store, "mali", "failed", errors=3)
    run(store, "mali", "skipped")  # another process held the site: breaks no streak
    run(store, "mali", "failed", errors=2)
    run(store, "egypt", "failed")
    run(store, "egypt", "ok", items=4, coverage={"published": 1})
    store.start_run("niger")  # still running
    store.save_release(release())
    history = store.site_history(runs=5)
    mali = history["mali"]
    assert [r.status for r in mali.runs] == ["failed", "skipped", "failed", "ok", "ok"]
    assert [r.pages for r in mali.runs[3:]] == [4, 3]
    assert mali.consecutive_failures == 2
    assert mali.last_run is not None and mali.last_run.errors == 2
    assert mali.releases == 1 and mali.last_new is not None
    assert 0 <= (mali.seconds_since_last_new(utcnow()) or -1) < 60
    # Coverage over the runs shown: 20 items, 20 dated, 18 titled.
    assert mali.field_coverage() == {"published": 1.0, "title": 0.9}
    assert history["egypt"].consecutive_failures == 0
    assert history["egypt"].field_coverage() == {"published": 0.25}
    assert history["niger"].runs[0].status == "running" and history["niger"].releases == 0


def test_history_reads_only_the_horizon(store: Store) -> None:
    old = run(store, "mali", "failed")
    run(store, "mali", "failed")
    with store.engine.begin() as conn:
        conn.execute(
            update(crawl_runs)
            .where(crawl_runs.c.id == old)
            .values(started=utcnow() - timedelta(days=30))
        )
    mali = store.site_history()["mali"]
    assert len(mali.runs) == 1 and mali.consecutive_failures == 1
    everything = store.site_history(since=utcnow() - timedelta(days=60))["mali"]
    assert len(everything.runs) == 2 and everything.consecutive_failures == 2
    assert store.consecutive_failures() == {"mali": 1}
    # A registry site whose last run is older than the horizon still shows that run.
    with store.engine.begin() as conn:
        conn.execute(update(crawl_runs).values(started=utcnow() - timedelta(days=20)))
    assert "mali" not in store.site_history()
    stale = store.site_history(sites=["mali", "niger"])
    assert [r.id for r in stale["mali"].runs] == [old + 1] and stale["niger"].runs == ()
    assert stale["mali"].consecutive_failures == 0 and stale["niger"].last_run is None


def _release(n: int, hours_ago: float, **overrides: Any) -> Any:
    values = {
        "url": f"https://mali.iom.int/fr/news/r{n}",
        "title": f"Communiqué {n}",
        "body_text": f"Texte du communiqué {n}.",
        "published": utcnow() - timedelta(hours=hours_ago),
    }
    return release(**{**values, **overrides})


def test_publication_latency_to_the_first_alert_else_first_seen(store: Store) -> None:
    store.save_release(_release(0, 24 * 90))  # the site's first crawl: a backfill, no alert
    store.add_subscriber(SubscriberSpec("a@example.org"))
    hours = [1.0, 2.0, 3.0, 4.0]
    english_url = "https://mali.iom.int/en/news/r1"
    for n, ago in enumerate(hours, start=1):
        links = {"en": english_url} if n == 1 else {}
        assert store.save_release(_release(n, ago, translations=links)) == "new"
    sent = {row.release_id: row for row in store.outbox_rows(channel="email")}
    assert len(sent) == 4  # the first crawl's old release had none
    now = utcnow()
    for row in sent.values():
        store.mark_sent(row.id, at=now)
    # The same release in English (one group with r1): counted once, with r1's alert.
    english = _release(
        1,
        1.0,
        url=english_url,
        lang="en",
        title="Release 1",
        body_text="Text of release 1.",
        translations={"fr": "https://mali.iom.int/fr/news/r1"},
    )
    store.save_release(english)
    assert store.count_groups(ReleaseQuery()) == 5
    # No alert sent yet (its row waits), seen two hours after the site's first release:
    # measured to first seen.
    store.save_release(_release(9, 10.0))
    with store.engine.begin() as conn:
        conn.execute(
            update(releases)
            .where(releases.c.url.like("%/r9"))
            .values(first_seen=utcnow() + timedelta(hours=2))
        )
    samples = sorted(store.latency_samples()["mali"])
    assert len(samples) == 5
    measured = [round(seconds / 3600, 1) for seconds, _ in samples]
    assert measured[:4] == hours and 11.9 <= measured[4] <= 12.1
    assert [alerted for _, alerted in samples] == [True] * 4 + [False]
    latency = store.publication_latency()["mali"]
    assert latency.count == 5 and latency.alerted == 4
    assert latency.median == pytest.approx(3 * 3600, abs=60)
    assert latency.p90 == pytest.approx(quantile([s for s, _ in samples], 0.9))
    assert store.publication_latency(now=utcnow() + timedelta(days=60)) == {}


def test_quantile_interpolates() -> None:
    assert quantile([4.0, 1.0, 3.0, 2.0], 0.5) == 2.5
    assert quantile([1.0], 0.9) == 1.0
    assert quantile([0.0, 10.0], 0.9) == 9.0
    with pytest.raises(ValueError, match="no values"):
        quantile([], 0.5)


def test_histograms_counted_by_the_database(store: Store) -> None:
    for duration in (0.5, 3.0, 40.0):
        run_id = run(store, "mali")
        with store.engine.begin() as conn:
            conn.execute(
                update(crawl_runs).where(crawl_runs.c.id == run_id).values(duration=duration)
            )
    store.start_run("egypt")  # no duration yet: not an observation
    durations = store.crawl_duration_buckets([1.0, 10.0, 60.0])
    assert durations.counts == (1, 2, 3) and durations.count == 3
    assert durations.total == pytest.approx(43.5)

    store.save_release(release(url="https://mali.iom.int/news/first", title="First"))
    store.add_subscriber(SubscriberSpec("a@example.org"))
    store.add_subscriber(SubscriberSpec("b@example.org"))
    store.save_release(_release(1, 1.0))
    store.save_release(_release(2, 1.0))
    rows = store.outbox_rows(channel="email")
    assert len(rows) == 4
    now = utcnow()
    claimed = store.claim_due("email", now=now, limit=10, lease_seconds=0)
    store.claim_due("email", now=now + timedelta(seconds=1), limit=1, lease_seconds=60)
    store.mark_sent(claimed[0].id, at=now)
    store.mark_dead(claimed[1].id, error="refused")
    attempts = store.delivery_attempt_buckets([1, 2, 3])
    assert attempts[("email", "sent")].counts[0] + attempts[("email", "sent")].counts[1] >= 1
    total_done = sum(b.count for b in attempts.values())
    assert total_done == 2 and set(attempts) <= {("email", "sent"), ("email", "dead")}
    ages = store.waiting_outbox_ages([60.0, 3600.0], now=now + timedelta(minutes=30))
    email = ages["email"]
    assert email.count == 2 and email.counts == (0, 2)
    assert 2 * 1700 <= email.total <= 2 * 1900


def test_groups_show_one_version_per_translation(store: Store) -> None:
    french = _release(1, 2.0, translations={"en": "https://mali.iom.int/en/news/r1"})
    english = _release(
        1,
        2.0,
        url="https://mali.iom.int/en/news/r1",
        lang="en",
        title="Release 1",
        body_text="Text of release 1.",
        translations={"fr": "https://mali.iom.int/fr/news/r1"},
    )
    store.save_release(french)
    store.save_release(english)
    for n in range(2, 6):
        store.save_release(_release(n, 2.0 + n))
    langs: dict[str, Sequence[str]] = {"mali": ("fr", "en")}
    page = store.group_page(ReleaseQuery(), limit=3, site_languages=langs)
    assert page.total == 5 and len(page.groups) == 3
    first = page.groups[0]
    assert first.shown.lang == "fr" and [v.lang for v in first.others] == ["en"]
    english_first = store.group_page(ReleaseQuery(), limit=1, prefer=["en"], site_languages=langs)
    assert english_first.groups[0].shown.lang == "en"
    assert [v.lang for v in english_first.groups[0].others] == ["fr"]
    only_en = store.group_page(ReleaseQuery(lang=("en",)), limit=10, site_languages=langs)
    assert only_en.total == 1 and only_en.groups[0].shown.lang == "en"
    rest = store.group_page(ReleaseQuery(), limit=3, offset=3, site_languages=langs)
    shown = [g.shown.id for g in (*page.groups, *rest.groups)]
    assert len(rest.groups) == 2 and len(set(shown)) == 5
    assert store.count_groups(ReleaseQuery(q=("release",))) == 1
