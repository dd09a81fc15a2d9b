"""The site registry: IOM sites as data. `sites.toml` next to this module is the bundled one."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from crawler.exceptions import SitesFileError

BUNDLED_SITES = Path(__file__).with_name("sites.toml")
KNOWN_LANGUAGES = frozenset(
    {"en", "fr", "es", "ar", "pt", "pt-br", "pt-pt", "fa", "el", "de", "it", "ru", "uk"}
)
SITE_KEYS = frozenset({"id", "base_url", "country", "region", "languages", "news_paths", "name"})


@dataclass(frozen=True)
class Site:
    """One IOM site: where it is, what it covers, which languages it serves."""

    id: str
    base_url: str
    languages: tuple[str, ...]
    country: str | None = None
    region: str | None = None
    news_paths: tuple[str, ...] = ()
    name: str | None = None

    @property
    def listing_paths(self) -> tuple[str, ...]:
        """News listing paths: configured, or `/news` plus `/<lang>/news` per other language."""
        if self.news_paths:
            return self.news_paths
        others = tuple(f"/{lang}/news" for lang in self.languages[1:])
        return ("/news", *others)

    @property
    def host(self) -> str:
        return urlsplit(self.base_url).netloc.lower()


def _entry_error(path: Path, index: int, entry: Mapping[str, Any], message: str) -> SitesFileError:
    ident = entry.get("id") if isinstance(entry.get("id"), str) else f"#{index + 1}"
    return SitesFileError(f"sites file {path}: site {ident}: {message}")


def _string_list(value: Any) -> tuple[str, ...] | None:
    if isinstance(value, list) and all(isinstance(v, str) and v for v in value):
        return tuple(value)
    return None


def _site_problem(entry: Mapping[str, Any]) -> str | None:
    """The first thing wrong with a [[site]] table, naming its key; None when it is valid."""
    unknown = sorted(set(entry) - SITE_KEYS)
    if unknown:
        return f"unknown key(s) {', '.join(unknown)}"
    ident = entry.get("id")
    if not isinstance(ident, str) or not ident.replace("-", "").replace("_", "").isalnum():
        return "key id: expected letters, digits, - or _"
    base = entry.get("base_url")
    if (
        not isinstance(base, str)
        or urlsplit(base).scheme not in {"http", "https"}
        or not urlsplit(base).netloc
    ):
        return f"key base_url: expected an http(s) URL, got {base!r}"
    languages = _string_list(entry.get("languages"))
    if not languages:
        return "key languages: expected a non-empty list of codes"
    if bad := [lang for lang in languages if lang not in KNOWN_LANGUAGES]:
        return f"key languages: unknown code(s) {', '.join(bad)}"
    paths = _string_list(entry.get("news_paths", []))
    if paths is None or not all(p.startswith("/") for p in paths):
        return "key news_paths: expected a list of paths starting with /"
    for key in ("country", "region", "name"):
        if key in entry and not isinstance(entry[key], str):
            return f"key {key}: expected a string"
    return None


def _parse_site(path: Path, index: int, entry: Any) -> Site:
    if not isinstance(entry, Mapping):
        raise SitesFileError(f"sites file {path}: entry #{index + 1}: expected a [[site]] table")
    if problem := _site_problem(entry):
        raise _entry_error(path, index, entry, problem)
    return Site(
        entry["id"],
        entry["base_url"].rstrip("/"),
        tuple(entry["languages"]),
        entry.get("country"),
        entry.get("region"),
        tuple(entry.get("news_paths", ())),
        entry.get("name"),
    )


def load_sites(path: str | Path | None = None) -> tuple[Site, ...]:
    """Read a sites file (the bundled registry when no path is given); errors name file, site and key."""
    file = Path(path) if path else BUNDLED_SITES
    try:
        with file.open("rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise SitesFileError(f"sites file {file}: not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise SitesFileError(f"sites file {file}: invalid TOML: {exc}") from None
    entries = data.get("site")
    if not isinstance(entries, list) or not entries:
        raise SitesFileError(f"sites file {file}: no [[site]] entries")
    sites = tuple(_parse_site(file, i, e) for i, e in enumerate(entries))
    seen: set[str] = set()
    for site in sites:
        if site.id in seen:
            raise SitesFileError(f"sites file {file}: site {site.id}: duplicate id")
        seen.add(site.id)
    return sites


def select_sites(sites: Sequence[Site], ids: Sequence[str]) -> tuple[Site, ...]:
    """The sites named by id, in registry order; an unknown id is an error naming it."""
    if not ids:
        return tuple(sites)
    known = {s.id for s in sites}
    unknown = [i for i in ids if i not in known]
    if unknown:
        raise SitesFileError(f"unknown site id(s): {', '.join(unknown)}")
    return tuple(s for s in sites if s.id in set(ids))
