"""Operator notices, on SQLite and PostgreSQL, through a real aiosmtpd server and the real
webhook receiver: a site that starts failing gives exactly one alert and one recovery on each
channel; SMTP down, webhook 500s, 410s, timeouts and a crashed sender lose or double nothing;
the operator Atom feed parses clean and the content feeds never show an operator alert."""

from __future__ import annotations

import asyncio
import json
import warnings
from datetime import UTC, datetime, timedelta
from typing import Any

import feedparser
import httpx

from crawler.store import RunStats, Store
from crawler.store.site_health import check_site
from feeds.alerts.email import message_id
from feeds.alerts.operator import deliver_operator_notices
from feeds.alerts.sender import SendReport
from feeds.alerts.smtp import SmtpSender, SmtpSettings
from feeds.alerts.webhooks import WebhookTarget
from tests.feeds.alerts.mails import ORIGIN, raw, reparse
from tests.feeds.alerts.receiver import Reply, serve
from tests.feeds.alerts.test_smtp import free_port, smtp_server
from tests.feeds.conftest import make_app

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

NOW = datetime(2026, 3, 3, 7, 30, tzinfo=UTC)
OPS = "ops@example.org"
SECRET = "operator-webhook-secret"


def tell(
    store: Store,
    *,
    port: int | None = None,
    hook: str | None = None,
    now: datetime = NOW,
    timeout: float = 3.0,
) -> SendReport:
    """One pass with a real SMTP client (for `port`) and httpx (for the webhook at `hook`)."""

    async def run() -> SendReport:
        mailer = SmtpSender(SmtpSettings("127.0.0.1", port, timeout=2)) if port else None
        target = WebhookTarget(hook, SECRET) if hook else None
        async with httpx.AsyncClient(timeout=timeout) as http:
            return await deliver_operator_notices(
                store,
                mailer=mailer,
                http=http,
                operator_email=OPS,
                operator_webhook=target,
                origin=ORIGIN,
                now=now,
            )

    return asyncio.run(run())


def crawl(store: Store, status: str, site: str = "mali") -> list[Any]:
    run = store.start_run(site)
    stats = RunStats(pages=3, items=1, new=1, listings=1, entries=9, coverage={"title": 1})
    if status != "ok":
        stats = RunStats(errors=1)
    reason = None if status == "ok" else "GET /news: 503"
    store.finish_run(run, stats, status=status, reason=reason)
    return check_site(store, site, now=NOW)


def counts(report: SendReport) -> tuple[int, int, int]:
    return report.sent, report.retried, report.dead


def test_a_failing_site_is_told_once_and_its_recovery_once(store: Store) -> None:
    with smtp_server() as (inbox, port), serve(SECRET) as receiver:
        for _ in range(3):
            crawl(store, "failed")
        assert counts(tell(store, port=port, hook=receiver.url)) == (2, 0, 0)
        for _ in range(2):  # still failing, told again later: nothing new
            crawl(store, "failed")
            assert not tell(store, port=port, hook=receiver.url)
        (raised,) = store.operator_alerts()
        crawl(store, "ok")
        assert counts(tell(store, port=port, hook=receiver.url, now=NOW)) == (2, 0, 0)
        assert not tell(store, port=port, hook=receiver.url, now=NOW + timedelta(hours=1))
        hooks = receiver.wait_for(2)
    mails = [reparse(raw(e)) for e in inbox.envelopes]
    assert [e.rcpt_tos for e in inbox.envelopes] == [[OPS], [OPS]]
    assert [m["Subject"] for m in mails] == [
        "[iomwatch] mali: failing",
        "[iomwatch] recovered: mali: failing",
    ]
    assert "3 crawls failed in a row" in mails[0].get_content()
    assert "Resolved: 2026-03-03 07:30 UTC" in mails[1].get_content()
    assert mails[0]["Message-ID"] == message_id(f"operator:{raised.id}:raised:email", ORIGIN)
    assert mails[0]["List-Unsubscribe"] is None and mails[0].get_content_type() == "text/plain"
    assert [h.verified for h in hooks] == [True, True]
    assert [h.payload["type"] for h in hooks] == [
        "operator.alert.raised",
        "operator.alert.resolved",
    ]
    assert hooks[1].payload["data"]["subject"] == "mali"
    assert hooks[1].payload["data"]["resolved_at"] == "2026-03-03T07:30:00Z"
    assert len({h.headers["webhook-id"] for h in hooks}) == 2
    assert {n.state for n in store.operator_notices()} == {"sent"}
    assert len(store.operator_notices()) == 4


