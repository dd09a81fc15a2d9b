"""The bundled site registry, and bad sites files stopping with file, site and key named."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import pytest

from crawler.exceptions import SitesFileError
from crawler.sites import BUNDLED_SITES, KNOWN_LANGUAGES, Site, load_sites, select_sites

PRODUCT_LANGUAGES = {"en", "fr", "es", "ar", "pt", "pt-br", "pt-pt"}


@pytest.fixture(scope="module")
def bundled() -> tuple[Site, ...]:
    return load_sites()


def by_id(sites: tuple[Site, ...], ident: str) -> Site:
    return next(s for s in sites if s.id == ident)


def test_bundled_registry_loads_with_many_sites(bundled: tuple[Site, ...]) -> None:
    assert load_sites(BUNDLED_SITES) == bundled
    assert len(bundled) >= 150


def test_ids_unique(bundled: tuple[Site, ...]) -> None:
    ids = [s.id for s in bundled]
    assert len(ids) == len(set(ids))


def test_base_urls_are_https_iom_hosts(bundled: tuple[Site, ...]) -> None:
    for site in bundled:
        parts = urlsplit(site.base_url)
        assert parts.scheme == "https", site.id
        assert parts.netloc == "iom.int" or parts.netloc.endswith(".iom.int"), site.id
        assert parts.path == "" and not parts.query, site.id
    hosts = [s.host for s in bundled]
    assert len(hosts) == len(set(hosts))


def test_languages_valid(bundled: tuple[Site, ...]) -> None:
    for site in bundled:
        assert site.languages, site.id
        assert set(site.languages) <= KNOWN_LANGUAGES, site.id
        assert len(set(site.languages)) == len(site.languages), site.id
        assert site.languages[0] in PRODUCT_LANGUAGES, site.id
        assert all(p.startswith("/") for p in site.listing_paths), site.id


def test_every_office_has_a_region(bundled: tuple[Site, ...]) -> None:
    regions = {s.region for s in bundled if s.region}
    assert len(regions) == 9
    for site in bundled:
        if site.country:
            assert site.region, site.id


@pytest.mark.parametrize(
    ("ident", "country", "first_language"),
    [
        ("mali", "Mali", "fr"),
        ("niger", "Niger", "fr"),
        ("chad", "Chad", "fr"),
        ("senegal", "Senegal", "fr"),
        ("morocco", "Morocco", "fr"),
        ("tunisia", "Tunisia", "fr"),
        ("haiti", "Haiti", "fr"),
        ("drc", "Democratic Republic of the Congo", "fr"),
        ("colombia", "Colombia", "es"),
        ("peru", "Peru", "es"),
        ("mexico", "Mexico", "es"),
        ("brazil", "Brazil", "pt-br"),
        ("sudan", "Sudan", "en"),
        ("ukraine", "Ukraine", "en"),
    ],
)
def test_known_sites(
    bundled: tuple[Site, ...], ident: str, country: str, first_language: str
) -> None:
    site = by_id(bundled, ident)
    assert site.country == country
    assert site.languages[0] == first_language
    assert site.base_url == f"https://{ident}.iom.int"


def test_global_and_regional_sites(bundled: tuple[Site, ...]) -> None:
    iom = by_id(bundled, "iom")
    assert iom.base_url == "https://www.iom.int"
    assert set(iom.languages) == {"en", "fr", "es"}
    assert iom.country is None and iom.region is None
    for ident in ("rodakar", "mena", "eastandhornofafrica", "southernafrica", "lac"):
        site = by_id(bundled, ident)
        assert site.country is None and site.region, ident
    assert "ar" in by_id(bundled, "mena").languages
    assert "ar" in by_id(bundled, "iraq").languages


def test_every_site_in_the_shared_host_list_is_known(bundled: tuple[Site, ...]) -> None:
    hosts = {s.host for s in bundled}
    for host in ("mali.iom.int", "rodakar.iom.int", "www.iom.int", "brazil.iom.int", "bih.iom.int"):
        assert host in hosts


def test_select_sites(bundled: tuple[Site, ...]) -> None:
    assert [s.id for s in select_sites(bundled, ["niger", "mali"])] == ["mali", "niger"]
    with pytest.raises(SitesFileError, match="nowhere"):
        select_sites(bundled, ["nowhere"])


# --- bad files -------------------------------------------------------------------------------

GOOD = """
[[site]]
id = "mali"
base_url = "https://mali.iom.int"
country = "Mali"
region = "West and Central Africa"
languages = ["fr", "en"]
"""

BAD_FILES = [
    # (content, words the message must contain)
    ('[[site]]\nbase_url = "https://x.iom.int"\nlanguages = ["en"]\n', ["#1", "id"]),
    ('[[site]]\nid = "x"\nlanguages = ["en"]\n', ["site x", "base_url"]),
    ('[[site]]\nid = "x"\nbase_url = "https://x.iom.int"\n', ["site x", "languages"]),
    ('[[site]]\nid = "x"\nbase_url = "ftp://x.iom.int"\nlanguages = ["en"]\n', ["site x", "base_url"]),
    ('[[site]]\nid = "x"\nbase_url = "https://x.iom.int"\nlanguages = "en"\n', ["site x", "languages"]),
    ('[[site]]\nid = "x"\nbase_url = "https://x.iom.int"\nlanguages = ["xx"]\n', ["site x", "languages", "xx"]),
    ('[[site]]\nid = "x"\nbase_url = "https://x.iom.int"\nlanguages = ["en"]\ncountry = 3\n', ["site x", "country"]),
    ('[[site]]\nid = "x"\nbase_url = "https://x.iom.int"\nlanguages = ["en"]\nnews_paths = ["news"]\n', ["site x", "news_paths"]),
    ('[[site]]\nid = "x"\nbase_url = "https://x.iom.int"\nlanguages = ["en"]\nurl = "y"\n', ["site x", "unknown", "url"]),
    (GOOD + GOOD, ["site mali", "duplicate"]),
    ("[[site]]\nid = ", ["invalid TOML"]),
    ('title = "no sites"\n', ["no [[site]]"]),
]  # fmt: skip


@pytest.mark.parametrize(("content", "words"), BAD_FILES)
def test_bad_sites_file_names_file_site_and_key(
    tmp_path: Path, content: str, words: list[str]
) -> None:
    path = tmp_path / "my-sites.toml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(SitesFileError) as info:
        load_sites(path)
    message = str(info.value)
    assert str(path) in message
    for word in words:
        assert word in message


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SitesFileError, match="not found"):
        load_sites(tmp_path / "absent.toml")


def test_user_file_loads(tmp_path: Path) -> None:
    path = tmp_path / "sites.toml"
    path.write_text(GOOD + 'news_paths = ["/news", "/en/news"]\n', encoding="utf-8")
    (site,) = load_sites(path)
    assert site.id == "mali" and site.languages == ("fr", "en")
    assert site.listing_paths == ("/news", "/en/news")
