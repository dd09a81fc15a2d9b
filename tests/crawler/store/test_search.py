"""Keyword search over the full-text index and `lang` as a BCP 47 prefix, on both databases."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import column, func, insert, select, table, update

from crawler.items import Release
from crawler.store import ReleaseQuery, Store, query_clause
from crawler.store.identity import fold_for_search
from crawler.store.migrations import upgrade
from crawler.store.queries import page_query
from crawler.store.schema import make_engine, releases
from crawler.store.search import fts5_expression, index_text, query_words, tsquery_expression

# (site, lang, title, body): their words are listed in the comments the expectations rely on.
RELEASES = [
    # retour volontaire a gao bamako l oim aide 338 migrants retournes rentrer chez eux
    ("mali", "fr", "Retour volontaire à Gao", "Bamako – L'OIM a aidé 338 migrants retournés."),
    # المنظمه تساعد المهاجرين طرابلس ساعدت الدوليه للهجره (+ each without its article)
    ("mena", "ar", "المُنظمة تساعد المهاجرين", "طرابلس – ساعدت المنظمة الدولية للهجرة"),
    # migracao segura boa vista a oim apoia integracao
    ("brazil", "pt-br", "Migração segura", "Boa Vista – A OIM apoia a integração."),
    # oim reforca a protecao acoes de em roraima
    ("portugal", "pt", "OIM reforça a proteção", "Ações de proteção em Roraima."),
    # near the border 100 of families and their children safe
    ("global", "en", "Near the border", "100% of families (and * their) children: safe."),
]

HOSTILE = [
    ('"', 0),
    ("*", 0),
    ("NEAR(", 1),  # the word "near"
    ("near(oim migrants, 2)", 0),
    (":", 0),
    ("search_text:oim", 0),  # a column filter in FTS5 syntax: three words here
    ("&|!", 0),
    ("'", 0),
    ("'; DROP TABLE releases; --", 0),
    ("\\", 0),
    ("", 5),  # blank: no search at all, as before
    ("?!.,;«»—", 0),  # punctuation only: asks for something no release holds
    ("x" * 200, 0),
    ("o" + "i" * 199, 0),
    ("المُنَظَّمَةُ", 1),  # Arabic with diacritics
    ('"oim"', 3),
    ("AND", 1),  # an operator in FTS5, a word here ("and")
    ("oim OR migrants", 0),  # "or" is a word too, and no release has one starting so
    ("NOT oim", 0),
    ("100%_", 1),
    ("ＯＩＭ", 3),  # full-width letters fold to ASCII
    ("a", 3),  # one letter: a whole word, not every word it starts ("and")
]


def release(site: str, lang: str, title: str, body: str, day: int) -> Release:
    return Release(
        url=f"https://{site}.iom.int/{lang}/news/{day}",
        site=site,
        lang=lang,
        title=title,
        published=datetime(2024, 7, day, tzinfo=UTC),
        type="press_release",
        body_text=body,
        raw_html="<html></html>",
    )


@pytest.fixture
def seeded(store: Store) -> Store:
    for day, values in enumerate(RELEASES, start=1):
        store.save_release(release(*values, day=day))
    return store


def sites(store: Store, **filters: tuple[str, ...]) -> set[str]:
    query = ReleaseQuery(**filters)
    found = {r.site for r in store.query_releases(query)}
    assert store.count_releases(query) == len(found)
    return found


def test_hostile_queries_never_raise(seeded: Store) -> None:
    for q, expected in HOSTILE:
        query = ReleaseQuery(q=(q,))
        assert seeded.count_releases(query) == expected, q
        assert len(seeded.query_releases(query)) == expected, q
        assert seeded.last_change(query)[1] == expected, q
    assert seeded.release_count() == 5


def test_words_and_within_a_value_or_across_values(seeded: Store) -> None:
    assert sites(seeded, q=("retour gao",)) == {"mali"}
    assert sites(seeded, q=("retour segura",)) == set()
    assert sites(seeded, q=("retour", "protecao")) == {"mali", "portugal"}
    assert sites(seeded, q=("!!!", "protecao")) == {"portugal"}
    assert sites(seeded, q=("OIM",), lang=("pt",)) == {"brazil", "portugal"}


def test_words_match_from_their_start(seeded: Store) -> None:
    assert sites(seeded, q=("retour",)) == {"mali"}  # and "retournés"
    assert sites(seeded, q=("retourn",)) == {"mali"}
    assert sites(seeded, q=("migr",)) == {"mali", "brazil"}
    assert sites(seeded, q=("Réintégr Migração",)) == set()
    assert sites(seeded, q=("integr",)) == {"brazil"}
    assert sites(seeded, q=("l oim",)) == {"mali"}  # one letter: the whole word "l" (of l'OIM)
    assert sites(seeded, q=("b",)) == set()  # not every word it starts ("bamako", "boa")
    # A word's middle is not its start: the price of an index (the LIKE scan found it).
    assert sites(seeded, q=("etour",)) == set()


def test_arabic_folding_and_articles(seeded: Store) -> None:
    assert sites(seeded, q=("للهجره",)) == {"mena"}  # ta marbuta folded
    assert sites(seeded, q=("هجرة",)) == {"mena"}  # "للهجرة" without its article
    assert sites(seeded, q=("مهاجرين",)) == {"mena"}  # "المهاجرين"
    assert sites(seeded, q=("منظمة دولية",)) == {"mena"}
    assert sites(seeded, q=("أطفال",)) == set()


def test_lang_is_a_bcp47_prefix(seeded: Store) -> None:
    assert sites(seeded, lang=("pt",)) == {"brazil", "portugal"}
    assert sites(seeded, lang=("PT-BR",)) == {"brazil"}
    assert sites(seeded, lang=("pt-br", "ar")) == {"brazil", "mena"}
    for near_miss in ("p", "pt-b", "pt-", "%", "_t", "pt%"):
        assert sites(seeded, lang=(near_miss,)) == set(), near_miss


def test_the_index_follows_edits(store: Store) -> None:
    store.save_release(release(*RELEASES[0], day=1))
    edited = release("mali", "fr", "Retour volontaire à Gao", "Migrants rapatriés.", day=1)
    assert store.save_release(edited) == "updated"
    assert sites(store, q=("retournes",)) == set()
    assert sites(store, q=("rapatri",)) == {"mali"}
    if store.engine.dialect.name == "sqlite":
        with store.begin() as conn:  # FTS5 compares its index with the content table
            conn.exec_driver_sql(
                "INSERT INTO releases_fts(releases_fts, rank) VALUES ('integrity-check', 1)"
            )


def test_a_search_text_past_the_tsvector_limit_is_still_written(store: Store) -> None:
    """PostgreSQL refuses a tsvector over 1 MB: the indexed text is cut, the row still saved."""
    store.save_release(release(*RELEASES[0], day=1))
    # 60,000 distinct five-letter words of 4-byte letters: 1.2 MB of lexemes.
    huge = " ".join(
        chr(0x20000 + i % 1000) + chr(0x20000 + i // 1000) + "\U00020400" * 3 for i in range(60_000)
    )
    with store.begin() as conn:
        conn.execute(update(releases).values(search_text=f"zanzibar {huge}"))
    assert sites(store, q=("zanzibar",)) == {"mali"}


def plan(store: Store, stmt: Any) -> str:
    """The engine's query plan of a statement, as one string (sequential scans discouraged)."""
    sql = str(stmt.compile(store.engine, compile_kwargs={"literal_binds": True}))
    with store.begin() as conn:
        if store.engine.dialect.name == "sqlite":
            return "\n".join(row[-1] for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}"))
        conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
        conn.exec_driver_sql("SET LOCAL enable_sort = off")
        return "\n".join(row[0] for row in conn.exec_driver_sql(f"EXPLAIN {sql}"))


