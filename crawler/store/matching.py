"""A release matched against a subscriber's or webhook's filter in Python, as SQL would.

The outbox decides per event which targets want it (`OutboxStore.queue_alerts`), one stored
filter after another, without a query per target: `matches` is the Python twin of
`queries.query_clause`, and the two must agree.

    matches(query, values) -> bool    (re-exported by `crawler.store.outbox` and the package)
"""

from __future__ import annotations

import bisect
import functools
import json
from typing import TYPE_CHECKING, Any

from crawler.store.queries import tag_pattern
from crawler.store.search import MIN_PREFIX_CHARS, query_words

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from crawler.store.records import ReleaseQuery


def matches(query: ReleaseQuery, values: Mapping[str, Any]) -> bool:
    """Whether a release matches a filter, as `queries.query_clause` decides in SQL.

    `values` holds the release's `releases` columns (site, lang, type, country, region,
    countries, search_text); `country` matches the site's country or one of the tags. OR within a key, AND across keys, without case; `lang` as a BCP 47 prefix
    (`pt` matches `pt-br`); each `q` value's words must all start a word of the search text
    (a one-letter word must be a whole word).
    """
    for key in ("site", "type", "country", "region"):
        wanted = getattr(query, key)
        if not wanted or str(values.get(key) or "").lower() in {v.lower() for v in wanted}:
            continue
        if key != "country" or not _tagged(wanted, values.get("countries")):
            return False
    if query.lang and not _lang_matches(str(values.get("lang") or ""), query.lang):
        return False
    groups = query_words(query.q)
    if not groups:
        return True
    words = _sorted_words(str(values.get("search_text") or ""))
    return any(all(_has_word(words, word) for word in group) for group in groups if group)


def _tagged(wanted: Sequence[str], countries: Any) -> bool:
    """One of the release's country tags is wanted (`queries._country_clause`'s semantics)."""
    try:
        tags = json.loads(countries) if isinstance(countries, str) else countries or []
    except ValueError:
        return False
    have = {tag_pattern(str(t)) for t in tags} if isinstance(tags, list) else set()
    return any(tag_pattern(v) in have for v in wanted)


def _lang_matches(lang: str, tags: Sequence[str]) -> bool:
    lang = lang.lower()
    return any(lang == tag.lower() or lang.startswith(tag.lower() + "-") for tag in tags)


@functools.lru_cache(maxsize=16)
def _sorted_words(search_text: str) -> tuple[str, ...]:
    """The distinct words of a search text, sorted: one release is matched against every
    subscriber in turn, and a prefix is then one bisection instead of a scan."""
    return tuple(sorted(set(search_text.split())))


def _has_word(words: tuple[str, ...], word: str) -> bool:
    at = bisect.bisect_left(words, word)
    if at == len(words):
        return False
    return words[at].startswith(word) if len(word) >= MIN_PREFIX_CHARS else words[at] == word
