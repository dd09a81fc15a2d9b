"""Small URL helpers shared by the field and listing parsers; never raise on odd URLs."""

from __future__ import annotations

from urllib.parse import urljoin, urlsplit

from crawler.identity import canonical_url


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
