"""Cloudflare email protection: `data-cfemail` hex strings back to the clear address.

Cloudflare replaces an address with `[email protected]` and puts it, XOR-ed with a key
byte, in `data-cfemail="KKXXXX…"` (and in `/cdn-cgi/l/email-protection#KKXXXX…` links);
the first byte of the hex string is the key.
"""

from __future__ import annotations

import html
import re

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


def _element(m: re.Match[str]) -> str:
    """A protected <a>/<span> replaced by a clear mailto link or the clear address."""
    address = decode_cfemail(m.group(3))
    if address == m.group(3):
        return m.group(0)
    clear = html.escape(address)
    if m.group(1).lower() == "a":
        return f'<a href="mailto:{clear}">{clear}</a>'
    return clear


def _anchor(m: re.Match[str]) -> str:
    """A link to `/cdn-cgi/l/email-protection#HEX`: mailto href, placeholder text in clear."""
    address = decode_cfemail(m.group(2))
    if address == m.group(2):
        return m.group(0)
    clear = html.escape(address)
    inner = PLACEHOLDER.sub(clear, m.group(4))
    return f"{m.group(1)}mailto:{clear}{m.group(3)}{inner}{m.group(5)}"


def _href(m: re.Match[str]) -> str:
    """An `/cdn-cgi/l/email-protection#HEX` href replaced by `mailto:address`."""
    address = decode_cfemail(m.group(2))
    if address == m.group(2):
        return m.group(0)
    return f"{m.group(1)}mailto:{html.escape(address)}{m.group(3)}"


def decode_cloudflare_emails(page: str) -> str:
    """`page` with every Cloudflare-protected address (elements and hrefs) in clear."""
    if "cfemail" not in page and "email-protection" not in page:
        return page
    return CF_HREF.sub(_href, CF_ANCHOR.sub(_anchor, CF_ELEMENT.sub(_element, page)))
