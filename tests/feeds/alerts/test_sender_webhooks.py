"""The outbox sender's webhook side, against the real receiver (tests/feeds/alerts/receiver.py,
which checks every signature with standardwebhooks' own verify), on SQLite and PostgreSQL;
and the operator-alert store the sender reports to."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

import pytest

from crawler.store import OutboxRow, ReleaseQuery, Store, WebhookSpec
from crawler.store.schema import utcnow
from feeds.alerts.sender import AlertSettings, SendReport
from tests.crawler.store.test_outbox import fresh, seed_site
from tests.feeds.alerts.receiver import Reply, serve
from tests.feeds.alerts.test_sender import sending

SECRET = "whsec_" + "c2VjcmV0LXNpZ25pbmcta2V5LWZvci10ZXN0cw=="  # base64 of a test key
FAST = AlertSettings(retry_initial_seconds=10, retry_max_seconds=600, webhook_max_failures=3)


def send_due(store: Store, now: datetime, settings: AlertSettings = FAST) -> SendReport:
    report: SendReport = sending(store, None, settings=settings, act=lambda s: s.send_due(now))
    return report


def hook_rows(store: Store, hook: int) -> list[OutboxRow]:
    return store.outbox_rows(channel="webhook", target_id=hook, limit=1000)


def one_hook(store: Store, url: str, releases: int = 1, secret: str = SECRET) -> int:
    seed_site(store)
    hook = store.add_webhook(WebhookSpec(url, secret, ReleaseQuery(site=("mali",))))
    for n in range(releases):
        store.save_release(fresh(n))
    return hook


def until_done(store: Store, hook: int, now: datetime, passes: int = 10) -> list[datetime]:
    """send_due at each retry time in turn until nothing waits; the times used."""
    times = []
    for _ in range(passes):
        times.append(now)
        send_due(store, now)
        waiting = [r for r in hook_rows(store, hook) if r.state in ("pending", "failed")]
        if not waiting:
            return times
        now = min(r.next_attempt_at for r in waiting)
    raise AssertionError("rows still waiting")


def test_500_500_200_is_one_delivery_with_one_webhook_id_and_growing_delays(
    store: Store,
) -> None:
    with serve(SECRET, [500, 500]) as receiver:
        hook = one_hook(store, receiver.url)
        now = utcnow()
        times = until_done(store, hook, now)
        got = receiver.wait_for(3)
    assert len(times) == 3 and len(got) == 3
    assert all(r.verified for r in got)
    assert [r.status for r in got] == [500, 500, 200]  # exactly one success
    assert len({r.headers["webhook-id"] for r in got}) == 1
    assert len({r.body for r in got}) == 1  # the same bytes on every attempt
    first, second = (times[1] - times[0]).total_seconds(), (times[2] - times[1]).total_seconds()
    assert 5 <= first <= 10 <= second <= 20 and second > first
    (row,) = hook_rows(store, hook)
    assert (row.state, row.attempts) == ("sent", 3)
    log = store.delivery_log(hook)
    assert [(d.attempt, d.status, d.outcome) for d in reversed(log)] == [
        (1, 500, "retry"),
        (2, 500, "retry"),
        (3, 200, "ok"),
    ]
    assert got[0].payload["type"] == "release.created"
    assert got[0].payload["data"]["page_url"].endswith("/releases/" + row.release_id)
    assert store.get_webhook(hook).consecutive_failures == 0  # type: ignore[union-attr]


def test_always_failing_is_disabled_after_n_and_reported_once(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    with serve(SECRET) as receiver, caplog.at_level(logging.INFO, logger="feeds.alerts"):
        receiver.default = Reply(503)
        hook = one_hook(store, receiver.url)
        until_done(store, hook, utcnow())
        assert len(receiver.received) == FAST.webhook_max_failures
    webhook = store.get_webhook(hook)
    assert webhook is not None and not webhook.enabled
    assert "3 failed deliveries in a row" in (webhook.disabled_reason or "")
    (row,) = hook_rows(store, hook)
    assert row.state == "dead"
    (alert,) = store.operator_alerts(open_only=True)
    assert (alert.subject, alert.kind) == (f"webhook:{hook}", "webhook_disabled")
    assert "127.0.0.1" in alert.message and "/hook" not in alert.message  # no URL path
    warnings = [r for r in caplog.records if "disabled" in r.getMessage()]
    assert [r.levelno for r in warnings] == [logging.WARNING]
    assert SECRET not in caplog.text and not any(r.exc_info for r in caplog.records)


def test_410_disables_at_once_and_ends_the_other_rows_unsent(store: Store) -> None:
    with serve(SECRET, [410]) as receiver:
        hook = one_hook(store, receiver.url, releases=2)
        report = send_due(store, utcnow())
        assert len(receiver.received) == 1
    assert (report.sent, report.retried, report.dead) == (0, 0, 2)
    assert not store.get_webhook(hook).enabled  # type: ignore[union-attr]
    assert {r.state for r in hook_rows(store, hook)} == {"dead"}
    assert [a.subject for a in store.operator_alerts()] == [f"webhook:{hook}"]


def test_retry_after_is_honoured_up_to_the_cap(store: Store) -> None:
    with serve(
        SECRET, [Reply(429, retry_after="120"), Reply(503, retry_after="99999")]
    ) as receiver:
        hook = one_hook(store, receiver.url)
        now = utcnow()
        send_due(store, now)
        (row,) = hook_rows(store, hook)
        assert row.next_attempt_at - now >= timedelta(seconds=120)
        assert row.next_attempt_at - now <= timedelta(seconds=121)
        send_due(store, row.next_attempt_at)
        (again,) = hook_rows(store, hook)
        wait = again.next_attempt_at - row.next_attempt_at
        assert wait == timedelta(seconds=FAST.retry_max_seconds)  # the cap, not 99999 s
        assert len(receiver.received) == 2


def test_other_4xx_and_timeouts_are_counted_failures_retried_later(store: Store) -> None:
    quick = AlertSettings(retry_initial_seconds=10, webhook_timeout_seconds=0.5)
    with serve(SECRET, [404, Reply(200, delay=1.5)]) as receiver:
        hook = one_hook(store, receiver.url)
        now = utcnow()
        send_due(store, now, quick)
        (row,) = hook_rows(store, hook)
        assert (row.state, row.last_error) == ("failed", "HTTP 404")
        send_due(store, row.next_attempt_at, quick)
        (row,) = hook_rows(store, hook)
        assert row.state == "failed" and "timeout" in (row.last_error or "")
        assert store.get_webhook(hook).consecutive_failures == 2  # type: ignore[union-attr]
        send_due(store, row.next_attempt_at, quick)
        assert hook_rows(store, hook)[0].state == "sent"
        got = receiver.wait_for(3)
    assert len({r.headers["webhook-id"] for r in got}) == 1


def test_a_receiver_that_is_down_costs_one_attempt_per_pass(store: Store) -> None:
    hook = one_hook(store, "http://127.0.0.1:9/hook", releases=3)  # discard port: refused
    report = send_due(store, utcnow())
    assert (report.sent, report.retried, report.dead) == (0, 3, 0)
    assert len(store.delivery_log(hook)) == 1  # one attempt, the other rows wait with it
    times = {r.next_attempt_at for r in hook_rows(store, hook)}
    assert len(times) == 1


def test_fan_out_to_many_webhooks_each_delivered_once(store: Store) -> None:
    with serve(SECRET) as receiver:
        seed_site(store)
        hooks = [store.add_webhook(WebhookSpec(f"{receiver.url}/{n}", SECRET)) for n in range(30)]
        store.save_release(fresh())
        settings = AlertSettings(batch_size=7, webhook_concurrency=5)
        report: Any = sending(store, None, settings=settings, act=lambda s: s.drain(deadline=30))
        got = receiver.wait_for(30)
    assert report.sent == 30 and len(got) == 30 and all(r.verified for r in got)
    assert sorted(r.path for r in got) == sorted(f"/hook/{n}" for n in range(30))
    assert len(hooks) == len({r.headers["webhook-id"] for r in got})


def test_operator_alerts_are_open_once_per_subject_and_kind(store: Store) -> None:
    now = utcnow()
    first = store.raise_operator_alert("webhook:1", "webhook_disabled", "down", at=now)
    assert first is not None
    assert store.raise_operator_alert("webhook:1", "webhook_disabled", "again", at=now) is None
    other = store.raise_operator_alert("mali", "zero_items", "layout changed?", at=now)
    assert other is not None and other != first
    assert store.resolve_operator_alert("webhook:1", "webhook_disabled", at=now) is True
    assert store.resolve_operator_alert("webhook:1", "webhook_disabled", at=now) is False
    reopened = store.raise_operator_alert("webhook:1", "webhook_disabled", "down again", at=now)
    assert reopened is not None and reopened not in (first, other)
    assert [a.message for a in store.operator_alerts(open_only=True)] == [
        "down again",
        "layout changed?",
    ]
    closed = [a for a in store.operator_alerts() if a.resolved]
    assert [(a.id, a.resolved_at) for a in closed] == [(first, now)]
    with pytest.raises(ValueError, match="subject or kind"):
        store.raise_operator_alert("", "k", "m", at=now)
