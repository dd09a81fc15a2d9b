"""`[crawl] retention_days`: a daily job prunes runs, events and done alerts past it; releases
and alerts still to send stay."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import func, insert, select

from crawler.sites import load_sites
from crawler.store import ReleaseQuery, RunStats, Store, WebhookSpec
from crawler.store.schema import crawl_runs, events, outbox
from scheduler.config import ServiceConfig
from scheduler.jobs import CrawlSupervisor, prune_store
from scheduler.service import build_scheduler
from tests.scheduler.test_config_keys import seed

OLD = datetime.now(UTC) - timedelta(days=200)


def seed_old_and_new(store: Store, url: str) -> None:
    """One release (its "new" event today), a run today, and a run and an event 200 days old."""
    seed(url, "A release older than the retention")
    rid = store.query_releases(ReleaseQuery())[0].id
    store.finish_run(store.start_run("mena"), RunStats())
    with store.engine.begin() as conn:
        conn.execute(
            insert(crawl_runs).values(
                site="mena", started=OLD, finished=OLD, status="ok", coverage="{}"
            )
        )
        conn.execute(
            insert(events).values(
                release_id=rid, kind="updated", content_hash="0" * 64, created_at=OLD
            )
        )


def counts(store: Store) -> tuple[int, int, int]:
    with store.engine.connect() as conn:
        runs = conn.execute(select(func.count()).select_from(crawl_runs)).scalar_one()
        kept = conn.execute(select(func.count()).select_from(events)).scalar_one()
    return runs, kept, store.release_count()


def test_the_job_prunes_old_runs_and_events_and_keeps_releases(
    store: Store, store_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    seed_old_and_new(store, store_url)
    assert counts(store) == (2, 2, 1)
    with caplog.at_level(logging.INFO, logger="scheduler.jobs"):
        pruned = prune_store(store_url, 180)
    assert pruned["crawl_runs"] == 1 and pruned["events"] == 1
    assert counts(store) == (1, 1, 1)
    assert store.runs("mena")[0].started > OLD
    lines = [r.getMessage() for r in caplog.records if r.name == "scheduler.jobs"]
    assert len(lines) == 1
    assert "1 crawl_runs" in lines[0] and "1 events" in lines[0] and "180 days" in lines[0]


def test_retention_days_zero_keeps_everything(store: Store, store_url: str) -> None:
    seed_old_and_new(store, store_url)
    assert prune_store(store_url, 0) == {}
    assert counts(store) == (2, 2, 1)


def test_retention_days_is_the_cut_off(store: Store, store_url: str) -> None:
    seed_old_and_new(store, store_url)
    prune_store(store_url, 365)  # the old rows are 200 days old: within a year's retention
    assert counts(store) == (2, 2, 1)


def jobs(tmp_path: Path, text: str) -> dict[str, object]:
    path = tmp_path / "config.toml"
    path.write_text(f'data_dir = "{tmp_path}"\n[crawl]\n{text}', encoding="utf-8")
    config = ServiceConfig.from_env(str(path), environ={})
    scheduler = build_scheduler(config, load_sites()[:2], CrawlSupervisor.from_config(config, []))
    return {job.id: job for job in scheduler.get_jobs()}


def test_the_service_schedules_the_retention_job_daily(tmp_path: Path) -> None:
    job = jobs(tmp_path, "retention_days = 30\n")["retention"]
    assert job.func_ref == "scheduler.jobs:prune_store"  # type: ignore[attr-defined]
    assert job.args[1] == 30  # type: ignore[attr-defined]
    trigger = job.trigger  # type: ignore[attr-defined]
    assert isinstance(trigger, IntervalTrigger) and trigger.interval == timedelta(days=1)


def test_retention_days_zero_schedules_no_job(tmp_path: Path) -> None:
    assert "retention" not in jobs(tmp_path, "retention_days = 0\n")
    assert ServiceConfig().crawl.retention_days == 180


def seed_outbox(store: Store, url: str) -> dict[str, int]:
    """Outbox rows in every state, 200 days old, one sent today, and a delivery log of each age."""
    seed(url, "A release with alerts")
    release = store.query_releases(ReleaseQuery())[0]
    hook = store.add_webhook(WebhookSpec("http://127.0.0.1:9/hook"))
    ids: dict[str, int] = {}
    with store.engine.begin() as conn:
        for name, state, created in (
            ("sent_old", "sent", OLD),
            ("dead_old", "dead", OLD),
            ("pending_old", "pending", OLD),
            ("failed_old", "failed", OLD),
            ("sent_new", "sent", datetime.now(UTC)),
        ):
            ids[name] = conn.execute(
                insert(outbox)
                .values(
                    idempotency_key=f"webhook:{hook}:{release.id}:{name}",
                    channel="webhook",
                    target_id=hook,
                    group_key=release.group_key,
                    release_id=release.id,
                    event_id=1,
                    kind="new",
                    state=state,
                    attempts=1,
                    next_attempt_at=created,
                    created_at=created,
                )
                .returning(outbox.c.id)
            ).scalar_one()
    at = {"sent_old": OLD, "failed_old": OLD, "sent_new": datetime.now(UTC)}
    for name, when in at.items():
        store.record_delivery(
            ids[name], attempt=1, status=500, outcome="retry", reason="HTTP 500", at=when
        )
    # the old sent row's last attempt is recent: it goes with its row all the same
    store.record_delivery(
        ids["sent_old"], attempt=2, status=200, outcome="ok", reason=None, at=datetime.now(UTC)
    )
    ids["webhook"] = hook
    return ids


def test_the_job_prunes_done_alerts_and_old_deliveries_never_waiting_ones(
    store: Store, store_url: str
) -> None:
    ids = seed_outbox(store, store_url)
    pruned = prune_store(store_url, 180)
    assert pruned["outbox"] == 2  # sent_old, dead_old
    assert pruned["webhook_deliveries"] == 2  # the 200-day-old attempts
    left = {row.id for row in store.outbox_rows()}
    assert left == {ids["pending_old"], ids["failed_old"], ids["sent_new"]}
    logged = {d.outbox_id for d in store.delivery_log(ids["webhook"], limit=10)}
    assert logged == {ids["sent_new"]}  # the recent attempt of sent_old went with its row


def test_retention_keeps_recent_alert_history(store: Store, store_url: str) -> None:
    ids = seed_outbox(store, store_url)
    pruned = prune_store(store_url, 365)
    assert pruned["outbox"] == 0 and pruned["webhook_deliveries"] == 0
    assert len(store.outbox_rows()) == 5
    assert len(store.delivery_log(ids["webhook"], limit=10)) == 4
