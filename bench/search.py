"""Search benchmark: p50/p99 latency of a search (count_releases + query_releases(limit=50))
over 100,000 releases in five languages, full-text index against the old LIKE scan, on SQLite
and on PostgreSQL (the test server, IOMWATCH_TEST_PG_URL, in a schema of its own, dropped
afterwards: tests/conftest.py pg_schema_url).

    .venv/bin/python bench/search.py [--releases 100000] [--runs 30] [--only sqlite]

Both paths run in the same process over the same rows. The LIKE path is the clause keyword
search used before migration 0003, kept here only, for the comparison.
"""

from __future__ import annotations

import argparse
import hashlib
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import and_, func, insert, or_, select, text, true

from crawler.store import ReleaseQuery, Store
from crawler.store.identity import fold_for_search
from crawler.store.queries import row_release, search_text
from crawler.store.schema import releases
from tests.conftest import pg_schema_url

BATCH = 2_000
# What a compressed IOM page weighs in `releases.raw_html` (incompressible filler here): a
# search must not read it for every match.
RAW_PAGE_BYTES = 4_000
WORDS = {
    "fr": "migrants retour volontaire réintégration l'OIM santé frontière réfugiés déplacés "
    "aide humanitaire communauté protection enfants femmes travail formation sécurité "
    "gouvernement partenaires programme régional soutien urgence abri eau nourriture "
    "retournés accueil mobilité données rapport crise climat inondations sécheresse",
    "es": "migración segura ordenada regular empleo frontera refugiados desplazados ayuda "
    "humanitaria comunidad protección niños mujeres trabajo formación seguridad gobierno "
    "socios programa regional apoyo emergencia albergue agua alimentos retornados acogida "
    "movilidad datos informe crisis clima inundaciones sequía",
    "pt": "migração segura proteção integração refugiados deslocados ajuda humanitária "
    "comunidade crianças mulheres trabalho formação segurança governo parceiros programa "
    "regional apoio emergência abrigo água alimentos retornados acolhimento mobilidade "
    "dados relatório crise clima inundações seca venezuelanos",
    "en": "migrants return voluntary reintegration IOM health border refugees displaced "
    "humanitarian aid community protection children women work training security "
    "government partners programme regional support emergency shelter water food "
    "returnees reception mobility data report crisis climate floods drought",
    "ar": "المنظمة الدولية للهجرة المهاجرين العودة الطوعية إعادة الإدماج الصحة الحدود "
    "اللاجئين النازحين المساعدات الإنسانية المجتمع الحماية الأطفال النساء العمل التدريب "
    "الأمن الحكومة الشركاء البرنامج الإقليمي الدعم الطوارئ المأوى المياه الغذاء "
    "العائدين الاستقبال التنقل البيانات التقرير الأزمة المناخ الفيضانات الجفاف مُهاجرة",
}
LANGS = tuple(WORDS)
RARE_WORD = "zanzibarite"  # in one release of every 10,000
COMMON = " ".join(f"w{i}" for i in range(60))  # the HTTP bound: 5 values of 12 words
LETTERS = "aeioustrnlmdp"
QUERIES: dict[str, tuple[str, ...]] = {
    "1 word": ("réfugiés",),
    "3 words": ("retour volontaire migrants",),
    "5 q values": ("santé", "frontera", "proteção", "drought", "الحماية"),
    "rare word": (RARE_WORD,),
    "common word": ("programme",),
    "Arabic": ("مهاجرين",),
    "5 x 12 words": tuple(" ".join(COMMON.split()[i : i + 12]) for i in range(0, 60, 12)),
    # The costliest words an index can get: one letter each, every word they start.
    "5 x 12 letters": tuple(" ".join(LETTERS[i : i + 12]) for i in range(5)),
}


def words(rng: random.Random, lang: str, n: int) -> str:
    """Words drawn with Zipf-like weights, so some are common and some are rare."""
    vocabulary = WORDS[lang].split()
    weights = [1 / (rank + 1) for rank in range(len(vocabulary))]
    return " ".join(rng.choices(vocabulary, weights, k=n))


