"""Alerts benchmark: (a) building a daily digest for each of 10,000 subscribers over 500 new
releases, (b) webhook fan-out to 1,000 webhooks on one local receiver through the outbox.

    .venv/bin/python bench/alerts.py [--subscribers 10000] [--releases 500] [--webhooks 1000]
                                     [--memory-sample 1000] [--pg]

(a) goes through the sender's own composition (feeds/alerts/compose.py: language choice, one
Entry per release built once for the whole run, then `build_digest`) and serialises each
message to its SMTP bytes, as the sender hands it over; no database, no SMTP. Subscribers each
follow one of ten countries (50 releases a digest; the 500 spread evenly over the ten), with a
language preference among five. Time: every one of the 10,000 messages built, without
tracemalloc. Peak memory: tracemalloc over the first `--memory-sample` messages; each message
is dropped once serialised, as the sender does, so the peak does not grow with the count (the
run prints the peak at half the sample too, to show it). A worst case is printed too: digests
of all 500 releases, timed per message on a sample and multiplied by 10,000 (stated as such).

(b) a real webhook receiver (tests/feeds/alerts/receiver.py: threaded, verifying every
signature with standardwebhooks) on loopback; 1,000 webhooks in a SQLite store (PostgreSQL
with --pg); one release queues 1,000 rows; `AlertSender.drain()` until nothing is due.
Deliveries/s = 1,000 / wall time of the drain (claims, signing, POSTs, delivery log, marks).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import policy
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx

from crawler.items import Release
from crawler.store import OutboxRow, ReleaseQuery, Store, StoredRelease, Subscriber, WebhookSpec
from feeds.alerts.compose import Releases, digest_mail
from feeds.alerts.email import MailOrigin
from feeds.alerts.sender import AlertSender, AlertSettings

ORIGIN = MailOrigin("alerts@example.org", "https://iomwatch.example.org")
NOW = datetime(2026, 3, 3, 7, 0, tzinfo=UTC)
COUNTRIES = ("Mali", "Niger", "Chad", "Egypt", "Libya", "Mexico", "Peru", "Yemen", "Iraq", "Sudan")
LANGS = ("fr", "en", "ar", "es", "pt")
KEY = b"bench-signing-key-0123456789abcdef"
SECRET = "whsec_" + "YmVuY2gtd2ViaG9vay1zZWNyZXQta2V5LTAxMjM0"
PARAGRAPH = (
    "The International Organization for Migration (IOM) supported {n} returning migrants with "
    "reintegration assistance, psychosocial support and vocational training this month. "
)


def stored(i: int) -> StoredRelease:
    country = COUNTRIES[i % len(COUNTRIES)]
    when = NOW - timedelta(minutes=i)
    body = "".join(PARAGRAPH.format(n=i + k) for k in range(8))
    return StoredRelease(
        id=f"{country.lower()}-{i}",
        site=country.lower(),
        url=f"https://{country.lower()}.iom.int/news/release-{i}",
        group_key=f"{country.lower()}:{i}",
        lang=LANGS[i % len(LANGS)],
        country=country,
        region=None,
        type="press_release",
        title=f"Release {i}: IOM scales up support in {country}",
        published=when,
        dateline="Geneva",
        body_text=body,
        body_html=f"<p>{body}</p>",
        summary=PARAGRAPH.format(n=i),
        image_url=None,
        attachments=[],
        translations={},
        content_hash=str(i),
        first_seen=when,
        updated=when,
    )


def row(n: int, subscriber: int, release: StoredRelease) -> OutboxRow:
    return OutboxRow(
        id=n,
        idempotency_key=f"digest:{subscriber}:{release.group_key}:new",
        channel="digest",
        target_id=subscriber,
        group_key=release.group_key,
        release_id=release.id,
        event_id=n,
        kind="new",
        state="pending",
        attempts=1,
        next_attempt_at=NOW,
        last_error=None,
        sent_at=None,
        created_at=NOW,
    )


def subscriber(n: int) -> Subscriber:
    return Subscriber(
        email=f"s{n}@example.org",
        mode="daily",
        hour=8,
        timezone="Africa/Bamako",
        languages=(LANGS[n % len(LANGS)],),
        id=n,
        source="cli",
        created_at=NOW,
        confirmed_at=NOW,
        consent_at=None,
        unsubscribed_at=None,
    )


def digests(
    count: int, releases: list[StoredRelease], everything: bool = False
) -> Iterator[tuple[Subscriber, list[OutboxRow]]]:
    by_country: dict[str, list[StoredRelease]] = {}
    for r in releases:
        by_country.setdefault(r.country or "", []).append(r)
    for n in range(1, count + 1):
        mine = releases if everything else by_country[COUNTRIES[n % len(COUNTRIES)]]
        yield subscriber(n), [row(k, n, r) for k, r in enumerate(mine)]


def build_all(
    view: Releases, jobs: Iterator[tuple[Subscriber, list[OutboxRow]]], peaks: list[int]
) -> tuple[int, int]:
    """Build and serialise each digest; (messages, bytes). With tracemalloc on, notes peaks."""
    messages = size = 0
    for sub, rows in jobs:
        message = digest_mail(rows, sub, view, origin=ORIGIN, key=KEY, now=NOW)
        assert message is not None
        size += len(message.as_bytes(policy=policy.SMTP))
        messages += 1
        if tracemalloc.is_tracing():
            peaks.append(tracemalloc.get_traced_memory()[1])
    return messages, size


def bench_digests(subscribers: int, count: int, timed: int, sample: int) -> None:
    releases = [stored(i) for i in range(count)]
    started = time.perf_counter()
    view = Releases(ORIGIN.base_url)
    view.add(releases)
    for r in releases:
        view.entry(r)  # the Entries, once for the run
    entries_s = time.perf_counter() - started
    timed = min(timed, subscribers)
    started = time.perf_counter()
    messages, size = build_all(view, digests(timed, releases), [])
    per = (time.perf_counter() - started) / messages
    whole = "measured" if timed == subscribers else f"timed on {timed}, extrapolated"
    print(
        f"(a) digests: daily digests of {count // len(COUNTRIES)} releases each "
        f"(subscribers follow one of {len(COUNTRIES)} countries) over {count} new releases"
    )
    print(f"    entries built once: {entries_s * 1000:.0f} ms for {count}")
    print(
        f"    build + serialise: {per * 1000:.1f} ms/message ({size / messages / 1024:.0f} KiB "
        f"each) -> {subscribers} digests: {per * subscribers:.0f} s ({whole})"
    )
    peaks: list[int] = []
    tracemalloc.start()
    build_all(view, digests(sample, releases), peaks)
    tracemalloc.stop()
    print(
        f"    peak memory (tracemalloc over {sample} messages, each dropped once serialised, "
        f"as the sender does): {peaks[-1] / 2**20:.1f} MiB; after {sample // 2}: "
        f"{peaks[sample // 2 - 1] / 2**20:.1f} MiB (flat: it does not grow with the count)"
    )
    worst = 10
    started = time.perf_counter()
    build_all(view, digests(worst, releases, everything=True), [])
    per = (time.perf_counter() - started) / worst
    print(
        f"    worst case, all {count} releases in every digest: {per * 1000:.0f} ms/message "
        f"(timed on {worst}) -> x {subscribers} = {per * subscribers:.0f} s (extrapolated)"
    )


def release(i: int) -> Release:
    return Release(
        url=f"https://mali.iom.int/news/fanout-{i}",
        site="mali",
        lang="fr",
        title=f"Retour volontaire {i}",
        published=datetime.now(UTC),
        type="press_release",
        country="Mali",
        body_text=PARAGRAPH.format(n=i),
    )


# The receiver writes its status line and its 2-byte body in two sends; with Nagle on, the
# second waits for the client's delayed ACK (40 ms on Linux) and the bench would measure that.
# Real servers send them together; TCP_NODELAY on the receiver's sockets does the same here,
# and a listen backlog over 5 takes the 20 connections the sender opens at once.
RECEIVER = """
import json, socketserver, sys
socketserver.StreamRequestHandler.disable_nagle_algorithm = True
socketserver.TCPServer.request_queue_size = 128  # 20 connections at once, not 5
from tests.feeds.alerts.receiver import serve
with serve(sys.argv[1]) as receiver:
    print(receiver.url, flush=True)
    sys.stdin.readline()
    got = list(receiver.received)
    gaps = [b.at - a.at for a, b in zip(got, got[1:])]
    print(json.dumps({"count": len(got), "verified": sum(r.verified for r in got),
                      "ids": len({r.headers.get("webhook-id") for r in got}),
                      "spread": got[-1].at - got[0].at if got else 0.0}), flush=True)
