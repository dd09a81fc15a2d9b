"""The operator's Atom feed, GET /operator.atom: the service's own alerts, apart from content.

One entry when an alert is raised and one when it is resolved (a site failing, yielding no
entries, losing a field; a webhook disabled), newest first. It is built from the operator
alerts alone: no release ever appears here, and no operator alert in the content feeds
(feeds/build.py reads releases only). Alert messages hold crawl reasons, which may quote a
server's text: each is plain text, one line, XML-safe, in a `type="text"` content.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from feedgen.feed import FeedGenerator
from starlette.responses import Response
from starlette.routing import Route

from crawler.parsing.text import strip_xml_invalid
from feeds.alerts.operator import FEED_PATH, notice_subject
from feeds.build import EMPTY_FEED_UPDATED, GENERATOR
from feeds.caching import NO_CACHE

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime

    from starlette.requests import Request

    from crawler.store import OperatorAlert, Store

ATOM = "application/atom+xml; charset=utf-8"
ALERTS_SHOWN = 100  # alerts read: up to twice as many entries
MESSAGE_CHARS = 4000
TAG_DATE = "2024"  # the tag URIs' date: fixed, so entry ids never change


@dataclass(frozen=True)
class OperatorEntry:
    """One entry: an alert raised, or its recovery."""

    alert: OperatorAlert
    phase: str  # "raised" or "resolved"

    @property
    def at(self) -> datetime:
        if self.phase == "resolved" and self.alert.resolved_at is not None:
            return self.alert.resolved_at
        return self.alert.created_at


def operator_entries(alerts: Sequence[OperatorAlert]) -> list[OperatorEntry]:
    """Each alert's raise, and its recovery when resolved, newest first."""
    entries = [OperatorEntry(a, "raised") for a in alerts]
    entries += [OperatorEntry(a, "resolved") for a in alerts if a.resolved and a.resolved_at]
    return sorted(entries, key=lambda e: (e.at, e.alert.id, e.phase == "resolved"), reverse=True)


def _text(value: str) -> str:
    return " ".join(strip_xml_invalid(value).split())[:MESSAGE_CHARS]


def build_operator_feed(alerts: Sequence[OperatorAlert], *, base_url: str) -> bytes:
    """The Atom document of these alerts (pure: the same alerts give the same bytes)."""
    base = base_url.rstrip("/")
    host = urlsplit(base).hostname or "localhost"
    entries = operator_entries(alerts)
    feed = FeedGenerator()
    feed.id(f"{base}{FEED_PATH}")
    feed.title("iomwatch operator alerts")
    feed.subtitle("The service's own health: sites failing or read badly, webhooks disabled")
    feed.author({"name": GENERATOR})
    feed.generator(GENERATOR)
    feed.link(href=f"{base}{FEED_PATH}", rel="self", type="application/atom+xml")
    feed.link(href=f"{base}/status", rel="alternate", type="text/html")
    feed.updated(entries[0].at if entries else EMPTY_FEED_UPDATED)
    for item in entries:
        alert = item.alert
        entry = feed.add_entry(order="append")
        entry.id(f"tag:{host},{TAG_DATE}:operator-alert/{alert.id}/{item.phase}")
        entry.title(notice_subject(alert, item.phase).removeprefix("[iomwatch] "))
        entry.updated(item.at)
        entry.published(item.at)
        entry.link(href=f"{base}/status", rel="alternate", type="text/html")
        state = "resolved" if item.phase == "resolved" else "raised"
        entry.content(f"{_text(alert.message)} ({alert.kind}, {state})", type="text")
    data: bytes = feed.atom_str(pretty=True)
    return data


class OperatorFeed:
    """The route: read the newest alerts, build, never cache (an operator polls for news)."""

    def __init__(self, store: Store, *, base_url: str) -> None:
        self.store = store
        self.base_url = base_url

    def feed(self, request: Request) -> Response:
        alerts = self.store.operator_alerts(limit=ALERTS_SHOWN)
        body = build_operator_feed(alerts, base_url=self.base_url)
        headers = {"Cache-Control": NO_CACHE, "X-Robots-Tag": "noindex"}
        return Response(body, media_type=ATOM, headers=headers)

    def routes(self) -> list[Route]:
        return [Route(FEED_PATH, self.feed)]
