"""The outbox on SQLite and on the real PostgreSQL server: rows written with the release event,
only for matching, confirmed targets, claimed under a lease by concurrent senders."""

from __future__ import annotations

import dataclasses
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest.mock import ANY

import pytest
from sqlalchemy import select, text

from crawler.store import (
    OutboxRow,
    ReleaseQuery,
    Store,
    SubscriberSpec,
    WebhookSpec,
    matches,
)
from crawler.store.schema import outbox, releases, utcnow
from feeds.alerts.schedule import next_digest_at
from tests.crawler.store.test_store import release

MALI = ReleaseQuery(country=("Mali",))


def spec(email: str = "a@example.org", **overrides: Any) -> SubscriberSpec:
    return SubscriberSpec(email, **overrides)


def seed_site(store: Store, site: str = "mali") -> None:
    """A release of the site saved before: later saves are not the site's first crawl."""
    store.save_release(release(site=site, url=f"https://{site}.iom.int/news/old", title="Old"))


def fresh(n: int = 1, **overrides: Any) -> Any:
    values: dict[str, Any] = {
        "url": f"https://mali.iom.int/news/r{n}",
        "title": f"Retour volontaire {n}",
        "body_text": f"Bamako – communiqué numéro {n}.",
        "published": utcnow() - timedelta(hours=1),
    }
    return release(**{**values, **overrides})


def postgresql(store: Store) -> bool:
    return store.engine.dialect.name == "postgresql"


def rows(store: Store, **where: Any) -> list[OutboxRow]:
    return store.outbox_rows(limit=10_000, **where)


def test_rows_are_written_with_the_event_for_matching_targets_only(store: Store) -> None:
    seed_site(store)
    mali = store.add_subscriber(spec("mali@example.org", filters=MALI))
    store.add_subscriber(spec("niger@example.org", filters=ReleaseQuery(country=("Niger",))))
    digest = store.add_subscriber(
        spec("d@example.org", mode="daily", hour=8, timezone="Africa/Bamako")
    )
    hook = store.add_webhook(
        WebhookSpec("https://h.example/in", "whsec_x", ReleaseQuery(("mali",)))
    )
    store.add_webhook(WebhookSpec("https://h.example/mena", "", ReleaseQuery(site=("mena",))))
    assert store.save_release(fresh()) == "new"
    event = store.events_since()[-1]
    queued = {(r.channel, r.target_id): r for r in rows(store)}
    assert set(queued) == {("email", mali), ("digest", digest), ("webhook", hook)}
    mail = queued["email", mali]
    group = store.get_release(event.release_id).group_key  # type: ignore[union-attr]
    assert mail.idempotency_key == f"email:{mali}:{group}:new"
    assert (mail.state, mail.attempts, mail.event_id, mail.kind) == ("pending", 0, event.id, "new")
    assert mail.next_attempt_at == event.created_at
    assert queued["digest", digest].next_attempt_at == next_digest_at(
        "daily", 8, "Africa/Bamako", event.created_at
    )
    assert queued["webhook", hook].idempotency_key == (
        f"webhook:{hook}:{event.release_id}:{event.id}"
    )


def test_one_mail_per_translation_group_and_one_webhook_row_per_event(store: Store) -> None:
    seed_site(store)
    sub = store.add_subscriber(spec(languages=("en", "fr")))
    hook = store.add_webhook(WebhookSpec("https://h.example/in"))
    store.save_release(fresh(node_id="812", lang="fr"))
    store.save_release(
        fresh(
            node_id="812",
            lang="en",
            url="https://mali.iom.int/en/news/r1",
            title="Voluntary return",
            body_text="Bamako – a release.",
        )
    )
    assert len(store.events_since()) == 3  # the seed, then both language versions
    assert len(rows(store, channel="email", target_id=sub)) == 1
    assert len(rows(store, channel="webhook", target_id=hook)) == 2
    store.save_release(fresh(node_id="812", lang="fr", body_text="Bamako – corrigé."))
    store.save_release(fresh(node_id="812", lang="fr", body_text="Bamako – corrigé encore."))
    mails = rows(store, channel="email", target_id=sub)
    assert [m.kind for m in mails] == ["new", "updated"]  # a key already there is skipped
    assert len(rows(store, channel="webhook", target_id=hook)) == 4