def test_smtp_down_then_up_and_the_recovery_waits_for_its_alert(store: Store) -> None:
    port = free_port()  # nothing listens yet
    store.raise_operator_alert("mali", "failing", "mali: down", at=NOW)
    assert counts(tell(store, port=port)) == (0, 1, 0)
    (notice,) = store.operator_notices()
    assert notice.state == "failed" and f"smtp 127.0.0.1:{port}" in (notice.error or "")
    assert notice.next_attempt_at is not None and notice.next_attempt_at > NOW
    store.resolve_operator_alert("mali", "failing", at=NOW + timedelta(seconds=5))
    with smtp_server() as (inbox, up):
        # same address, new port: the retry is not due yet, and the recovery waits for it
        assert not tell(store, port=up, now=NOW + timedelta(seconds=10))
        assert inbox.envelopes == []
        assert counts(tell(store, port=up, now=NOW + timedelta(hours=2))) == (2, 0, 0)
        assert not tell(store, port=up, now=NOW + timedelta(hours=3))
    subjects = [reparse(raw(e))["Subject"] for e in inbox.envelopes]
    assert subjects == ["[iomwatch] mali: failing", "[iomwatch] recovered: mali: failing"]
    attempts = {(n.phase, n.attempts) for n in store.operator_notices()}
    assert attempts == {("raised", 2), ("resolved", 1)}


def test_a_refused_recipient_is_given_up_not_retried(store: Store) -> None:
    store.raise_operator_alert("mali", "failing", "mali: down", at=NOW)

    async def run(port: int) -> SendReport:
        async with httpx.AsyncClient() as http:
            return await deliver_operator_notices(
                store,
                mailer=SmtpSender(SmtpSettings("127.0.0.1", port, timeout=2)),
                http=http,
                operator_email="nobody@example.org",
                operator_webhook=None,
                origin=ORIGIN,
                now=NOW,
            )

    with smtp_server() as (inbox, port):
        assert counts(asyncio.run(run(port))) == (0, 0, 1)
        assert counts(asyncio.run(run(port))) == (0, 0, 0)
    assert inbox.envelopes == []
    (notice,) = store.operator_notices()
    assert notice.state == "dead" and "550" in (notice.error or "")


def test_webhook_500_timeout_then_ok_and_410_gives_up(store: Store) -> None:
    store.raise_operator_alert("mali", "failing", "mali: down", at=NOW)
    script: list[Reply | int] = [Reply(500, retry_after="120"), Reply(200, delay=1.0), 200]
    with serve(SECRET, script) as receiver:
        assert counts(tell(store, hook=receiver.url)) == (0, 1, 0)
        (notice,) = store.operator_notices()
        assert notice.next_attempt_at is not None
        assert notice.next_attempt_at >= NOW + timedelta(seconds=120)  # Retry-After honoured
        later = NOW + timedelta(hours=1)
        assert counts(tell(store, hook=receiver.url, now=later, timeout=0.5)) == (0, 1, 0)
        assert counts(tell(store, hook=receiver.url, now=later + timedelta(hours=2))) == (1, 0, 0)
        hooks = receiver.wait_for(3)
    assert len({h.headers["webhook-id"] for h in hooks}) == 1  # one delivery, three attempts
    assert len({h.body for h in hooks}) == 1  # the same bytes on every retry
    store.raise_operator_alert("niger", "failing", "niger: down", at=NOW)
    with serve(SECRET, [410]) as receiver:
        assert counts(tell(store, hook=receiver.url)) == (0, 0, 1)
        assert not tell(store, hook=receiver.url, now=NOW + timedelta(hours=5))


def test_a_crashed_senders_lease_expires_and_the_notice_goes_once(store: Store) -> None:
    alert = store.raise_operator_alert("mali", "failing", "mali: down", at=NOW)
    assert alert is not None
    lease = timedelta(seconds=300)
    # a sender took the notice, then was killed before marking it
    assert store.claim_operator_notice(alert, "raised", "email", now=NOW, lease=lease) == 1
    assert store.claim_operator_notice(alert, "raised", "email", now=NOW, lease=lease) is None
    with smtp_server() as (inbox, port):
        assert not tell(store, port=port, now=NOW + timedelta(seconds=60))
        assert counts(tell(store, port=port, now=NOW + timedelta(seconds=301))) == (1, 0, 0)
        assert not tell(store, port=port, now=NOW + timedelta(seconds=900))
    assert len(inbox.envelopes) == 1