def test_search_uses_the_index(seeded: Store) -> None:
    where = query_clause(ReleaseQuery(q=("oim",)))
    steps = plan(seeded, select(func.count()).select_from(releases).where(where))
    if seeded.engine.dialect.name == "sqlite":
        assert "releases_fts" in steps and "SCAN releases\n" not in f"{steps}\n", steps
    else:
        assert "ix_releases_search" in steps, steps


def test_a_page_is_read_in_index_order(seeded: Store) -> None:
    steps = plan(seeded, page_query(ReleaseQuery(), limit=50, offset=0))
    assert "ix_releases_newest" in steps, steps
    assert [r.site for r in seeded.query_releases(ReleaseQuery(), limit=2, offset=1)] == [
        "portugal",
        "brazil",
    ]


def test_existing_rows_are_indexed_by_the_migration(store_url: str) -> None:
    engine = make_engine(store_url)
    upgrade(engine, "0001")
    now = datetime(2024, 7, 1, tzinfo=UTC)
    old: dict[str, Any] = {
        "id": "mena-ar-1",
        "site": "mena",
        "url": "https://mena.iom.int/ar/news/1",
        "group_key": "mena:n1",
        "lang": "ar",
        "type": "news",
        "title": "المنظمة الدولية للهجرة",
        "body_text": "ساعدت المهاجرين.",
        "body_html": "",
        "summary": "",
        "attachments": "[]",
        "translations": "{}",
        "search_text": fold_for_search("المنظمة الدولية للهجرة ساعدت المهاجرين."),
        "content_hash": "0" * 64,
        "first_seen": now,
        "updated": now,
        "last_crawled": now,
    }
    old_releases = table("releases", *(column(name) for name in old))
    with engine.begin() as conn:
        conn.execute(insert(old_releases).values(old))
    engine.dispose()
    with Store(store_url) as store:
        assert sites(store, q=("مهاجرين",)) == {"mena"}
        with store.engine.connect() as conn:
            stored = conn.execute(select(releases.c.search_text)).scalar_one()
        assert stored == index_text(old["title"] + " " + old["body_text"])


def test_query_words_and_their_quoting() -> None:
    groups = query_words(['L\'OIM "retour" retour', "   ", "&|!", "Ação"])
    assert groups == [("l", "oim", "retour"), (), ("acao",)]
    assert fts5_expression(groups) == '("l" AND "oim"* AND "retour"*) OR ("acao"*)'
    assert tsquery_expression(groups) == "('l' & 'oim':* & 'retour':*) | ('acao':*)"
    assert index_text("Aux migrants de l'OIM, للمهاجرين!") == (
        "aux migrants de l oim للمهاجرين مهاجرين"
    )
