"""The outbox sender's mail side, against a real aiosmtpd server on loopback, on SQLite and
PostgreSQL: one mail per row in the right language, digests grouped, SMTP down then up,
a crashed sender's rows sent again after the lease — once."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import update

from crawler.store import OutboxRow, Store
from crawler.store.schema import subscribers, utcnow
from feeds.alerts.compose import Releases, digest_mail
from feeds.alerts.email import message_id
from feeds.alerts.sender import AlertSender, AlertSettings, SendReport
from feeds.alerts.smtp import SmtpSender, SmtpSettings
from feeds.alerts.tokens import UNSUBSCRIBE, read_token
from tests.crawler.store.test_outbox import fresh, seed_site, spec
from tests.feeds.alerts.mails import ORIGIN, raw, reparse
from tests.feeds.alerts.test_smtp import Inbox, free_port, smtp_server

PASSWORD = "smtp-Pa55-never-logged"
FAST = AlertSettings(retry_initial_seconds=10, retry_max_seconds=600)
LIST_HEADERS = ("List-Id", "List-Unsubscribe", "List-Unsubscribe-Post", "Precedence")
HEADERS = ("Message-ID", "Date", "From", "To", "Subject", "Auto-Submitted", *LIST_HEADERS)


def sending(
    store: Store,
    port: int | None,
    *,
    settings: AlertSettings = FAST,
    act: Callable[[AlertSender], Any] = lambda s: s.send_due(),
) -> Any:
    """Run `act(sender)` with a real SMTP client for `port` (None: no mailer) and httpx."""

    async def run() -> Any:
        mailer = None
        if port is not None:
            mailer = SmtpSender(
                SmtpSettings("127.0.0.1", port, timeout=3, username="", password=PASSWORD)
            )
        async with httpx.AsyncClient(timeout=3) as http:
            sender = AlertSender(store, origin=ORIGIN, mailer=mailer, http=http, settings=settings)
            return await act(sender)

    return asyncio.run(run())


def send_due(store: Store, port: int | None, now: datetime, **kw: Any) -> SendReport:
    report: SendReport = sending(store, port, act=lambda s: s.send_due(now), **kw)
    return report


@contextlib.contextmanager
def serving_on(port: int) -> Iterator[tuple[Inbox, int]]:
    """An aiosmtpd server on this very port (the sender's settings unchanged)."""
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


def by_key(store: Store, channel: str) -> dict[str, OutboxRow]:
    return {r.idempotency_key: r for r in store.outbox_rows(channel=channel, limit=1000)}


def received(inbox: Inbox) -> list[Any]:
    return [reparse(raw(e)) for e in inbox.envelopes]


def text_part(message: Any) -> str:
    return str(message.get_body(("plain",)).get_content())


def translated(store: Store) -> None:
    """A French release with an English version (one translation group), and a French one."""
    store.save_release(fresh(1, node_id="812", lang="fr", title="Retour volontaire à Gao"))
    store.save_release(
        fresh(
            1,
            node_id="812",
            lang="en",
            url="https://mali.iom.int/en/news/r1",
            title="Voluntary return to Gao",
            body_text="Bamako – an English release.",
        )
    )
    store.save_release(fresh(2, title="Réintégration à Mopti"))


def test_each_instant_row_is_one_mail_in_the_first_preferred_language(store: Store) -> None:
    seed_site(store)
    english = store.add_subscriber(spec("en@example.org", languages=("en", "fr")))
    anyone = store.add_subscriber(spec("any@example.org"))
    arabic = store.add_subscriber(spec("ar@example.org", languages=("ar",)))
    translated(store)
    rows = by_key(store, "email")
    assert len(rows) == 6  # two groups x three subscribers
    with smtp_server() as (inbox, port):
        report = send_due(store, port, utcnow())
        again = send_due(store, port, utcnow())
    assert (report.sent, report.retried, report.dead, bool(again)) == (6, 0, 0, False)
    mails = received(inbox)
    assert len(mails) == 6 and len({m["Message-ID"] for m in mails}) == 6
    for mail in mails:
        assert all(mail[h] for h in HEADERS)
        assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    gao = {m["To"]: m["Subject"] for m in mails if "Gao" in m["Subject"]}
    assert "Voluntary return to Gao" in gao["en@example.org"]  # its first preference
    assert "Retour volontaire à Gao" in gao["any@example.org"]  # no preference: the row's
    assert "Retour volontaire à Gao" in gao["ar@example.org"]  # no Arabic: the row's release
    sent = by_key(store, "email")
    assert {r.state for r in sent.values()} == {"sent"}
    ids = {m["Message-ID"] for m in mails}
    assert ids == {message_id(k, ORIGIN) for k in sent}
    token_of = {m["To"]: m["List-Unsubscribe"].split("token=")[1].split(">")[0] for m in mails}
    key_bytes = store.signing_key()
    for address, who in (
        ("en@example.org", english),
        ("any@example.org", anyone),
        ("ar@example.org", arabic),
    ):
        assert read_token(key_bytes, UNSUBSCRIBE, token_of[address], now=utcnow()) == str(who)


def test_a_digest_is_one_mail_per_subscriber_grouped_by_country(store: Store) -> None:
    seed_site(store)
    a = store.add_subscriber(spec("a@example.org", mode="daily", hour=8, timezone="Africa/Bamako"))
    b = store.add_subscriber(spec("b@example.org", mode="weekly", languages=("fr",)))
    gone = store.add_subscriber(spec("gone@example.org", mode="daily"))
    store.save_release(fresh(1, title="Retour à Gao"))
    store.save_release(fresh(2, title="Retour à Mopti"))
    store.save_release(fresh(3, title="Niamey", country="Niger", url="https://mali.iom.int/n/3"))
    with store.engine.begin() as conn:  # unsubscribed behind the store's back: the sender checks
        conn.execute(
            update(subscribers).where(subscribers.c.id == gone).values(unsubscribed_at=utcnow())
        )
    due = max(r.next_attempt_at for r in store.outbox_rows(channel="digest"))
    with smtp_server() as (inbox, port):
        early = send_due(store, port, due - timedelta(days=8))
        report = send_due(store, port, due)
        again = send_due(store, port, due + timedelta(days=8))
    assert not early and not again
    assert (report.sent, report.dead) == (6, 3)
    mails = {m["To"]: m for m in received(inbox)}
    assert set(mails) == {"a@example.org", "b@example.org"}  # one each, none to `gone`
    for mail in mails.values():
        text = text_part(mail)
        assert all(t in text for t in ("Retour à Gao", "Retour à Mopti", "Niamey"))
        assert text.index("Mali") < text.index("Retour à Gao") and "Niger" in text
        assert mail.get_content_type() == "multipart/alternative"
        assert all(mail[h] for h in HEADERS)
    states = {(r.target_id, r.state) for r in store.outbox_rows(channel="digest")}
    assert states == {(a, "sent"), (b, "sent"), (gone, "dead")}


def test_a_digest_whose_releases_all_vanished_is_not_built(store: Store) -> None:
    seed_site(store)
    sub = store.get_subscriber(store.add_subscriber(spec(mode="daily")))
    store.save_release(fresh())
    rows = store.outbox_rows(channel="digest")
    assert sub is not None and len(rows) == 1
    view = Releases(ORIGIN.base_url)  # nothing found: every release gone
    assert digest_mail(rows, sub, view, origin=ORIGIN, key=b"k", now=utcnow()) is None
    view.add(store.releases_of_groups([r.group_key for r in rows]))
    mail = digest_mail(rows, sub, view, origin=ORIGIN, key=b"k", now=utcnow())
    assert mail is not None and "Retour volontaire 1" in text_part(mail)


def test_smtp_down_then_up_every_row_retried_then_sent_once(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    seed_site(store)
    store.add_subscriber(spec("i@example.org"))
    store.add_subscriber(spec("d@example.org", mode="daily", hour=8))
    for n in (1, 2, 3):
        store.save_release(fresh(n))
    due = max(r.next_attempt_at for r in store.outbox_rows(limit=100))
    port = free_port()  # nothing listens: connection refused
    with caplog.at_level(logging.INFO, logger="feeds.alerts"):
        down = send_due(store, port, due)
    assert (down.sent, down.retried, down.dead) == (0, 6, 0)
    waiting = store.outbox_rows(limit=100)
    assert {r.state for r in waiting} == {"failed"}
    assert all(
        r.next_attempt_at > due and "smtp 127.0.0.1" in (r.last_error or "") for r in waiting
    )
    lines = [r.getMessage() for r in caplog.records if r.name == "feeds.alerts.sender"]
    assert len(lines) == 4  # three instant mails and one digest: one line each, with row ids
    digest = [r.id for r in waiting if r.channel == "digest"]
    expected = [f"outbox [{r.id}]" for r in waiting if r.channel == "email"]
    assert all(any(line.startswith(e) for line in lines) for e in [*expected, f"outbox {digest}"])
    assert all("ConnectionRefused" in line or "connect" in line.lower() for line in lines)
    assert not any(r.exc_info for r in caplog.records) and PASSWORD not in caplog.text
    with serving_on(port) as (inbox, up_port):  # the server is back where it was
        assert not send_due(store, up_port, due)  # not due yet: the retry time is later
        later = due + timedelta(seconds=FAST.retry_initial_seconds)
        report = send_due(store, up_port, later)
        assert not send_due(store, up_port, later + timedelta(days=2))
    assert (report.sent, report.retried) == (6, 0)
    assert len(inbox.envelopes) == 4  # three instant mails and one digest of three
    assert {r.state for r in store.outbox_rows(limit=100)} == {"sent"}


def test_a_crashed_senders_rows_go_out_after_the_lease_once(store: Store) -> None:
    seed_site(store)
    store.add_subscriber(spec())
    store.save_release(fresh())
    now = utcnow()
    lease = FAST.lease_seconds
    (claimed,) = store.claim_due("email", now=now, limit=10, lease_seconds=lease)  # then "dies"
    with smtp_server() as (inbox, port):
        assert not send_due(store, port, now + timedelta(seconds=lease - 1))
        report = send_due(store, port, now + timedelta(seconds=lease + 1))
        assert not send_due(store, port, now + timedelta(seconds=3 * lease))
    assert report.sent == 1 and len(inbox.envelopes) == 1
    (row,) = store.outbox_rows()
    assert (row.id, row.state, row.attempts) == (claimed.id, "sent", 2)
    assert reparse(raw(inbox.envelopes[0]))["Message-ID"] == message_id(row.idempotency_key, ORIGIN)


def test_no_mailer_leaves_mail_rows_unclaimed(store: Store) -> None:
    seed_site(store)
    store.add_subscriber(spec())
    store.save_release(fresh())
    assert not send_due(store, None, utcnow())
    (row,) = store.outbox_rows()
    assert (row.state, row.attempts) == ("pending", 0)


def test_drain_sends_a_backlog_of_several_batches(store: Store) -> None:
    seed_site(store)
    store.add_subscriber(spec())
    for n in range(5):
        store.save_release(fresh(n))
    small = AlertSettings(batch_size=2)
    with smtp_server() as (inbox, port):
        one = sending(store, port, settings=small, act=lambda s: s.drain(until_idle=False))
        rest = sending(store, port, settings=small, act=lambda s: s.drain(deadline=30))
    assert (one.sent, rest.sent, len(inbox.envelopes)) == (2, 3, 5)
    assert "Pa55" not in repr(SmtpSender(SmtpSettings("h", 25, password=PASSWORD)))


def test_a_pass_that_outlives_half_its_lease_hands_the_rest_back(store: Store) -> None:
    seed_site(store)
    store.add_subscriber(spec())
    for n in range(3):
        store.save_release(fresh(n))
    now = utcnow()
    tiny = AlertSettings(lease_seconds=1e-6)  # gone before the second send could start
    with smtp_server() as (inbox, port):
        first = send_due(store, port, now, settings=tiny)
        assert (first.sent, first.retried, len(inbox.envelopes)) == (1, 2, 1)
        handed = [r for r in store.outbox_rows() if r.state == "failed"]
        assert [r.next_attempt_at for r in handed] == [now, now]  # due again at once
        assert "ran out of time" in (handed[0].last_error or "")
        second = send_due(store, port, now, settings=tiny)
    assert second.sent == 1 and len(inbox.envelopes) == 2
    assert len({e.content for e in inbox.envelopes}) == 2  # no mail twice
