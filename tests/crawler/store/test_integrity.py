"""Nothing lost: long URLs, storage bounds and flags, raw page per event, URL failures, pruning.

Every test runs on SQLite and on the real PostgreSQL server (the `store` fixture).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import quote

from sqlalchemy import update

from crawler.items import Release
from crawler.store import ReleaseQuery, RunStats, Store
from crawler.store.records import MAX_BODY_HTML_CHARS, MAX_BODY_TEXT_CHARS, MAX_RAW_HTML_BYTES
from crawler.store.schema import crawl_runs, events, release_versions
from tests.crawler.store.test_store import release

# An Arabic slug percent-encodes to 6 characters a letter: this URL is over 2,000 long.
LONG_URL = "https://mena.iom.int/ar/news/" + quote("-".join(["المنظمة-الدولية-للهجرة"] * 17))
LONG_TWIN = LONG_URL + "-0"  # equal to LONG_URL in its first 700 characters


def test_a_2000_character_url_is_known_and_saved_twice_without_error(store: Store) -> None:
    assert len(LONG_URL) > 2000
    item = release(url=LONG_URL, site="mena", lang="ar")
    assert store.save_release(item) == "new"
    assert store.known_urls([LONG_URL, LONG_TWIN]) == {LONG_URL}
    assert store.save_release(item) is None  # was: IntegrityError on the 700-character cut
    assert [e.kind for e in store.events_since()] == ["new"]
    stored = store.query_releases(ReleaseQuery())[0]
    assert stored.url == LONG_URL


def test_validators_of_long_urls_are_kept_apart_and_whole(store: Store) -> None:
    store.set_validators(LONG_URL, '"a"', None)
    store.set_validators(LONG_TWIN, '"b"', None)
    store.set_validators(LONG_URL, '"c"', None)
    assert store.get_validators(LONG_URL) == ('"c"', None, None)
    assert store.get_validators(LONG_TWIN) == ('"b"', None, None)


def test_flags_are_stored_and_returned(store: Store) -> None:
    store.save_release(release(body_text="", flags=["empty_body"]))
    assert store.query_releases(ReleaseQuery())[0].flags == ("empty_body",)


def test_an_oversize_page_is_cut_to_the_bounds_and_flagged(store: Store) -> None:
    big = release(
        body_text="mot " * MAX_BODY_TEXT_CHARS,
        body_html="<p>" + "x" * (MAX_BODY_HTML_CHARS - 5) + "<a href='/y'>y</a></p>",
        raw_html="é" * MAX_RAW_HTML_BYTES,  # two UTF-8 bytes each
        flags=["empty_body"],
    )
    assert store.save_release(big) == "new"
    stored = store.query_releases(ReleaseQuery())[0]
    assert len(stored.body_text) == MAX_BODY_TEXT_CHARS
    assert stored.body_html.endswith("x")  # the half-open <a tag went too
    assert stored.flags == ("empty_body", "truncated")
    assert store.raw_html(stored.id) == "é" * (MAX_RAW_HTML_BYTES // 2)
    assert store.save_release(big) is None  # cut the same way again: no edit, no event


def test_each_event_keeps_its_raw_page_and_raw_html_is_the_latest(store: Store) -> None:
    store.save_release(release(raw_html="<p>v1</p>"))
    store.save_release(release(raw_html="<p>v1 again</p>"))  # same text: no event, no version
    store.save_release(release(body_text="Texte corrigé.", raw_html="<p>v2</p>"))
    rid = store.query_releases(ReleaseQuery())[0].id
    versions = store.raw_versions(rid)
    assert [(kind, html) for kind, _, html in versions] == [
        ("new", "<p>v1</p>"),
        ("updated", "<p>v2</p>"),
    ]
    assert store.raw_html(rid) == "<p>v2</p>"


def test_permanent_failures_are_remembered_until_their_retry_after(store: Store) -> None:
    later = datetime.now(UTC) + timedelta(days=7)
    store.remember_failure("mena", LONG_URL, "HTTP 404", retry_after=later)
    store.remember_failure("mena", "https://h/robots", "forbidden by robots.txt", retry_after=later)
    store.remember_failure("mena", "https://h/due", "HTTP 410", retry_after=later)
    store.remember_failure("mena", "https://h/due", "HTTP 410", retry_after=datetime.now(UTC))
    urls = [LONG_URL, LONG_TWIN, "https://h/robots", "https://h/due", "https://h/ok"]
    assert store.failing_urls(urls) == {LONG_URL, "https://h/robots"}
    store.forget_failure(LONG_URL)
    assert store.failing_urls(urls) == {"https://h/robots"}
    assert store.failing_urls([]) == set()


def test_expired_failures_are_listed_per_site_longest_due_first(store: Store) -> None:
    now = datetime.now(UTC)
    store.remember_failure("mena", "https://h/later", "HTTP 404", retry_after=now + timedelta(1))
    store.remember_failure("mena", "https://h/due", "HTTP 404", retry_after=now - timedelta(1))
    store.remember_failure("mena", LONG_URL, "HTTP 410", retry_after=now - timedelta(2))
    store.remember_failure("mali", "https://h/mali", "HTTP 404", retry_after=now - timedelta(1))
    assert store.expired_failures("mena") == [LONG_URL, "https://h/due"]
    assert store.expired_failures("mena", limit=1) == [LONG_URL]
    store.remember_failure("mena", LONG_URL, "HTTP 410", retry_after=now + timedelta(7))
    assert store.expired_failures("mena") == ["https://h/due"]  # failed again: not due
    assert store.expired_failures("southsudan") == []


STUB_URL = "https://mali.iom.int/news/retour-gao"


def stub() -> Release:
    """An oversize page as stored from its listing entry: no node id, no body."""
    return release(url=STUB_URL, fetched_url=STUB_URL, body_text="", flags=["oversize"])


def test_an_oversize_stub_is_completed_by_its_full_page_not_stored_twice(store: Store) -> None:
    assert store.save_release(stub()) == "new"
    [stored] = store.query_releases(ReleaseQuery())
    full = release(url=STUB_URL, fetched_url=STUB_URL, node_id="4242", raw_html="<p>full</p>")
    assert store.save_release(full) == "updated"
    assert store.save_release(full) is None  # the next fetch of the full page: no edit
    [completed] = store.query_releases(ReleaseQuery())
    assert completed.id == stored.id and completed.flags == ()
    assert completed.body_text == full.body_text
    assert [e.kind for e in store.events_since()] == ["new", "updated"]
    assert [html for _, _, html in store.raw_versions(stored.id)][-1] == "<p>full</p>"


def test_a_stub_is_found_by_the_fetched_url_and_completed_silently_without_updates(
    store: Store,
) -> None:
    store.save_release(stub())
    canonical = STUB_URL + "-bamako"  # the page's canonical link is not its listing URL
    full = release(url=canonical, fetched_url=STUB_URL, node_id="4242")
    assert store.save_release(full, emit_updates=False) is None
    assert store.save_release(release(url=canonical, fetched_url=canonical, node_id="4242")) is None
    [completed] = store.query_releases(ReleaseQuery())
    assert (completed.url, completed.body_text) == (canonical, full.body_text)
    assert [e.kind for e in store.events_since()] == ["new"]


def test_two_nodes_sharing_a_url_stay_two_releases(store: Store) -> None:
    store.save_release(release(node_id="1"))
    store.save_release(release(node_id="2", body_text="Un autre communiqué."))
    assert store.release_count("mali") == 2


def test_new_run_counters_round_trip(store: Store) -> None:
    store.finish_run(store.start_run("mali"), RunStats(items=3, empty=1, gone=2))
    run = store.runs("mali")[0]
    assert (run.items, run.empty, run.gone) == (3, 1, 2)


def test_prune_deletes_old_history_but_never_a_release(store: Store) -> None:
    old, cut = datetime(2020, 1, 1, tzinfo=UTC), datetime(2023, 1, 1, tzinfo=UTC)
    store.save_release(release())
    store.save_release(release(body_text="Texte corrigé."))
    store.finish_run(store.start_run("mali"), RunStats())
    store.finish_run(store.start_run("mali"), RunStats())
    store.start_run("mena")  # running: left alone however old
    with store.engine.begin() as conn:
        conn.execute(update(crawl_runs).values(started=old))
        conn.execute(update(crawl_runs).where(crawl_runs.c.id == 2).values(started=cut))
        for table in (events, release_versions):
            conn.execute(update(table).where(table.c.kind == "new").values(created_at=old))
    nothing_sent = {"outbox": 0, "webhook_deliveries": 0}  # no alert in this store
    assert store.prune(cut) == {
        "crawl_runs": 1,
        "events": 1,
        "release_versions": 1,
        **nothing_sent,
    }
    assert store.prune(cut) == {
        "crawl_runs": 0,
        "events": 0,
        "release_versions": 0,
        **nothing_sent,
    }
    assert [e.kind for e in store.events_since()] == ["updated"]
    assert sorted(r.status for r in store.runs()) == ["ok", "running"]
    assert store.release_count() == 1


def test_a_template_rebuild_keeps_the_body_within_the_bounds(store: Store) -> None:
    store.save_release(release())
    rid = store.query_releases(ReleaseQuery())[0].id
    assert store.refresh_body(
        rid, body_text="mot " * MAX_BODY_TEXT_CHARS, body_html="<p>x</p>", summary="mot"
    )
    stored = store.get_release(rid)
    assert stored is not None
    assert (len(stored.body_text), stored.flags) == (MAX_BODY_TEXT_CHARS, ("truncated",))