def test_unconfirmed_unsubscribed_and_later_subscribers_get_nothing(store: Store) -> None:
    seed_site(store)
    web = store.add_subscriber(spec("web@example.org"), source="web")
    gone = store.add_subscriber(spec("gone@example.org"))
    store.unsubscribe(gone)
    store.add_subscriber(spec("later@example.org"), at=utcnow() + timedelta(hours=1))
    store.save_release(fresh(1))
    assert rows(store) == []
    assert store.confirm(web, at=utcnow()) is True
    assert store.confirm(web, at=utcnow()) is False  # a confirmation counts once
    store.save_release(fresh(2))
    assert [r.target_id for r in rows(store)] == [web]
    assert store.unsubscribe(web) is True
    assert [(r.state, r.last_error) for r in rows(store)] == [("dead", "unsubscribed")]


def test_a_first_crawl_alerts_only_releases_within_the_backfill_window(store: Store) -> None:
    store.backfill_window = timedelta(hours=6)
    store.add_subscriber(spec())
    now = utcnow()
    with store.site_lock("mali") as held:
        assert held
        store.save_release(fresh(1, published=now - timedelta(days=3)))
        store.save_release(fresh(2, published=now - timedelta(hours=2)))
        store.save_release(fresh(3, published=None))
        store.save_release(fresh(4, published=now - timedelta(hours=7)))
    assert [r.release_id for r in rows(store)] == [id_of(store, "r2")]
    with store.site_lock("mali"):  # the next crawl alerts whatever it finds, however old
        store.save_release(fresh(5, published=now - timedelta(days=30)))
    assert len(rows(store)) == 2


def id_of(store: Store, slug: str) -> str:
    with store.engine.connect() as conn:
        rid = conn.execute(select(releases.c.id).where(releases.c.url.like(f"%/{slug}"))).scalar()
    return str(rid)


def test_a_failing_outbox_write_leaves_no_event_and_no_release(store: Store) -> None:
    """The event and its alerts are one transaction: no crash can fall between them."""
    seed_site(store)
    store.add_subscriber(spec())
    with store.engine.begin() as conn:
        if not postgresql(store):
            conn.execute(
                text(
                    "CREATE TRIGGER outbox_down BEFORE INSERT ON outbox"
                    " BEGIN SELECT RAISE(ABORT, 'outbox down'); END"
                )
            )
        else:
            conn.execute(
                text(
                    "CREATE FUNCTION outbox_down() RETURNS trigger LANGUAGE plpgsql"
                    " AS $$ BEGIN RAISE EXCEPTION 'outbox down'; END $$"
                )
            )
            conn.execute(
                text(
                    "CREATE TRIGGER outbox_down BEFORE INSERT ON outbox"
                    " FOR EACH ROW EXECUTE FUNCTION outbox_down()"
                )
            )
    before = (len(store.events_since()), store.release_count())
    with pytest.raises(Exception, match="outbox down"):
        store.save_release(fresh())
    assert (len(store.events_since()), store.release_count()) == before
    with store.engine.begin() as conn:
        conn.execute(text("DROP TRIGGER outbox_down" + (" ON outbox" if postgresql(store) else "")))
    assert store.save_release(fresh()) == "new"  # the page comes again: now it is stored
    assert len(rows(store)) == 1


# site, lang, country, title: one release each, for matching in Python and in SQL alike
SAMPLES = [
    ("mali", "fr", "Mali", "Retour volontaire à Gao"),
    ("brazil", "pt-br", "Brazil", "Migração segura: a OIM apoia a integração"),
    ("mena", "ar", None, "المُنظمة تساعد المهاجرين"),
]


