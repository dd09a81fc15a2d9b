"""WebSub (W3C): tell the hub which feeds changed after a publish; advertised via rel=hub.

The publish ping is the de-facto `hub.mode=publish&hub.url=<topic>` form POST. One request
per topic: hubs differ on whether several `hub.url` values are accepted in one request.
"""

from __future__ import annotations

import logging

import httpx

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
