"""Stable identity of a release: canonical URLs, identity keys, ids, hashes, search folding."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from urllib.parse import quote, unquote, urlsplit, urlunsplit

# Query parameters that never change what a page shows (tracking, share widgets).
NOISE_PARAMS = re.compile(r"^(utm_\w+|fbclid|gclid|mc_cid|mc_eid|_ga|ref|share|s)$", re.I)
ARABIC_FOLD = str.maketrans({"أ": "ا", "إ": "ا", "آ": "ا", "ٱ": "ا", "ة": "ه", "ى": "ي", "ـ": None})


def canonical_url(url: str) -> str:
    """The URL to publish: fragment and noise parameters dropped, no trailing slash, host lower-case."""
    parts = urlsplit(url.strip())
    query = "&".join(
        p for p in parts.query.split("&") if p and not NOISE_PARAMS.match(p.split("=", 1)[0])
    )
    path = quote(unquote(parts.path), safe="/%:@!$&'()*+,;=-._~") or "/"
    if len(path) > 1:
        path = path.rstrip("/")
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), path, query, ""))


def identity_key(url: str) -> str:
    """What stays the same across http/https, www/bare, trailing slash and query noise.

    Drupal's `-0` slug suffix is kept: it marks a *different* node whose title gave the same
    alias. When it is a re-post of the same release, the store links it by content instead.
    """
    parts = urlsplit(canonical_url(url))
    host = parts.netloc.removeprefix("www.")
    return host + unquote(parts.path).lower()


def release_id(site: str, url: str, node_id: str | None = None, lang: str | None = None) -> str:
    """A short, URL-safe id: from the Drupal node id when the page gives one, else from the URL."""
    if node_id and lang:
        return f"{site}-{lang}-{node_id}"
    digest = hashlib.sha1(identity_key(url).encode()).hexdigest()[:12]
    return f"{site}-{digest}"


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


def fold(text: str) -> str:
    """Search folding for all five languages: case, accents, Arabic letter variants and diacritics."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return normalise_space(stripped.translate(ARABIC_FOLD))