def test_matches_agrees_with_the_sql_filter(store: Store) -> None:
    for n, (site, lang, country, title) in enumerate(SAMPLES):
        url = f"https://{site}.iom.int/{lang}/news/{n}"
        store.save_release(fresh(n, url=url, site=site, lang=lang, country=country, title=title))
    queries = [
        ReleaseQuery(),
        MALI,
        ReleaseQuery(country=("MALI", "brazil")),
        ReleaseQuery(lang=("pt",)),
        ReleaseQuery(lang=("pt-BR",), site=("brazil",)),
        ReleaseQuery(lang=("p",)),
        ReleaseQuery(q=("RETOUR volont",)),
        ReleaseQuery(q=("migracao", "المهاجرين")),
        ReleaseQuery(q=("مهاجرين",)),
        ReleaseQuery(q=("a oim",)),
        ReleaseQuery(q=("!!!",)),
        ReleaseQuery(q=("!!!", "gao")),
        ReleaseQuery(q=("v",)),
        ReleaseQuery(type=("news",), country=("mali",)),
        ReleaseQuery(q=("communique numero",)),
        ReleaseQuery(region=("west and central africa",)),
        ReleaseQuery(type=("press_release", "story"), lang=("ar", "fr")),
    ]
    with store.engine.connect() as conn:
        stored = [dict(r._mapping) for r in conn.execute(select(releases))]
    answers = set()
    for query in queries:
        in_sql = {r.id for r in store.query_releases(query)}
        assert {r["id"] for r in stored if matches(query, r)} == in_sql, query
        answers.add(frozenset(in_sql))
    assert len(answers) >= 5  # the queries tell the releases apart, not all or nothing


def test_claims_lease_rows_until_marked_or_expired(store: Store) -> None:
    seed_site(store)
    store.add_subscriber(spec())
    for n in range(3):
        store.save_release(fresh(n))
    now = utcnow() + timedelta(seconds=1)
    a, b = store.claim_due("email", now=now, limit=2, lease_seconds=60)
    assert (a.attempts, b.attempts) == (1, 1)
    assert a.next_attempt_at == b.next_attempt_at == now + timedelta(seconds=60)
    (c,) = store.claim_due("email", now=now, limit=10, lease_seconds=60)
    assert store.claim_due("email", now=now, limit=10, lease_seconds=60) == []
    store.mark_sent(a.id, at=now)
    store.mark_retry(b.id, error="421 try later", next_attempt_at=now + timedelta(seconds=5))
    assert store.claim_due("email", now=now + timedelta(seconds=59), limit=9, lease_seconds=60) == [
        dataclasses.replace(
            b, state="failed", attempts=2, last_error="421 try later", next_attempt_at=ANY
        )
    ]
    # c was never marked (its sender died): once its lease ran out, it is due again
    later = store.claim_due("email", now=now + timedelta(seconds=61), limit=9, lease_seconds=60)
    assert [(r.id, r.attempts) for r in later] == [(c.id, 2)]
    assert store.mark_retry(a.id, error="late", next_attempt_at=now) == 0  # sent stays sent
    store.mark_dead([b.id, c.id], error="550 no such user")
    dead = ("dead", "550 no such user")
    states = {r.id: (r.state, r.last_error) for r in rows(store)}
    assert states == {a.id: ("sent", None), b.id: dead, c.id: dead}
    assert store.requeue(a.id, at=now) == 1  # a replay: due again, same key
    assert [r.id for r in store.claim_due("email", now=now, limit=9, lease_seconds=1)] == [a.id]


