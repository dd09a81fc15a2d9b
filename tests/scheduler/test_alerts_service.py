"""Alerts end to end: a real `iomwatch run` and hand `iomwatch crawl`s against a replica site,
mail into a real aiosmtpd server, webhooks into the real receiver.

Every test starts from one stored first crawl of the replica (made once for the module, the
SQLite file copied per test), so each pays only for the crawls that see its new releases.
The promise measured: a release seen by a crawl is in the inbox within 10 s of that crawl's
end (`crawl_runs.finished` to the message's arrival at the SMTP server).
"""

from __future__ import annotations

import email
import itertools
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from email import policy
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from crawler.store import ReleaseQuery, Store
from replica import ReplicaServer
from tests.feeds.alerts.receiver import serve
from tests.helpers import free_port, iomwatch, write_config
from tests.scheduler.test_service import start_service, stop_service, wait_for

PROMISE = 10.0  # seconds from a crawl's end to the inbox
SITE = "mena"


@dataclass
class Mail:
    to: str
    subject: str
    message_id: str
    at: float  # time.time() on arrival


@dataclass
class Inbox:
    """An aiosmtpd handler keeping every message with its arrival time."""

    mails: list[Mail] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        parsed = email.message_from_bytes(envelope.content, policy=policy.default)  # type: ignore[attr-defined]
        with self.lock:
            for to in envelope.rcpt_tos:  # type: ignore[attr-defined]
                self.mails.append(
                    Mail(to, str(parsed["Subject"]), str(parsed["Message-ID"]), time.time())
                )
        return "250 2.0.0 queued"

    def about(self, title: str) -> list[Mail]:
        with self.lock:
            return [m for m in self.mails if title in m.subject]


