"""OPML 2.0: every feed of the catalogue (all, per site, country, region and language)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING
from xml.etree import ElementTree as ET

from feeds.catalog import catalogue, feed_url
from feeds.filters import query_string

if TYPE_CHECKING:
    from crawler.sites import Site
    from feeds.catalog import FeedSpec

OPML_TITLE = "iomwatch — IOM press releases and news"


def build_opml(
    sites: Sequence[Site],
    *,
    base_url: str,
    url_for: Callable[[FeedSpec], str] | None = None,
    html_url_for: Callable[[FeedSpec], str] | None = None,
) -> bytes:
    """The OPML document (Atom feeds, grouped); `url_for` lets the static export point at files."""
    base = base_url.rstrip("/")
    url_for = url_for or (lambda spec: feed_url(base, "atom", spec.query.as_params()))
    html_url_for = html_url_for or (lambda spec: f"{base}/{query_string(spec.query.as_params())}")
    root = ET.Element("opml", version="2.0")
    head = ET.SubElement(root, "head")
    ET.SubElement(head, "title").text = OPML_TITLE
    ET.SubElement(head, "ownerId").text = f"{base}/"
    body = ET.SubElement(root, "body")
    groups: dict[str, ET.Element] = {}
    for spec in catalogue(sites):
        if spec.group not in groups:
            groups[spec.group] = ET.SubElement(body, "outline", text=spec.group, title=spec.group)
        attributes = {
            "type": "rss",
            "text": spec.title,
            "title": spec.title,
            "xmlUrl": url_for(spec),
            "htmlUrl": html_url_for(spec),
        }
        ET.SubElement(groups[spec.group], "outline", attributes)
    ET.indent(root)
    document: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return document + b"\n"