"""


@contextlib.contextmanager
def receiver_process() -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """The test suite's webhook receiver in a child process: no GIL shared with the sender."""
    root = Path(__file__).resolve().parent.parent
    child = subprocess.Popen(
        [sys.executable, "-c", RECEIVER, SECRET],
        cwd=root,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,  # keep-alive connections closed at exit: noise
        text=True,
    )
    try:
        assert child.stdout is not None
        yield child.stdout.readline().strip(), child
    finally:
        child.kill()
        child.wait()


async def drain(store: Store, settings: AlertSettings) -> tuple[float, float, int]:
    limits = httpx.Limits(max_connections=settings.webhook_concurrency)
    async with httpx.AsyncClient(timeout=10, limits=limits) as http:
        sender = AlertSender(store, origin=ORIGIN, mailer=None, http=http, settings=settings)
        started, cpu = time.perf_counter(), time.process_time()
        report = await sender.drain(deadline=100)
        return time.perf_counter() - started, time.process_time() - cpu, report.sent


def bench_fanout(webhooks: int, url: str) -> None:
    settings = AlertSettings()
    with receiver_process() as (hook_url, child), Store(url) as store:
        store.save_release(release(0))  # the site's first crawl is behind us: alerts queue
        for n in range(webhooks):
            spec = WebhookSpec(f"{hook_url}/{n}", SECRET, ReleaseQuery(site=("mali",)))
            store.add_webhook(spec)
        started = time.perf_counter()
        store.save_release(release(1))
        queued = time.perf_counter() - started
        elapsed, cpu, sent = asyncio.run(drain(store, settings))
        assert child.stdin is not None and child.stdout is not None
        child.stdin.write("\n")
        child.stdin.flush()
        seen = json.loads(child.stdout.readline())
    kind = url.split(":", 1)[0].split("+")[0]
    print(
        f"(b) webhook fan-out ({kind}, batch {settings.batch_size}, "
        f"{settings.webhook_concurrency} at once): {sent} of {webhooks} sent; the receiver got "
        f"{seen['count']} ({seen['verified']} verified, {seen['ids']} distinct webhook-ids)"
    )
    print(f"    queueing the {webhooks} rows with the release event: {queued * 1000:.0f} ms")
    print(
        f"    drain: {elapsed:.2f} s = {sent / elapsed:.0f} deliveries/s "
        f"(claims, signing, POST, delivery log, mark sent; arrivals spread over "
        f"{seen['spread']:.2f} s)"
    )
    print(
        f"    sender CPU: {cpu:.2f} s = {cpu / sent * 1000:.1f} ms/delivery "
        f"(= {sent / cpu:.0f} deliveries/s of one core; load average now {os.getloadavg()[0]:.1f})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscribers", type=int, default=10_000)
    parser.add_argument("--releases", type=int, default=500)
    parser.add_argument("--webhooks", type=int, default=1000)
    parser.add_argument("--timed", type=int, default=500, help="digests timed (a)")
    parser.add_argument("--memory-sample", type=int, default=100)
    parser.add_argument("--pg", action="store_true", help="also run (b) on PostgreSQL")
    args = parser.parse_args()
    bench_digests(args.subscribers, args.releases, args.timed, args.memory_sample)
    with tempfile.TemporaryDirectory() as tmp:
        bench_fanout(args.webhooks, f"sqlite:///{tmp}/bench.db")
    if args.pg:
        from tests.conftest import pg_schema_url

        with contextlib.contextmanager(pg_schema_url)() as url:
            bench_fanout(args.webhooks, url)


if __name__ == "__main__":
    main()