def test_a_digest_is_claimed_whole_per_subscriber(store: Store) -> None:
    seed_site(store)
    subs = [store.add_subscriber(spec(f"{n}@example.org", mode="daily")) for n in range(2)]
    for n in range(3):
        store.save_release(fresh(n))
    due = rows(store, channel="digest")[0].next_attempt_at
    assert (
        store.claim_due("digest", now=due - timedelta(seconds=1), limit=5, lease_seconds=60) == []
    )
    one = store.claim_due("digest", now=due, limit=1, lease_seconds=60)
    other = store.claim_due("digest", now=due, limit=5, lease_seconds=60)
    assert {r.target_id for r in one} == {subs[0]} and len(one) == 3
    assert {r.target_id for r in other} == {subs[1]} and len(other) == 3


def claim_together(
    store: Store, channel: str, *, now: datetime, limit: int
) -> list[list[list[OutboxRow]]]:
    """Four threads claiming batches at once until nothing is due; each thread's batches."""
    start = threading.Barrier(4)
    taken: list[list[list[OutboxRow]]] = [[] for _ in range(4)]

    def claimer(mine: list[list[OutboxRow]]) -> None:
        start.wait()
        while batch := store.claim_due(channel, now=now, limit=limit, lease_seconds=300):
            mine.append(batch)
            time.sleep(0.01)  # sending it, out of any transaction: the others claim meanwhile

    threads = [threading.Thread(target=claimer, args=(t,)) for t in taken]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return taken


def test_concurrent_claimers_never_take_the_same_row(store: Store) -> None:
    seed_site(store)
    for n in range(20):
        store.add_subscriber(spec(f"{n}@example.org"))
    for n in range(10):
        store.save_release(fresh(n))
    assert len(rows(store)) == 200
    taken = claim_together(store, "email", now=utcnow() + timedelta(seconds=1), limit=7)
    every = [r.id for mine in taken for batch in mine for r in batch]
    assert len(every) == len(set(every)) == 200
    assert sum(1 for mine in taken if mine) >= 2  # they did run side by side


def test_concurrent_digest_claimers_each_take_whole_digests(store: Store) -> None:
    seed_site(store)
    subs = [store.add_subscriber(spec(f"{n}@example.org", mode="weekly")) for n in range(12)]
    for n in range(5):
        store.save_release(fresh(n))
    due = max(r.next_attempt_at for r in rows(store))
    taken = claim_together(store, "digest", now=due, limit=2)
    batches = [batch for mine in taken for batch in mine]
    per_batch = [sorted(r.target_id for r in batch) for batch in batches]
    claimed = sorted(t for targets in per_batch for t in set(targets))
    assert claimed == subs  # each subscriber's digest claimed once ...
    assert all(targets.count(t) == 5 for targets in per_batch for t in targets)  # ... whole


def test_subscriber_crud_and_config_sync(store: Store) -> None:
    cli = store.add_subscriber(spec("cli@example.org", languages=("FR", "en")))
    web = store.add_subscriber(spec("web@example.org"), source="web")
    assert store.get_subscriber(cli).languages == ("fr", "en")  # type: ignore[union-attr]
    assert [s.id for s in store.subscribers(active_only=True)] == [cli]
    assert store.get_subscriber(web).confirmed_at is None  # type: ignore[union-attr]
    entries = [spec("Ana@example.org", filters=MALI), spec("bo@example.org", mode="weekly")]
    assert store.sync_config_subscribers(entries) == {"added": 2, "updated": 0, "removed": 0}
    ana = store.find_subscriber("ana@EXAMPLE.org", MALI)
    assert ana is not None and ana.source == "config" and ana.active
    store.unsubscribe(ana.id)
    again = [spec("ana@example.org", filters=MALI, mode="daily", hour=6)]
    assert store.sync_config_subscribers(again) == {"added": 0, "updated": 1, "removed": 1}
    kept = store.get_subscriber(ana.id)
    assert kept is not None and (kept.mode, kept.hour, kept.active) == ("daily", 6, False)
    assert {s.email for s in store.subscribers()} == {
        "cli@example.org",
        "web@example.org",
        "Ana@example.org",
    }
    assert store.remove_subscriber(cli) is True
    assert store.remove_subscriber(cli) is False
    with pytest.raises(ValueError, match="time zone 'Mars/Base'"):
        spec(timezone="Mars/Base")
    with pytest.raises(ValueError, match="mode 'hourly'"):
        spec(mode="hourly")
    with pytest.raises(ValueError, match="source 'api'"):
        store.add_subscriber(spec(), source="api")


