"""URL helpers: canonical URLs and identity keys, and small helpers that never raise on odd URLs."""

from __future__ import annotations

import re
from urllib.parse import quote, unquote, urljoin, urlsplit, urlunsplit

# Query parameters that never change what a page shows (tracking, share widgets).
NOISE_PARAMS = re.compile(r"^(utm_\w+|fbclid|gclid|mc_cid|mc_eid|_ga|ref|share|s)$", re.I)


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


def absolute(base: str, href: str | None) -> str | None:
    """`href` resolved against `base` when it is an http(s) URL, else None."""
    href = (href or "").strip()
    if not href or href.startswith(("#", "javascript:", "mailto:", "tel:", "data:")):
        return None
    try:
        target = urljoin(base, href)
        parts = urlsplit(target)
    except ValueError:
        return None
    return target if parts.scheme in {"http", "https"} and parts.netloc else None


def host_of(url: str) -> str:
    """The host[:port] of `url`, lower-case, without `www.`; empty for unparsable URLs."""
    try:
        return urlsplit(url).netloc.lower().removeprefix("www.")
    except ValueError:
        return ""


def same_host(a: str, b: str) -> bool:
    """True when both URLs are on one host (www and bare count as one)."""
    host = host_of(a)
    return bool(host) and host == host_of(b)


def safe_canonical(url: str) -> str:
    """`canonical_url`, or `url` unchanged when it cannot be parsed."""
    try:
        return canonical_url(url)
    except ValueError:
        return url