def test_two_senders_at_once_send_each_notice_once(store: Store) -> None:
    for site in ("mali", "niger", "chad"):
        store.raise_operator_alert(site, "failing", f"{site}: down", at=NOW)

    async def both(port: int, hook: str) -> list[SendReport]:
        async with httpx.AsyncClient(timeout=3) as http:
            kwargs: dict[str, Any] = {
                "mailer": SmtpSender(SmtpSettings("127.0.0.1", port, timeout=2)),
                "http": http,
                "operator_email": OPS,
                "operator_webhook": WebhookTarget(hook, SECRET),
                "origin": ORIGIN,
                "now": NOW,
            }
            passes = [deliver_operator_notices(store, **kwargs) for _ in range(2)]
            return list(await asyncio.gather(*passes))

    with smtp_server() as (inbox, port), serve(SECRET) as receiver:
        reports = asyncio.run(both(port, receiver.url))
        hooks = receiver.wait_for(3)
    assert sum(r.sent for r in reports) == 6
    assert len(inbox.envelopes) == 3 and len(hooks) == 3


def test_old_alerts_and_no_channel_tell_nothing(store: Store) -> None:
    store.raise_operator_alert("mali", "failing", "last month", at=NOW - timedelta(days=30))
    with smtp_server() as (inbox, port):
        assert not tell(store, port=port)
        store.raise_operator_alert("niger", "failing", "now", at=NOW)
        assert not tell(store)  # no mailer, no webhook: nothing claimed
        assert store.operator_notices() == []
        assert counts(tell(store, port=port)) == (1, 0, 0)
    assert len(inbox.envelopes) == 1


def test_hostile_messages_stay_in_the_body(store: Store) -> None:
    evil = "mali: failed: <script>x</script>\r\nBcc: victim@example.org\r\n\r\n\x00\x1bend"
    store.raise_operator_alert("mali", "failing", evil, at=NOW)
    with smtp_server() as (inbox, port), serve(SECRET) as receiver:
        assert counts(tell(store, port=port, hook=receiver.url)) == (2, 0, 0)
        (hook,) = receiver.wait_for(1)
    (envelope,) = inbox.envelopes
    assert envelope.rcpt_tos == [OPS]
    mail = reparse(raw(envelope))
    assert mail["Bcc"] is None
    assert "Bcc: victim@example.org \ufffdend" in mail.get_content()  # one line, no controls
    # stored without its NUL (PostgreSQL refuses it); JSON escapes the rest
    assert hook.payload["data"]["message"] == evil.replace("\x00", "\ufffd")
    assert json.loads(hook.body)["data"]["kind"] == "failing"


def test_operator_feed_parses_and_content_feeds_never_show_it(seeded: Store) -> None:
    app = make_app(seeded)
    client = TestClient(app)
    before = {path: client.get(path).content for path in CONTENT}
    assert feedparser.parse(client.get("/operator.atom").content).bozo == 0
    evil = "mali: <b>bold</b> & \x00\x0b\u2028 reason ]]> " + "x" * 5000
    seeded.raise_operator_alert("mali", "failing", evil, at=NOW)
    seeded.raise_operator_alert("webhook:3", "webhook_disabled", "webhook 3 disabled", at=NOW)
    seeded.resolve_operator_alert("mali", "failing", at=NOW + timedelta(hours=2))
    response = client.get("/operator.atom")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/atom+xml")
    assert response.headers["cache-control"] == "no-cache"
    parsed = feedparser.parse(response.content)
    assert parsed.bozo == 0, parsed.get("bozo_exception")
    assert [e.title for e in parsed.entries] == [
        "recovered: mali: failing",
        "webhook:3: webhook_disabled",
        "mali: failing",
    ]
    assert "<b>bold</b> &" in parsed.entries[2].content[0].value
    assert len({e.id for e in parsed.entries}) == 3
    app.state.service.invalidate()
    for path in CONTENT:
        body = client.get(path).content
        assert b"webhook_disabled" not in body and b"operator" not in body.lower()
        assert b"bold" not in body
        if path != "/":  # the feeds and the API: the very same bytes as before the alerts
            assert body == before[path], path


CONTENT = ("/feed.atom", "/feed.rss", "/feed.json", "/api/releases", "/", "/opml")