def row(rng: random.Random, i: int, start: datetime) -> dict[str, Any]:
    """One `releases` row with the values save_release would write."""
    lang = LANGS[i % len(LANGS)]
    title = words(rng, lang, 8)
    rare = f" {RARE_WORD}" if i % 10_000 == 7 else ""
    text_ = f"{words(rng, lang, 60 + i % 40)}{rare} ({i})."
    published = start + timedelta(minutes=i)
    return {
        "id": f"bench-{i}",
        "site": f"site{i % 40}",
        "url": f"https://site{i % 40}.iom.int/{lang}/news/{i}",
        "group_key": f"bench:{i // 2}",
        "lang": "pt-br" if lang == "pt" and i % 2 else lang,
        "country": None,
        "region": None,
        "type": "news" if i % 3 else "press_release",
        "title": title,
        "published": published,
        "body_text": text_,
        "body_html": f"<p>{text_}</p>",
        "summary": text_[:200],
        "attachments": "[]",
        "translations": "{}",
        "search_text": search_text(title, text_[:200], text_),
        "raw_html": rng.randbytes(RAW_PAGE_BYTES),
        "content_hash": hashlib.sha256(f"{title}\n{text_}".encode()).hexdigest(),
        "first_seen": published,
        "updated": published,
        "last_crawled": published,
    }


def fill(store: Store, count: int) -> float:
    """Insert `count` releases in batches (the index triggers / generated column do their work)."""
    rng = random.Random(8)
    start = datetime(2020, 1, 1, tzinfo=UTC)
    began = time.perf_counter()
    for first in range(0, count, BATCH):
        rows = [row(rng, i, start) for i in range(first, min(first + BATCH, count))]
        with store.begin() as conn:
            conn.execute(insert(releases), rows)
    with store.begin() as conn:
        if store.engine.dialect.name == "postgresql":
            conn.execute(text("ANALYZE releases"))
        else:
            conn.execute(text("ANALYZE"))
    return time.perf_counter() - began


def old_like_clause(query: ReleaseQuery) -> Any:
    """Keyword search as it was before the full-text index: LIKE '%word%' over search_text."""
    terms = []
    for q in query.q:
        words = fold_for_search(q).split()
        if words:
            likes = (releases.c.search_text.like(f"%{_escape(w)}%", escape="\\") for w in words)
            terms.append(and_(*likes))
    return or_(*terms) if terms else true()


def _escape(word: str) -> str:
    return word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def like_search(store: Store, query: ReleaseQuery) -> int:
    """count_releases + query_releases(limit=50) as they were: the old clause, whole rows sorted."""
    clause = old_like_clause(query)
    sort_key = func.coalesce(releases.c.published, releases.c.first_seen)
    page = select(releases).where(clause).order_by(sort_key.desc(), releases.c.id.desc()).limit(50)
    with store.engine.connect() as conn:
        total = int(
            conn.execute(select(func.count()).select_from(releases).where(clause)).scalar_one()
        )
        [row_release(r) for r in conn.execute(page)]
    return total


def index_search(store: Store, query: ReleaseQuery) -> int:
    total = store.count_releases(query)
    store.query_releases(query, limit=50)
    return total


def timed(
    search: Callable[[Store, ReleaseQuery], int], store: Store, query: ReleaseQuery, runs: int
) -> tuple[int, float, float]:
    """(matches, p50 ms, p99 ms) over `runs` searches after one warm-up."""
    total = search(store, query)
    samples = []
    for _ in range(runs):
        began = time.perf_counter()
        search(store, query)
        samples.append((time.perf_counter() - began) * 1000)
    samples.sort()
    p99 = samples[min(len(samples) - 1, round(0.99 * (len(samples) - 1)))]
    return total, statistics.median(samples), p99


def report(name: str, store: Store, count: int, runs: int) -> None:
    seconds = fill(store, count)
    print(
        f"\n{name}: {count:,} releases inserted in {seconds:.0f} s; ms per search over {runs} runs"
    )
    print(
        f"{'query':<14} {'matches':>8} {'index p50':>10} {'index p99':>10} {'LIKE p50':>9} {'LIKE p99':>9}"
    )
    for label, q in QUERIES.items():
        query = ReleaseQuery(q=q)
        found, p50, p99 = timed(index_search, store, query, runs)
        like_found, like50, like99 = timed(like_search, store, query, runs)
        note = "" if like_found == found else f"  (LIKE: {like_found:,} matches)"
        print(
            f"{label:<14} {found:>8,} {p50:>10.1f} {p99:>10.1f} {like50:>9.1f} {like99:>9.1f}{note}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--releases", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--only", choices=("sqlite", "postgresql"))
    args = parser.parse_args()
    if args.only != "postgresql":
        with (
            tempfile.TemporaryDirectory() as tmp,
            Store(f"sqlite:///{Path(tmp) / 'bench.db'}") as store,
        ):
            report("SQLite (FTS5)", store, args.releases, args.runs)
    if args.only != "sqlite":
        with contextmanager(pg_schema_url)() as url, Store(url) as store:
            report("PostgreSQL (tsvector + GIN)", store, args.releases, args.runs)


if __name__ == "__main__":
    main()
