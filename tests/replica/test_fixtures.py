"""The saved fixtures match their manifest, and regenerating them gives the same bytes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from replica.save_fixtures import DEFAULT_DIR, save_fixtures
from tests.replica.pagecheck import body_paragraphs, parse

MANIFEST = json.loads((DEFAULT_DIR / "manifest.json").read_text(encoding="utf-8"))
ARTICLES = [
    (site, name, entry["release"])
    for site, data in MANIFEST.items()
    for name, entry in data["files"].items()
    if entry["kind"] == "article"
]


@pytest.mark.parametrize(
    ("site", "name", "truth"), ARTICLES, ids=[f"{s}/{n}" for s, n, _ in ARTICLES]
)
def test_saved_article_matches_its_ground_truth(
    site: str, name: str, truth: dict[str, Any]
) -> None:
    doc = parse((DEFAULT_DIR / site / name).read_text(encoding="utf-8"))
    assert body_paragraphs(doc) == truth["body_paragraphs"]
    assert doc.xpath("//link[@rel='canonical']/@href") == [truth["url"]]


def test_every_site_has_the_promised_examples() -> None:
    for site, data in MANIFEST.items():
        names = set(data["files"])
        assert {"listing-p0.html", "press_release.html", "story.html"} <= names, site
        assert MANIFEST[site]["files"]["story.html"]["release"]["title"] is None
        if site != "southsudan":  # an English-only site
            assert "translation.html" in names, site


def test_regenerating_gives_identical_files(tmp_path: Path) -> None:
    try:
        save_fixtures(tmp_path)
    except OSError as exc:  # the fixed ports are taken on this machine
        pytest.skip(f"fixture ports unavailable: {exc}")
    saved = sorted(p.relative_to(DEFAULT_DIR) for p in DEFAULT_DIR.rglob("*") if p.is_file())
    fresh = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    assert saved == fresh
    for rel in saved:
        assert (tmp_path / rel).read_bytes() == (DEFAULT_DIR / rel).read_bytes(), rel