@dataclass
class Smtp:
    """An SMTP server on a fixed loopback port that can be down, then up."""

    port: int = field(default_factory=free_port)
    inbox: Inbox = field(default_factory=Inbox)
    controller: Controller | None = None

    def up(self) -> None:
        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def down(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


@pytest.fixture
def smtp() -> Iterator[Smtp]:
    server = Smtp()
    yield server
    server.down()


@dataclass
class Seeded:
    replica: ReplicaServer
    sites_file: Path
    database: Path  # a store after the site's first crawl: copy it, never write it


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    """The replica site, crawled once (its first crawl: old releases, no alerts)."""
    base = tmp_path_factory.mktemp("seeded")
    with ReplicaServer([SITE]) as replica:
        sites = replica.write_sites_file(base / "sites.toml")
        db = base / "iomwatch.db"
        config = write_config(
            base / "config.toml", sites_file=sites, database_url=f"sqlite:///{db}", data_dir=base
        )
        result = iomwatch("crawl", "--config", str(config), "--queue-only")
        assert result.returncode == 0, result.stderr[-2000:]
        yield Seeded(replica, sites, db)


def configure(
    tmp_path: Path, seeded: Seeded, smtp: Smtp, *, alerts: str, extra: str = ""
) -> tuple[Path, str]:
    """A config over a copy of the seeded store: one instant subscriber, SMTP on `smtp`."""
    db = tmp_path / "iomwatch.db"
    shutil.copy(seeded.database, db)
    url = f"sqlite:///{db}"
    port = free_port()
    config = write_config(
        tmp_path / "config.toml",
        sites_file=seeded.sites_file,
        database_url=url,
        data_dir=tmp_path,
        extra="jitter_seconds = 0\nstop_grace_seconds = 3\n"
        f"{alerts}\n"
        f'[server]\nport = {port}\nbase_url = "http://127.0.0.1:{port}"\n'
        f'[smtp]\nhost = "127.0.0.1"\nport = {smtp.port}\ntimeout_seconds = 3\n'
        f'[[subscriber]]\nemail = "analyst@example.org"\nsite = ["{SITE}"]\n{extra}',
    )
    return config, url


def latest_run_end(store: Store, after: datetime) -> datetime:
    """The end of the first run of the site that finished after `after` and found something."""
    for run in reversed(store.runs(SITE, limit=20)):
        if run.finished and run.finished > after and run.new:
            return run.finished
    raise AssertionError("no crawl stored a new release")


def mails_about(smtp: Smtp, title: str, timeout: float) -> list[Mail]:
    wait_for(lambda: bool(smtp.inbox.about(title)), timeout, f"a mail about {title!r}")
    return smtp.inbox.about(title)


def test_a_scheduled_crawl_mails_and_posts_within_10_s(
    tmp_path: Path, seeded: Seeded, smtp: Smtp
) -> None:
    """poll_seconds is 60 here: only the crawl's end (the supervisor's hook) can be this fast.
    The webhook answers 500, 500, 200: one success, one webhook-id, the delay growing."""
    smtp.up()
    with serve("whsec_" + "dGVzdC1zZWNyZXQtb2YtdGhlLXdlYmhvb2s=", [500, 500, 200]) as hook:
        config, url = configure(
            tmp_path,
            seeded,
            smtp,
            alerts="interval_minutes = 0.05\n"
            "[alerts]\npoll_seconds = 60\nretry_initial_seconds = 0.6\nretry_max_seconds = 5\n",
            extra=f'[[webhook]]\nurl = "{hook.url}"\n'
            f'secret = "whsec_dGVzdC1zZWNyZXQtb2YtdGhlLXdlYmhvb2s="\nsite = ["{SITE}"]\n',
        )
        published = datetime.now(UTC)
        title = "Scheduled crawl alerts this release"
        seeded.replica.publish(SITE, lang="en", title=title)
        proc = start_service(config)
        try:
            mails = mails_about(smtp, title, 90)
            with Store(url, migrate=False) as store:
                ended = latest_run_end(store, published)
            latency = mails[0].at - ended.timestamp()
            print(f"crawl end -> mail: {latency:.2f} s")
            assert latency < PROMISE
            received = hook.wait_for(3, timeout=30)
            time.sleep(2)  # a fourth delivery would come within this
            assert len(hook.received) == 3
            assert [r.status for r in received] == [500, 500, 200]
            assert all(r.verified for r in received)
            assert len({r.headers["webhook-id"] for r in received}) == 1
            # the receiver stamps arrivals with time.monotonic()
            posted = received[0].at + (time.time() - time.monotonic()) - ended.timestamp()
            print(f"crawl end -> first webhook attempt: {posted:.2f} s")
            assert posted < PROMISE
            first, second = (b.at - a.at for a, b in itertools.pairwise(received))
            print(f"webhook retry gaps: {first:.2f} s, {second:.2f} s")
            assert second > first > 0, (first, second)
            assert received[2].payload["data"]["title"] == title
            assert len(smtp.inbox.about(title)) == 1
        finally:
            code, _, log = stop_service(proc, bound=40, log=tmp_path / "service.log")
    assert code == 0, log[-3000:]
    assert "config subscribers: 1 added" in log


def test_hand_crawls_while_the_service_runs_are_mailed_within_10_s(
    tmp_path: Path, seeded: Seeded, smtp: Smtp
) -> None:
    """A `--queue-only` crawl leaves sending to the service: its poll (1 s) finds the rows.
    A plain crawl sends itself, the service's sender alongside: still one mail."""
    smtp.up()
    config, url = configure(
        tmp_path,
        seeded,
        smtp,
        alerts="interval_minutes = 600\n[alerts]\npoll_seconds = 1\n",
    )
    proc = start_service(config)
    try:
        with Store(url, migrate=False) as store:
            wait_for(lambda: len(store.runs(SITE, limit=5)) >= 2, 60, "the start-up crawl")
            wait_for(lambda: store.runs(SITE, limit=1)[0].finished is not None, 60, "its end")
        for flag, title in (("--queue-only", "Queued by hand"), ("", "Crawled by hand")):
            seeded.replica.publish(SITE, lang="en", title=title)
            result = iomwatch("crawl", "--config", str(config), *([flag] if flag else []))
            ended = time.time()
            assert result.returncode == 0, result.stderr[-2000:]
            assert ("alerts:" in result.stdout) is (not flag), result.stdout[-500:]
            mails = mails_about(smtp, title, PROMISE)
            print(f"{flag or 'plain'} crawl end -> mail: {mails[0].at - ended:.2f} s")
        time.sleep(1.5)  # the service's next poll: it must not send them again
        assert len(smtp.inbox.about("Queued by hand")) == 1
        assert len(smtp.inbox.about("Crawled by hand")) == 1
    finally:
        code, _, log = stop_service(proc, bound=40, log=tmp_path / "service.log")
    assert code == 0, log[-3000:]


def title_of(store: Store, release_id: str) -> str:
    found = store.get_release(release_id)
    return (found.title if found else None) or ""


def sigkill(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)


def outbox_states(url: str) -> dict[str, str]:
    """Each email row's state by the title of its release."""
    with Store(url, migrate=False) as store:
        rows = store.outbox_rows(channel="email")
        return {title_of(store, row.release_id): row.state for row in rows}


def test_smtp_down_then_up_and_a_sigkill_lose_nothing_and_send_nothing_twice(
    tmp_path: Path, seeded: Seeded, smtp: Smtp
) -> None:
    """The replica is the module's: the start-up crawl finds what earlier tests published.
    Those alerts are sent first (SMTP up), so each phase below waits on its own row alone."""
    config, url = configure(
        tmp_path,
        seeded,
        smtp,
        alerts="interval_minutes = 0.05\n"
        "[alerts]\npoll_seconds = 0.5\nretry_initial_seconds = 0.5\nretry_max_seconds = 1\n",
    )
    smtp.up()
    proc = start_service(config)
    try:
        with Store(f"sqlite:///{seeded.database}", migrate=False) as first:
            stored = {r.url for r in first.query_releases(ReleaseQuery(site=(SITE,)), limit=500)}
        earlier = {  # what earlier tests published (replica.publish dates it today)
            r.title
            for r in seeded.replica.releases(SITE)
            if r.url not in stored and r.published == date.today()
        }
        with Store(url, migrate=False) as store:
            wait_for(lambda: len(store.runs(SITE, limit=5)) >= 2, 60, "the start-up crawl")
            wait_for(lambda: store.runs(SITE, limit=1)[0].finished is not None, 60, "its end")
        wait_for(lambda: set(outbox_states(url).values()) <= {"sent"}, 30, "earlier alerts sent")
        # SMTP down: the alert waits ("failed", retried), the crawls go on
        smtp.down()
        seeded.replica.publish(SITE, lang="en", title="Waits for the mail server")
        wait_for(
            lambda: outbox_states(url).get("Waits for the mail server") == "failed",
            60,
            "a failed send",
        )
        smtp.up()
        assert len(mails_about(smtp, "Waits for the mail server", 10)) == 1
        # down again; a second alert waits; the service is killed, the server comes back
        smtp.down()
        seeded.replica.publish(SITE, lang="en", title="Outlives a kill -9")
        wait_for(lambda: outbox_states(url).get("Outlives a kill -9") == "failed", 60, "a retry")
        sigkill(proc)
        smtp.up()
        time.sleep(1.5)
        assert not smtp.inbox.about("Outlives a kill -9")  # nobody else sends: it waits
        proc = start_service(config)
        assert len(mails_about(smtp, "Outlives a kill -9", 20)) == 1
        time.sleep(2)  # retries every 0.5-1 s would have sent any duplicate by now
        assert len(smtp.inbox.about("Waits for the mail server")) == 1
        assert len(smtp.inbox.about("Outlives a kill -9")) == 1
        with Store(url, migrate=False) as store:
            rows = store.outbox_rows(channel="email")
            found = {title_of(store, r.release_id): r.state for r in rows}
        assert set(found.values()) == {"sent"}, found
        assert {"Waits for the mail server", "Outlives a kill -9"} <= set(found)
        assert len(rows) == len(found)  # one row per release: nothing queued twice
        assert earlier <= set(found), earlier - set(found)  # published before: alerted too
    finally:
        code, _, log = stop_service(proc, bound=40, log=tmp_path / "service.log")
    assert code == 0, log[-3000:]
    assert "SMTPConnectError" in log or "Connect call failed" in log


def test_a_crawl_never_hangs_or_fails_because_smtp_hangs(
    tmp_path: Path, seeded: Seeded, smtp: Smtp
) -> None:
    """A server that accepts the connection and never answers: the crawl still ends, exit 0,
    its alert left waiting for the service."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", smtp.port))
        listener.listen(8)
        config, url = configure(tmp_path, seeded, smtp, alerts="[alerts]\npoll_seconds = 2\n")
        seeded.replica.publish(SITE, lang="en", title="The mail server is mute")
        started = time.monotonic()
        result = iomwatch("crawl", "--config", str(config), timeout=120)
        took = time.monotonic() - started
    assert result.returncode == 0, result.stderr[-2000:]
    # (the replica is shared by the module: releases of earlier tests are new to this store)
    assert re.search(r"alerts: 0 sent, [1-9]\d* waiting to be sent", result.stdout)
    with Store(url, migrate=False) as store:
        mute = [r for r in store.outbox_rows() if "mute" in title_of(store, r.release_id)]
        assert [r.state for r in mute] == ["failed"]
        assert "timeout" in (mute[0].last_error or "").lower(), mute[0].last_error
    print(f"crawl with a mute SMTP server: {took:.1f} s")
    assert took < 60, f"the crawl took {took:.0f} s"
