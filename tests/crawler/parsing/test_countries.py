"""Country tags: names in five languages, ambiguous names, datelines, and the replica's truth
on its saved article pages."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from parsel import Selector

from crawler.parsing import fields
from crawler.parsing.countries import (
    all_tags,
    canonical_tag,
    dateline_country,
    mentioned,
    release_countries,
    tag,
)
from crawler.sites import load_sites
from crawler.tags import lead_paragraph
from tests.replica.pagecheck import body_paragraphs, parse

SAVED = Path(__file__).resolve().parents[2] / "fixtures" / "replica"
MANIFEST = json.loads((SAVED / "manifest.json").read_text(encoding="utf-8"))
SITES = {s.country: s for s in load_sites() if s.country}


def tags(text: str) -> list[str]:
    return [tag(c) for c in mentioned(text)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("IOM Helps 300 Migrants Return Home Safely in Sudan", ["Sudan"]),
        ("L'OIM au Soudan du Sud et au Tchad", ["South Sudan", "Chad"]),
        ("La OIM en la República Democrática del Congo y Côte d'Ivoire", ["Democratic Republic of the Congo", "Côte d'Ivoire"]),
        ("Apoio a migrantes no Brasil e na Venezuela", ["Brazil", "Venezuela (Bolivarian Republic of)"]),
        ("تقدم المنظمة المساعدة في ليبيا والسودان وباليمن", ["Libya", "Sudan", "Yemen"]),
        ("Returns from Turkey and Viet Nam to Syria", ["Türkiye", "Viet Nam", "Syrian Arab Republic"]),
        ("Migrants from Sudan, Chad and Libya arrived in Italy.", ["Sudan", "Chad", "Libya", "Italy"]),
    ],
)  # fmt: skip
def test_countries_named_in_five_languages(text: str, expected: list[str]) -> None:
    assert tags(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Floods along the Niger River displace thousands", []),
        ("Fishing communities around Lake Chad", []),
        ("Les pêcheurs du fleuve Niger", []),
        ("Chad Smith, IOM spokesperson, said families in Mali need shelter.", ["Mali"]),
        ("the Sudan Humanitarian Fund helped", ["Sudan"]),
        ("a new programme with support from the Government of Japan in Yemen", ["Yemen"]),
        ("nouveau programme au Niger avec l'appui de l'Allemagne", ["Niger"]),
        ("migration in New Mexico and new jersey", []),
        ("a turkey, chad and guinea pig", []),
        ("Sudanese refugees in the Americas and the European Union", []),
    ],
)  # fmt: skip
def test_ambiguous_names_prefer_precision(text: str, expected: list[str]) -> None:
    assert tags(text) == expected


def test_georgia_needs_corroboration() -> None:
    assert release_countries("Georgia: new rules for shelters", "", None, None) == []
    assert release_countries("Georgia: new rules", "IOM in Tbilisi said", None, None) == ["Georgia"]
    assert release_countries("Georgia: new rules", "", None, SITES["Georgia"]) == ["Georgia"]


@pytest.mark.parametrize(
    ("place", "site", "expected"),
    [
        ("Tripoli", None, "Libya"),  # Libya's Tripoli is 5x Lebanon's
        ("Tripoli", "Lebanon", "Lebanon"),  # the site's country first
        ("طرابلس", None, "Libya"),
        ("Genève", None, "Switzerland"),
        ("Ciudad de Panamá", None, "Panama"),
        ("Panama", None, "Panama"),
        ("Cox's Bazar, Bangladesh", None, "Bangladesh"),
        ("Tombouctou", "Mali", "Mali"),
        ("Nueva York", None, "United States of America"),
        ("Xqzville", None, None),
        ("", None, None),
    ],
)
def test_dateline_places_resolve_to_countries(
    place: str, site: str | None, expected: str | None
) -> None:
    code = dateline_country(place, SITES.get(site) if site else None)
    assert (tag(code) if code else None) == expected


def test_tags_are_the_registry_spelling_and_the_filter_vocabulary() -> None:
    vocabulary = all_tags()
    assert {s.country for s in SITES.values()} - {"Belgium and Luxembourg"} <= vocabulary
    assert {"United Nations", "European Union", "Americas", "World"}.isdisjoint(vocabulary)
    assert canonical_tag("libya") == "Libya"
    assert canonical_tag("Syria") == "Syrian Arab Republic"
    assert canonical_tag("Xqzville") is None


ARTICLES = [
    (site, name, entry)
    for site, data in MANIFEST.items()
    for name, entry in data["files"].items()
    if entry["kind"] == "article"
]


@pytest.mark.parametrize(
    ("site", "name", "entry"), ARTICLES, ids=[f"{s}/{n}" for s, n, _ in ARTICLES]
)
def test_saved_replica_articles_get_their_true_tags(
    site: str, name: str, entry: dict[str, Any]
) -> None:
    html = (SAVED / site / name).read_text(encoding="utf-8")
    body = "\n".join(body_paragraphs(parse(html)))
    title = fields.parse_title(Selector(text=html))
    registry = {s.id: s for s in load_sites(SAVED / "sites.toml")}
    got = release_countries(
        title, lead_paragraph(body), fields.parse_dateline(body), registry.get(site)
    )
    assert sorted(got) == entry["release"]["countries"]


def test_hostile_text_never_raises() -> None:
    for text in ["", "\x00" * 10, "ب" * 10_000, "Sudan " * 5000, "(((", "🇱🇾 Libya"]:
        assert isinstance(mentioned(text), list)
    assert dateline_country("x" * 500) is None
