"""Builds a site's seeded versions: which nodes exist, in which languages, at which paths."""

from __future__ import annotations

import random
from datetime import date

from replica.generate import SECTIONS, assemble, make_facts, spread_dates
from replica.model import Version
from replica.sites import SiteProfile
from replica.text import quote_path, slugify

SEED = 20240521
# Last-Modified of seeded pages: noon of the publication day, as a Unix time offset.
NOON = 12 * 3600


def lang_prefix(profile: SiteProfile, lang: str) -> str:
    return "" if lang == profile.languages[0] else f"/{lang}"


def assign_path(profile: SiteProfile, version: Version, used: set[str]) -> None:
    """Give a version its percent-encoded URL path; a taken slug gets `-0`, `-1`..."""
    source = version.title or " ".join(version.paragraphs[0].split()[:8])
    slug = slugify(source, keep_apostrophe=profile.keep_apostrophe)
    section = "" if version.bare_slug else f"/{SECTIONS[version.type]}"
    base = f"{lang_prefix(profile, version.lang)}{section}/{slug}"
    path, n = base, 0
    while path in used:
        path, n = f"{base}-{n}", n + 1
    used.add(path)
    version.path = quote_path(path)


def _node_langs(rng: random.Random, profile: SiteProfile, total: int) -> list[list[str]]:
    """The languages of each node, oldest node first."""
    langs: list[list[str]] = [[profile.primary] for _ in range(total)]
    only_slots = rng.sample(range(total), sum(profile.only.values()))
    cursor = 0
    for lang, count in profile.only.items():
        for slot in only_slots[cursor : cursor + count]:
            langs[slot] = [lang]
        cursor += count
    primaries = [i for i in range(total) if i not in only_slots]
    for lang, count in profile.translations.items():
        for i in rng.sample(primaries, count):
            langs[i].append(lang)
    return langs


def _unique(paragraphs: list[str], seen: set[str]) -> bool:
    """True when none of the body paragraphs (the contact line aside) occurs on another page."""
    return not any(p in seen for p in paragraphs[:-1])


def build_site(profile: SiteProfile, seed: int = SEED) -> list[Version]:
    """Every seeded language version of a site, newest first."""
    rng = random.Random(f"{seed}:{profile.id}")
    total = profile.nodes + sum(profile.only.values())
    days = spread_dates(rng, profile, total)
    node_langs = _node_langs(rng, profile, total)
    versions: list[Version] = []
    seen: set[str] = set()
    node_id = profile.node_base
    for i, (day, langs) in enumerate(zip(days, node_langs, strict=True)):
        node_id += rng.randint(3, 40)
        kind = profile.types[i % len(profile.types)]
        node_versions = _node_versions(rng, profile, node_id, kind, day, langs, seen)
        for v in node_versions:
            v.date_mode = _date_mode(profile, i, v)
            v.modified = _noon(day)
            v.bare_slug = bool(profile.bare_slug_every) and i % profile.bare_slug_every == 2
        versions.extend(node_versions)
    _apply_duplicate_titles(profile, versions)
    used: set[str] = set()
    for v in versions:
        assign_path(profile, v, used)
    versions.reverse()
    return versions


def _node_versions(rng: random.Random, profile: SiteProfile, node_id: int, kind: str, day: date, langs: list[str], seen: set[str]) -> list[Version]:  # fmt: skip
    """The language versions of one node, re-drawing facts until their paragraphs are new."""
    for _ in range(50):
        facts = make_facts(rng, profile, kind)
        out = [assemble(profile, node_id, lang, kind, day, facts) for lang in langs]
        if all(_unique(v.paragraphs, seen) for v in out):
            for v in out:
                seen.update(v.paragraphs[:-1])
            return out
    raise RuntimeError(f"replica: could not draw unique paragraphs for node {node_id}")


def _date_mode(profile: SiteProfile, index: int, version: Version) -> str:
    """`listing_only` for every n-th node of sites whose listing alone carries some full dates."""
    every = profile.listing_only_every
    if every and index % every == 1 and version.type != "statement":
        return "listing_only"
    return "full"


def _apply_duplicate_titles(profile: SiteProfile, versions: list[Version]) -> None:
    """Give some later nodes the title of an earlier one (their slugs then end in `-0`)."""
    nodes = sorted({v.node_id for v in versions})
    for first, second in profile.duplicate_titles:
        a = [v for v in versions if v.node_id == nodes[first] and v.lang == profile.primary]
        b = [v for v in versions if v.node_id == nodes[second] and v.lang == profile.primary]
        if a and b and a[0].title and b[0].title:
            b[0].title = a[0].title


def _noon(day: date) -> float:
    return (
        float(date(day.year, day.month, day.day).toordinal() - date(1970, 1, 1).toordinal()) * 86400
        + NOON
    )
