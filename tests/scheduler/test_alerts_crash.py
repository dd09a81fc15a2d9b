"""A kill -9 in the middle of a batch of alerts, and `[alerts] lease_seconds`, observed.

The one window of the outbox (crawler/store/outbox.py): a message that reached the receiver
but whose row was never marked sent is sent once more, with the same Message-ID, once the
claim's lease is over. Here the mail server keeps each message as soon as its DATA arrives
and answers 250 a second later, like a slow MTA that has already queued it: killing the
service in that second puts one message in the window, deterministically. The lease is 3 s
(the default, 300, would make the resend wait five minutes).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from crawler.store import OutboxRow, Store
from scheduler.alerting import alert_loop, alert_settings, open_sender
from scheduler.config import ServiceConfig
from tests.scheduler import test_alerts_service as service
from tests.scheduler.test_alerts_config import load, seed_alert
from tests.scheduler.test_alerts_service import SITE, Inbox, Mail, Seeded, Smtp, configure, sigkill
from tests.scheduler.test_service import start_service, stop_service, wait_for

# Its fixtures, here by name: the replica crawled once (for this module), an SMTP server.
seeded = service.seeded
smtp = service.smtp

LEASE = 3.0
DATA_DELAY = 1.0  # seconds between a message's arrival and the server's 250
SUBSCRIBERS = [f"analyst{n}@example.org" for n in range(2, 6)]  # configure() adds "analyst@"


@dataclass
class SlowInbox(Inbox):
    """Keeps each message on arrival, answers 250 `DATA_DELAY` later. A client that goes
    away meanwhile never gets the 250 (aiosmtpd cancels the handler: it is not `answered`)."""

    answered: int = 0
    second: threading.Event = field(default_factory=threading.Event)  # mail 2 has arrived

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        await super().handle_DATA(server, session, envelope)
        if self.counts()[0] >= 2:
            self.second.set()
        await asyncio.sleep(DATA_DELAY)
        with self.lock:
            self.answered += 1
        return "250 2.0.0 queued"

    def counts(self) -> tuple[int, int]:
        """(messages arrived, messages answered)."""
        with self.lock:
            return len(self.mails), self.answered


@pytest.fixture
def slow_smtp() -> Iterator[Smtp]:
    server = Smtp(inbox=SlowInbox())
    yield server
    server.down()


def email_rows(url: str) -> list[OutboxRow]:
    with Store(url, migrate=False) as store:
        return store.outbox_rows(channel="email")


def subscribers_extra() -> str:
    return "".join(f'[[subscriber]]\nemail = "{a}"\nsite = ["{SITE}"]\n' for a in SUBSCRIBERS)


def kill_mid_batch(config: Path, inbox: SlowInbox) -> tuple[Mail, Mail, float]:
    """Run the service until the second mail has arrived (the first was answered: one SMTP
    session sends in order), its 250 a second away; kill -9 it then.
    (the first mail, the one in the window, the kill's time)"""
    proc = start_service(config)
    try:
        assert inbox.second.wait(60), "the batch never reached its second mail"
    finally:
        sigkill(proc)
    killed = time.time()
    arrived, answered = inbox.counts()
    assert (arrived, answered) == (2, 1), "the kill was meant to land in mail 2's second"
    return inbox.mails[0], inbox.mails[1], killed


def test_a_kill_mid_batch_loses_nothing_and_resends_only_the_mail_in_the_window(
    tmp_path: Path, seeded: Seeded, slow_smtp: Smtp
) -> None:
    slow_smtp.up()
    inbox = slow_smtp.inbox
    assert isinstance(inbox, SlowInbox)
    config, url = configure(
        tmp_path,
        seeded,
        slow_smtp,
        alerts=f"interval_minutes = 600\n[alerts]\npoll_seconds = 0.5\nlease_seconds = {LEASE:g}\n",
        extra=subscribers_extra(),
    )
    title = "Five subscribers and a kill -9"
    seeded.replica.publish(SITE, lang="en", title=title)
    first, window, killed = kill_mid_batch(config, inbox)
    # The killed service's claim: the marked mail is sent, the other four leased for LEASE s.
    rows = {row.target_id: row for row in email_rows(url)}
    assert sorted(row.state for row in rows.values()) == ["pending"] * 4 + ["sent"]
    leased = [row for row in rows.values() if row.state == "pending"]
    lease_end = min(row.next_attempt_at for row in leased).timestamp()
    assert all(row.attempts == 1 for row in leased)
    # claimed (lease start) just before the first mail arrived: not 300 s, the configured 3
    assert LEASE - 1 < lease_end - first.at < LEASE, lease_end - first.at
    print(f"lease left by the killed service: ends {lease_end - first.at:.2f} s after mail 1")

    proc = start_service(config)
    try:
        everyone = {"analyst@example.org", *SUBSCRIBERS}
        wait_for(lambda: {m.to for m in inbox.about(title)} == everyone, 30, "every subscriber")
        time.sleep(1.5)  # three polls: a second duplicate would arrive within this
    finally:
        code, _, log = stop_service(proc, bound=40, log=tmp_path / "service.log")
    assert code == 0, log[-3000:]
    mails = inbox.about(title)
    per_address = Counter(m.to for m in mails)
    print(f"received: {len(mails)} mails for {len(per_address)} subscribers: {dict(per_address)}")
    assert set(per_address) == everyone
    assert max(per_address.values()) <= 2
    # one message was in the window: the one that had arrived but not been answered
    assert [to for to, n in per_address.items() if n == 2] == [window.to]
    copies = [m for m in mails if m.to == window.to]
    assert [m.message_id for m in copies] == [window.message_id] * 2, copies
    assert per_address[first.to] == 1  # marked before the kill: never sent again
    resent = copies[1].at
    assert resent >= lease_end  # nobody sent it before its lease was over
    print(
        f"mail in the window resent {resent - window.at:.2f} s after its first copy "
        f"({resent - killed:.2f} s after the kill; lease ended {lease_end - killed:.2f} s "
        "after the kill)"
    )
    assert {row.state for row in email_rows(url)} == {"sent"}


def test_lease_seconds_is_how_long_a_claimed_unmarked_alert_waits(
    tmp_path: Path, smtp: Smtp
) -> None:
    """A row claimed (as the service's sender claims) and never marked, as a killed sender
    leaves it: the service's sender loop, polling every 0.2 s, leaves it alone until the
    configured lease is over, then sends it."""
    smtp.up()
    config = load(
        tmp_path,
        f"[smtp]\nhost = '127.0.0.1'\nport = {smtp.port}\n"
        f"[alerts]\nlease_seconds = {LEASE:g}\npoll_seconds = 0.2\n"
        "[[subscriber]]\nemail = 'analyst@example.org'\n",
    )
    lease = alert_settings(config).lease_seconds
    assert lease == LEASE
    with Store(config.database_url) as store:
        seed_alert(store, config)
        claimed = datetime.now(UTC)
        (row,) = store.claim_due("email", now=claimed, limit=10, lease_seconds=lease)
        assert row.next_attempt_at == claimed + timedelta(seconds=LEASE)
        sent_at, passes = asyncio.run(resend(store, config, smtp.inbox))
        (after,) = store.outbox_rows(channel="email")
    waited = sent_at - claimed.timestamp()
    print(f"claimed, unmarked row sent {waited:.2f} s after the claim ({passes} passes)")
    assert LEASE <= waited < LEASE + 1.0, waited
    assert passes >= 5  # it looked, and left the leased row alone
    assert (after.state, after.attempts) == ("sent", 2)


async def resend(store: Store, config: ServiceConfig, inbox: Inbox) -> tuple[float, int]:
    """Run the service's sender loop until one mail arrived: (its arrival, loop passes)."""
    async with open_sender(store, config, []) as sender:
        loop = alert_loop(sender, config)
        loop.start()
        deadline = time.monotonic() + LEASE + 5
        while not inbox.mails and time.monotonic() < deadline:  # noqa: ASYNC110 (another thread)
            await asyncio.sleep(0.02)
        await loop.stop()
    assert len(inbox.mails) == 1, inbox.mails
    return inbox.mails[0].at, loop.passes


def test_lease_seconds_defaults_to_300_and_comes_from_the_environment(tmp_path: Path) -> None:
    assert alert_settings(ServiceConfig()).lease_seconds == 300
    config = load(tmp_path, "", {"IOMWATCH_ALERTS_LEASE_SECONDS": "7.5"})
    assert alert_settings(config).lease_seconds == 7.5
