"""Cloudflare email protection: `data-cfemail` hex strings back to the clear address.

Cloudflare replaces an address with `[email protected]` and puts it, XOR-ed with a key
byte, in `data-cfemail="KKXXXX…"` (and in `/cdn-cgi/l/email-protection#KKXXXX…` links);
the first byte of the hex string is the key.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable

HEX = re.compile(r"^(?:[0-9a-fA-F]{2}){2,}$")
CF_ELEMENT = re.compile(
    r"<(a|span)\b([^<>]*?)\bdata-cfemail\s*=\s*[\"']([^\"']*)[\"']([^<>]*)>(.{0,2000}?)</\1\s*>",
    re.S | re.I,
)
PLACEHOLDER = re.compile(r"\[email(?:&#160;|&nbsp;|&#xa0;|\s)protected\]", re.I)
CF_ANCHOR = re.compile(
    r"(<a\b[^<>]*?href\s*=\s*[\"'])(?:https?://[^\"'#\s]*)?/cdn-cgi/l/email-protection#"
    r"([0-9a-fA-F]+)([\"'][^<>]*>)(.{0,2000}?)(</a\s*>)",
    re.S | re.I,
)
CF_HREF = re.compile(
    r"(href\s*=\s*[\"'])(?:https?://[^\"'#\s]*)?/cdn-cgi/l/email-protection#([0-9a-fA-F]+)([\"'])",
    re.I,
)

# Builds the clear replacement of a match from its decoded, HTML-escaped address.
Replacement = Callable[[re.Match[str], str], str]


def decode_cfemail(hexstr: str) -> str:
    """The address hidden in a `data-cfemail` value; a malformed value is returned as is."""
    value = hexstr.strip()
    if not HEX.match(value):
        return hexstr
    data = bytes.fromhex(value)
    try:
        decoded = bytes(b ^ data[0] for b in data[1:]).decode("utf-8")
    except UnicodeDecodeError:
        return hexstr
    if not decoded.isprintable() or "<" in decoded or ">" in decoded:
        return hexstr
    return decoded


def _in_clear(hex_group: int, clear: Replacement) -> Callable[[re.Match[str]], str]:
    """A `re.sub` callback: `clear(match, escaped address)`, or the match as is when the hex
    string in `hex_group` does not decode."""

    def replace(m: re.Match[str]) -> str:
        address = decode_cfemail(m.group(hex_group))
        if address == m.group(hex_group):
            return m.group(0)
        return clear(m, html.escape(address))

    return replace


def _element(m: re.Match[str], address: str) -> str:
    """A protected <a>/<span> becomes a clear mailto link or the clear address."""
    if m.group(1).lower() == "a":
        return f'<a href="mailto:{address}">{address}</a>'
    return address


def _anchor(m: re.Match[str], address: str) -> str:
    """A link to `/cdn-cgi/l/email-protection#HEX`: mailto href, placeholder text in clear."""
    inner = PLACEHOLDER.sub(address, m.group(4))
    return f"{m.group(1)}mailto:{address}{m.group(3)}{inner}{m.group(5)}"


def _href(m: re.Match[str], address: str) -> str:
    """An `/cdn-cgi/l/email-protection#HEX` href becomes `mailto:address`."""
    return f"{m.group(1)}mailto:{address}{m.group(3)}"


def decode_cloudflare_emails(page: str) -> str:
    """`page` with every Cloudflare-protected address (elements and hrefs) in clear."""
    if "cfemail" not in page and "email-protection" not in page:
        return page
    page = CF_ELEMENT.sub(_in_clear(3, _element), page)
    page = CF_ANCHOR.sub(_in_clear(2, _anchor), page)
    return CF_HREF.sub(_in_clear(2, _href), page)
