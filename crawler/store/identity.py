"""Stable identity: release ids, URL keys, translation groups, content hashes, search folding."""

from __future__ import annotations

import hashlib
import re
import unicodedata

from crawler.parsing.urls import identity_key

ARABIC_FOLD = str.maketrans({"أ": "ا", "إ": "ا", "آ": "ا", "ٱ": "ا", "ة": "ه", "ى": "ي", "ـ": None})


def release_id(site: str, url: str, node_id: str | None = None, lang: str | None = None) -> str:
    """A short, URL-safe id: from the Drupal node id when the page gives one, else from the URL."""
    if node_id and lang:
        return f"{site}-{lang}-{node_id}"
    digest = hashlib.sha1(identity_key(url).encode()).hexdigest()[:12]
    return f"{site}-{digest}"


def url_key(url: str) -> str:
    """The key of a URL in the URL tables: sha256 of the whole URL, however long it is."""
    return hashlib.sha256(url.encode("utf-8", "surrogatepass")).hexdigest()


def translation_group(site: str, url: str, node_id: str | None, alternates: list[str]) -> str:
    """The key shared by every language version of one release."""
    if node_id:
        return f"{site}:n{node_id}"
    keys = sorted(identity_key(u) for u in [url, *alternates])
    return f"{site}:" + hashlib.sha1(keys[0].encode()).hexdigest()[:12]


def normalise_space(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def content_hash(title: str | None, body_text: str) -> str:
    """Hash of what a reader sees; whitespace changes are not edits."""
    payload = normalise_space(title or "") + "\n" + normalise_space(body_text)
    return hashlib.sha256(payload.encode()).hexdigest()


class _CombiningMarks(dict[int, int | None]):
    """A `str.translate` table dropping combining marks, filled as characters are met: a
    per-character Python loop over every body cost more than the rest of saving it."""

    def __missing__(self, code: int) -> int | None:
        kept = None if unicodedata.combining(chr(code)) else code
        self[code] = kept
        return kept


COMBINING_MARKS = _CombiningMarks()


def fold_for_search(text: str) -> str:
    """Search folding for all five languages: case, accents, Arabic letter variants and diacritics."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    stripped = decomposed.translate(COMBINING_MARKS)
    return normalise_space(stripped.translate(ARABIC_FOLD))
