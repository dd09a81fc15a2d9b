"""Query strings -> validated requests. One filter vocabulary: site, country, region, lang, type, q.

Every parameter is checked: an unknown name, a repeated single-valued parameter or a bad value
raises `BadQueryError` naming it (the app answers 400 with that message). A typo then gives a
clear error instead of a silently empty feed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlencode

from crawler.items import RELEASE_TYPES
from crawler.parsing.countries import all_tags
from crawler.sites import KNOWN_LANGUAGES, Site
from crawler.store import FILTER_KEYS, ReleaseQuery
from feeds.exceptions import BadQueryError

LIMIT_DEFAULT = 50
LIMIT_MAX = 200
MAX_VALUE_CHARS = 200
MAX_VALUES_PER_KEY = 20
# Keyword search costs grow with values x words (each word is one more match over the table):
# five phrases of twelve words cover any real search and keep a request bounded.
MAX_Q_VALUES = 5
MAX_Q_WORDS = 12
SITE_ID = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")
# Only ASCII digits are numbers here: str.isdigit() also accepts "²" (int() then raises) and
# "٣" (int() reads 3). Twelve digits are far past every bound and keep int() cheap.
ASCII_NUMBER = re.compile(r"[0-9]{1,12}", re.ASCII)
WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class Vocabulary:
    """The closed value sets: site ids (empty = any well-formed id), countries and regions
    (None = any), languages and release types.

    Countries and regions map their lower-case form to the registry's spelling, so `mali` and
    `Mali` are one feed (one cache entry, one self link).
    """

    sites: frozenset[str] = frozenset()
    languages: frozenset[str] = KNOWN_LANGUAGES
    types: frozenset[str] = frozenset(RELEASE_TYPES)
    countries: Mapping[str, str] | None = None
    regions: Mapping[str, str] | None = None

    @classmethod
    def from_sites(cls, sites: Iterable[Site]) -> Vocabulary:
        sites = list(sites)
        tags = {lang.lower() for s in sites for lang in s.languages}
        # `lang` matches as a BCP 47 prefix in the store: `pt` finds a site's `pt-br` releases.
        languages = KNOWN_LANGUAGES | tags | {tag.split("-")[0] for tag in tags}
        return cls(
            sites=frozenset(s.id for s in sites),
            languages=frozenset(languages),
            # Every country tag (crawler.parsing.countries) and every site's country.
            countries={
                **{tag.lower(): tag for tag in all_tags()},
                **{s.country.lower(): s.country for s in sites if s.country},
            },
            regions={s.region.lower(): s.region for s in sites if s.region},
        )


@dataclass(frozen=True)
class FeedRequest:
    """A feed (or index page) request: the filters and how many entries."""

    query: ReleaseQuery
    limit: int = LIMIT_DEFAULT

    def params(self) -> list[tuple[str, str]]:
        """Canonical query pairs (filters in a stable order, limit only when not the default)."""
        extra = [("limit", str(self.limit))] if self.limit != LIMIT_DEFAULT else []
        return [*self.query.as_params(), *extra]


@dataclass(frozen=True)
class PageRequest:
    """An /api/releases request: filters, page size and where the page starts."""

    query: ReleaseQuery
    per_page: int = LIMIT_DEFAULT
    offset: int = 0

    @property
    def page(self) -> int:
        return self.offset // self.per_page + 1

    def params(self, offset: int) -> list[tuple[str, str]]:
        """Query pairs of the page starting at `offset` (for next/prev links)."""
        return [*self.query.as_params(), ("per_page", str(self.per_page)), ("offset", str(offset))]


def query_string(params: Sequence[tuple[str, str]]) -> str:
    """`?a=b&c=d` (empty string for no parameters)."""
    return f"?{urlencode(params)}" if params else ""


def _check_text(name: str, value: str) -> str:
    value = value.strip()
    if len(value) > MAX_VALUE_CHARS:
        raise BadQueryError(name, f"value longer than {MAX_VALUE_CHARS} characters")
    if CONTROL_CHARS.search(value):
        raise BadQueryError(name, "value contains control characters")
    return value


def _check_value(name: str, value: str, vocabulary: Vocabulary) -> str:
    value = _check_text(name, value)
    if name == "site":
        value = value.lower()
        known = vocabulary.sites
        if (known and value not in known) or not SITE_ID.match(value):
            raise BadQueryError(name, f"unknown site {value!r}")
    elif name == "lang":
        value = value.lower()
        if value not in vocabulary.languages:
            allowed = ", ".join(sorted(vocabulary.languages))
            raise BadQueryError(name, f"unknown language {value!r} (known: {allowed})")
    elif name == "type":
        value = value.lower().replace("-", "_")
        if value not in vocabulary.types:
            allowed = ", ".join(sorted(vocabulary.types))
            raise BadQueryError(name, f"unknown type {value!r} (expected one of {allowed})")
    elif name == "country":
        value = _check_place(name, value, vocabulary.countries)
    elif name == "region":
        value = _check_place(name, value, vocabulary.regions)
    elif name == "q":
        words = len(WORD.findall(value))
        if words > MAX_Q_WORDS:
            raise BadQueryError(name, f"more than {MAX_Q_WORDS} words ({words})")
    return value


def _check_place(name: str, value: str, known: Mapping[str, str] | None) -> str:
    """A country or region of the registry, in the registry's spelling (any case accepted)."""
    if known is None:
        return value
    canonical = known.get(value.lower())
    if canonical is None:
        allowed = ", ".join(sorted(known.values())) or "none"
        raise BadQueryError(name, f"unknown {name} {value!r} (known: {allowed})")
    return canonical


