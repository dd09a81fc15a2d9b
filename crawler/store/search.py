"""Keyword search over a full-text index: SQLite FTS5, PostgreSQL tsvector + GIN.

`releases.search_text` holds the words of a release as search sees them: folded
(`fold_for_search`: case, accents, Arabic letter variants, diacritics) and cut at every
character that is not a letter or digit, so FTS5's unicode61 tokenizer and PostgreSQL's
parser (whatever the server's locale) both read one token per word, the same words as the
query side. Migration 0003 builds the indexes and keeps them in step with `search_text`:
an external-content FTS5 table `releases_fts` fed by triggers on SQLite, a generated
`search_tsv` column with a GIN index on PostgreSQL.

A query value matches a release when every one of its words starts a word of the release
(prefix matching: "retour" finds "retournés"; a one-letter word must be a whole word);
values are ORed. Arabic words are indexed a second time without their definite article
(al-, wal-, bil-, lil-, ...), so "مهاجرين" still finds "للمهاجرين" as the old substring
search did. Words reach the engines only quoted, and a word is only letters and digits, so
no FTS syntax in a query can raise.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from sqlalchemy import Boolean, bindparam, column, false, func, literal_column, select, table
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ColumnElement
from sqlalchemy.sql.visitors import InternalTraversal

from crawler.store.identity import fold_for_search

if TYPE_CHECKING:
    from collections.abc import Iterable

    from sqlalchemy.sql.compiler import SQLCompiler

WORD = re.compile(r"[^\W_]+")
# Longest first: "وال" (and the) must win over "ال" (the).
ARABIC_ARTICLES = ("وال", "فال", "بال", "كال", "لل", "ال")
# PostgreSQL refuses a tsvector over 1 MB: 200,000 characters of at most 4 bytes stay under
# it whatever the text (bodies are bounded far below this; the cut is a guard, not a policy).
PG_INDEXED_CHARS = 200_000
# A one-letter prefix stands for a good part of the vocabulary: sixty of them (the HTTP
# bound) took seconds over 100,000 releases, slower than the old scan. One letter ("l" of
# "l'OIM", "a", "و") is matched as a whole word; from two letters on, words are prefixes.
MIN_PREFIX_CHARS = 2
FTS_TABLE = table("releases_fts", column("rowid"))


def search_words(text: str) -> list[str]:
    """The words of a text as search sees them: folded, split at every non letter or digit."""
    return WORD.findall(fold_for_search(text))


def index_text(text: str) -> str:
    """What `releases.search_text` stores: the words, Arabic ones also without their article."""
    words: list[str] = []
    for word in search_words(text):
        words.append(word)
        bare = _without_article(word)
        if bare:
            words.append(bare)
    return " ".join(words)


def _without_article(word: str) -> str | None:
    if not word.startswith(ARABIC_ARTICLES):  # one test for the words of other scripts
        return None
    for article in ARABIC_ARTICLES:
        if word.startswith(article) and len(word) - len(article) >= 2:
            return word[len(article) :]
    return None


def query_words(values: Iterable[str]) -> list[tuple[str, ...]]:
    """One tuple of distinct words per `q` value; a blank value is left out (as before).

    A value with characters but no word in them ("!!!") keeps an empty tuple: it asks for
    something no release contains, so it matches nothing rather than everything.
    """
    groups = []
    for value in values:
        if fold_for_search(value):
            groups.append(tuple(dict.fromkeys(search_words(value))))
    return groups


def fts5_expression(groups: Iterable[tuple[str, ...]]) -> str:
    """An FTS5 MATCH string: OR of the groups, AND of phrases `"word"*` within one."""
    ands = [" AND ".join(_fts5_term(w) for w in words) for words in groups if words]
    return " OR ".join(f"({a})" for a in ands)


def tsquery_expression(groups: Iterable[tuple[str, ...]]) -> str:
    """A to_tsquery string: `|` of the groups, `&` of lexemes `'word':*` within one."""
    ands = [" & ".join(_tsquery_term(w) for w in words) for words in groups if words]
    return " | ".join(f"({a})" for a in ands)


def _fts5_term(word: str) -> str:
    quoted = '"' + word.replace('"', '""') + '"'
    return f"{quoted}*" if len(word) >= MIN_PREFIX_CHARS else quoted


def _tsquery_term(word: str) -> str:
    quoted = "'" + word.replace("\\", "\\\\").replace("'", "''") + "'"
    return f"{quoted}:*" if len(word) >= MIN_PREFIX_CHARS else quoted


def text_match(values: Iterable[str]) -> ColumnElement[bool] | None:
    """The condition of the `q` values over the full-text index; None when no value asks."""
    groups = query_words(values)
    if not groups:
        return None
    if not any(groups):
        return false()
    fts5 = literal_column("releases.rowid").in_(
        select(FTS_TABLE.c.rowid).where(
            literal_column("releases_fts").op("MATCH")(
                bindparam("fts5_query", fts5_expression(groups), unique=True)
            )
        )
    )
    tsquery = func.to_tsquery(
        literal_column("'simple'::regconfig"),
        bindparam("tsquery", tsquery_expression(groups), unique=True),
    )
    postgresql = literal_column("releases.search_tsv").op("@@", is_comparison=True)(tsquery)
    return PerDialect(sqlite=fts5, postgresql=postgresql)


class PerDialect(ColumnElement[bool]):
    """One condition written once per engine; the statement compiles the one of its dialect.

    Both forms are SQLAlchemy expressions with bound parameters, so statements that hold
    this stay in the compiled cache like any other.
    """

    inherit_cache = True
    type = Boolean()
    # A condition already: SQLite must not get `(...) = 1`, which hides the rowid IN from
    # its planner (a full scan).
    _is_implicitly_boolean = True
    _traverse_internals = [  # noqa: RUF012 - SQLAlchemy's own (list) class attribute
        ("sqlite", InternalTraversal.dp_clauseelement),
        ("postgresql", InternalTraversal.dp_clauseelement),
    ]

    def __init__(self, *, sqlite: ColumnElement[bool], postgresql: ColumnElement[bool]) -> None:
        self.sqlite = sqlite
        self.postgresql = postgresql


@compiles(PerDialect)
def _compile_sqlite(element: PerDialect, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(element.sqlite, **kw)


@compiles(PerDialect, "postgresql")
def _compile_postgresql(element: PerDialect, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(element.postgresql, **kw)