def test_webhooks_disable_enable_and_delivery_log(store: Store) -> None:
    seed_site(store)
    hook = store.add_webhook(WebhookSpec("https://h.example/in", "whsec_secret"))
    assert "whsec_secret" not in repr(store.get_webhook(hook))
    store.save_release(fresh(1))
    store.save_release(fresh(2))
    first, second = rows(store, channel="webhook")
    at = utcnow()
    assert (
        store.record_delivery(first.id, attempt=1, status=500, outcome="retry", reason="500", at=at)
        == 1
    )
    assert (
        store.record_delivery(
            first.id, attempt=2, status=None, outcome="retry", reason="timeout", at=at
        )
        == 2
    )
    assert (
        store.record_delivery(first.id, attempt=3, status=200, outcome="ok", reason=None, at=at)
        == 0
    )
    assert [(d.attempt, d.status, d.outcome) for d in store.delivery_log(hook, limit=2)] == [
        (3, 200, "ok"),
        (2, None, "retry"),
    ]
    store.mark_sent(first.id, at=at)
    assert store.disable_webhook(hook, reason="410 Gone", at=at) is True
    assert store.disable_webhook(hook, reason="410 Gone", at=at) is False
    disabled = store.get_webhook(hook)
    assert disabled is not None and (disabled.enabled, disabled.disabled_reason) == (
        False,
        "410 Gone",
    )
    states = {r.id: r.state for r in rows(store, channel="webhook")}
    assert states == {first.id: "sent", second.id: "dead"}
    store.save_release(fresh(3))  # a disabled webhook gets nothing new
    assert len(rows(store, channel="webhook")) == 2
    assert store.enable_webhook(hook) is True
    assert store.webhooks(enabled_only=True)[0].consecutive_failures == 0
    synced = store.sync_config_webhooks([WebhookSpec("https://h.example/cfg", "s1")])
    assert synced == {"added": 1, "updated": 0, "removed": 0}
    assert store.sync_config_webhooks([]) == {"added": 0, "updated": 0, "removed": 1}
    assert store.remove_webhook(hook) is True
    assert store.webhooks() == [] and rows(store, channel="webhook") == []


def test_the_signing_key_is_made_once_and_shared(store: Store) -> None:
    key = store.signing_key()
    assert len(key) == 32
    with Store(store.url) as other:
        assert other.signing_key() == key


def test_matches_is_case_insensitive_and_needs_a_value() -> None:
    values = {"site": "mali", "country": None, "lang": "fr", "type": "news", "search_text": "gao"}
    assert matches(ReleaseQuery(site=("MALI",)), values)
    assert not matches(ReleaseQuery(country=("Mali",)), values)
    assert matches(ReleaseQuery(lang=("FR",), q=("ga",)), values)
    assert not matches(ReleaseQuery(q=("g",)), values)  # one letter: a whole word only
    assert not matches(ReleaseQuery(site=("mali",), q=("bamako",)), values)


def test_claimed_rows_carry_a_utc_lease(store: Store) -> None:
    seed_site(store)
    store.add_subscriber(spec())
    store.save_release(fresh())
    now = datetime.now(UTC) + timedelta(seconds=1)
    (row,) = store.claim_due("email", now=now, limit=1, lease_seconds=30)
    with store.engine.connect() as conn:
        stored = conn.execute(
            select(outbox.c.next_attempt_at).where(outbox.c.id == row.id)
        ).scalar()
    assert stored == row.next_attempt_at == now + timedelta(seconds=30)