def _int(name: str, value: str, low: int, high: int) -> int:
    if not ASCII_NUMBER.fullmatch(value.strip()):
        raise BadQueryError(name, f"expected a whole number from {low} to {high}, got {value!r}")
    number = int(value.strip())
    if not low <= number <= high:
        raise BadQueryError(name, f"must be from {low} to {high}, got {number}")
    return number


def parse_params(
    items: Iterable[tuple[str, str]], vocabulary: Vocabulary, *, single: Sequence[str] = ()
) -> tuple[ReleaseQuery, dict[str, str]]:
    """Filters (repeatable) and the named single-valued parameters; anything else is an error."""
    values: dict[str, list[str]] = {k: [] for k in FILTER_KEYS}
    extras: dict[str, str] = {}
    for name, raw in items:
        if name in values:
            value = raw.strip() and _check_value(name, raw, vocabulary)
            if value and value not in values[name]:
                values[name].append(value)
            most = MAX_Q_VALUES if name == "q" else MAX_VALUES_PER_KEY
            if len(values[name]) > most:
                raise BadQueryError(name, f"more than {most} values")
        elif name in single:
            if name in extras:
                raise BadQueryError(name, "given more than once")
            extras[name] = raw
        else:
            allowed = ", ".join([*FILTER_KEYS, *single])
            raise BadQueryError(name, f"unknown parameter (allowed: {allowed})")
    return ReleaseQuery.from_mapping(dict[str, Sequence[str]](values)), extras


def parse_feed_request(items: Iterable[tuple[str, str]], vocabulary: Vocabulary) -> FeedRequest:
    """Filters plus `limit` (default 50, at most 200)."""
    query, extras = parse_params(items, vocabulary, single=("limit",))
    limit = _int("limit", extras["limit"], 1, LIMIT_MAX) if "limit" in extras else LIMIT_DEFAULT
    return FeedRequest(query, limit)


def parse_page_request(items: Iterable[tuple[str, str]], vocabulary: Vocabulary) -> PageRequest:
    """Filters plus `per_page` (or its alias `limit`) and either `page` (from 1) or `offset`."""
    single = ("page", "per_page", "limit", "offset")
    query, extras = parse_params(items, vocabulary, single=single)
    if "per_page" in extras and "limit" in extras:
        raise BadQueryError("limit", "give per_page or limit, not both")
    if "page" in extras and "offset" in extras:
        raise BadQueryError("offset", "give page or offset, not both")
    size_name = "limit" if "limit" in extras else "per_page"
    per_page = _int(size_name, extras[size_name], 1, LIMIT_MAX) if size_name in extras else 50
    offset = _int("offset", extras["offset"], 0, 10**9) if "offset" in extras else 0
    if "page" in extras:
        offset = (_int("page", extras["page"], 1, 10**7) - 1) * per_page
    return PageRequest(query, per_page, offset)
