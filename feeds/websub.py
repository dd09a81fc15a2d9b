"""WebSub (W3C): tell the hub which feeds changed after a publish; advertised via rel=hub.

The publish ping is the de-facto `hub.mode=publish&hub.url=<topic>` form POST. One request
per topic: hubs differ on whether several `hub.url` values are accepted in one request.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import httpx

from crawler.store import ReleaseQuery
from feeds.catalog import FORMATS, feed_url

if TYPE_CHECKING:
    from crawler.store import StoredRelease

logger = logging.getLogger(__name__)


def ping_hub(client: httpx.Client, hub: str, topics: list[str]) -> None:
    """POST a publish notification per topic; failures are logged, never raised."""
    if not hub:
        return
    for topic in topics:
        try:
            response = client.post(hub, data={"hub.mode": "publish", "hub.url": topic})
            response.raise_for_status()
        except httpx.HTTPError as exc:
            logger.warning("websub: hub %s refused topic %s: %s", hub, topic, exc)
        else:
            logger.debug("websub: pinged %s for %s (%s)", hub, topic, response.status_code)


def topics_for(base_url: str, releases: Iterable[StoredRelease]) -> list[str]:
    """The feed URLs a set of new or changed releases touches: all, and per site, country,
    region and language, in every format (the served URLs, exactly as advertised in rel=self)."""
    queries: dict[tuple[tuple[str, str], ...], None] = {(): None}
    for release in releases:
        for key in ("site", "country", "region", "lang"):
            value = getattr(release, key)
            if value:
                queries[tuple(ReleaseQuery(**{key: (value,)}).as_params())] = None
    return [feed_url(base_url, fmt, params) for params in queries for fmt in FORMATS]


def topics_for_queries(base_url: str, queries: Sequence[ReleaseQuery]) -> list[str]:
    """Feed URLs of explicit queries, in every format."""
    return [feed_url(base_url, fmt, q.as_params()) for q in queries for fmt in FORMATS]
