"""Translations on every release of every replica site equal the replica's ground truth (issue 8).

The replica prints the traps real pages hold: sites without head hreflang links, language
switchers that point to the home or listing of a language the release lacks, related-news boxes
of other releases with `hreflang` links, Drupal 7 `xml:lang` switchers. A translation is an
other-language version of the same release only: never the page itself, a listing or home page,
or another release (a wrong link would suppress a real alert).
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from parsel import Selector

from crawler.parsing import fields
from crawler.parsing.urls import canonical_url
from replica import ReplicaRelease, ReplicaServer
from replica.save_fixtures import DEFAULT_DIR
from replica.sites import SITES

MANIFEST = json.loads((DEFAULT_DIR / "manifest.json").read_text(encoding="utf-8"))
SAVED = [
    (f"{site}/{name}", entry)
    for site, data in MANIFEST.items()
    for name, entry in data["files"].items()
    if entry["kind"] == "article"
]


@pytest.fixture(scope="module")
def server() -> Iterator[ReplicaServer]:
    with ReplicaServer() as replica:
        yield replica


def parsed(release: ReplicaRelease) -> dict[str, str]:
    with urllib.request.urlopen(release.url, timeout=10) as response:
        html, final = response.read().decode("utf-8"), response.geturl()
    found = fields.parse_translations(Selector(text=html), final)
    return {lang: canonical_url(url) for lang, url in found.items()}


def sections(server: ReplicaServer, site_id: str) -> set[str]:
    """The home and listing page of each language of a site."""
    base, langs = server.base_url(site_id), server.languages(site_id)
    homes = {base + "/"} | {f"{base}/{lang}" for lang in langs[1:]}
    return {canonical_url(u) for u in homes | {base + p for p in server.listing_paths(site_id)}}


def wrong_links(server: ReplicaServer, release: ReplicaRelease) -> list[tuple[str, str, str]]:
    """(kind, language, URL) of every parsed translation that is not the truth, or is missing."""
    truth = {lang: canonical_url(url) for lang, url in release.translations.items()}
    releases = {canonical_url(r.url): r.node_id for r in server.releases(release.site_id)}
    got = parsed(release)
    wrong = []
    for lang, url in got.items():
        if url == canonical_url(release.url):
            wrong.append(("itself", lang, url))
        elif url in sections(server, release.site_id):
            wrong.append(("listing or home", lang, url))
        elif releases.get(url, release.node_id) != release.node_id:
            wrong.append(("another release", lang, url))
        elif truth.get(lang) != url:
            wrong.append(("not the translation", lang, url))
    wrong += [("missing", lang, url) for lang, url in truth.items() if got.get(lang) != url]
    return wrong


@pytest.mark.parametrize("site_id", [p.id for p in SITES])
def test_translations_are_the_other_language_versions_only(
    server: ReplicaServer, site_id: str
) -> None:
    releases = server.releases(site_id)
    assert releases
    wrong = {r.url: found for r in releases if (found := wrong_links(server, r))}
    assert wrong == {}


def test_the_replica_holds_true_pairs_and_untranslated_releases(server: ReplicaServer) -> None:
    """Both cases occur, so the test above checks a found link and a refused one."""
    releases = server.releases()
    assert sum(len(r.translations) for r in releases) >= 50
    assert sum(not r.translations for r in releases) >= 40


@pytest.mark.parametrize(("name", "entry"), SAVED, ids=[name for name, _ in SAVED])
def test_saved_replica_articles_give_their_true_translations(
    name: str, entry: dict[str, Any]
) -> None:
    html = (DEFAULT_DIR / name).read_text(encoding="utf-8")
    found = fields.parse_translations(Selector(text=html), entry["url"])
    assert found == entry["release"]["translations"]
