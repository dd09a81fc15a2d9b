"""HTTP caching: validators (ETag, Last-Modified), conditional GET, and the render cache.

Validators come from `Store.last_change(query)` (newest change + count), which is one cheap
aggregate query: a 304 never renders a feed, and a cache hit never touches the releases.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any

# Feed readers poll every 15-60 minutes; five minutes of shared caching lets a proxy absorb a
# burst of readers while a new release still reaches them within minutes (the crawl interval
# is 30 minutes by default, so this adds at most a sixth to the delay). Revalidation is cheap:
# ETag/Last-Modified give a 304 without rendering.
FEED_CACHE_CONTROL = "public, max-age=300"
PAGE_CACHE_CONTROL = "public, max-age=60"
NO_CACHE = "no-cache"


@dataclass(frozen=True)
class Validators:
    """What a client revalidates with: a weak ETag (gzip may change the bytes) and a date."""

    etag: str
    last_modified: datetime | None

    def headers(self, cache_control: str = FEED_CACHE_CONTROL) -> dict[str, str]:
        headers = {"ETag": self.etag, "Cache-Control": cache_control}
        if self.last_modified is not None:
            headers["Last-Modified"] = format_datetime(self.last_modified, usegmt=True)
        return headers


def make_validators(key: Hashable, changed: datetime | None, count: int, salt: str) -> Validators:
    """Validators of one representation: what it is (key), the data's state, the app's settings."""
    state = f"{salt}|{key!r}|{changed.isoformat() if changed else '-'}|{count}"
    digest = hashlib.sha256(state.encode("utf-8")).hexdigest()[:24]
    last_modified = changed.astimezone(UTC).replace(microsecond=0) if changed else None
    return Validators(f'W/"{digest}"', last_modified)


def _etags(header: str) -> list[str]:
    return [tag.strip().removeprefix("W/") for tag in header.split(",") if tag.strip()]


def is_not_modified(request_headers: Mapping[str, str], validators: Validators) -> bool:
    """RFC 9110 13.1: If-None-Match (weak comparison) wins; else If-Modified-Since."""
    if_none_match = request_headers.get("if-none-match")
    if if_none_match is not None:
        tags = _etags(if_none_match)
        return "*" in tags or validators.etag.removeprefix("W/") in tags
    since = request_headers.get("if-modified-since")
    if since is None or validators.last_modified is None:
        return False
    try:
        when = parsedate_to_datetime(since)
    except (TypeError, ValueError):
        return False
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return validators.last_modified <= when


# The render cache is bounded by bytes, not entries: one 19 MB article made 22-39 MB feeds, and
# 300 distinct feed URLs took the service from 72 to 503 MB. 32 MB holds a few hundred ordinary
# feeds (50 entries are 50-150 kB); a body over 4 MB is served but not kept (rebuilding it costs
# less than holding it, and eight of them would fill the cache).
CACHE_MAX_BYTES = 32 * 1024 * 1024
CACHE_MAX_BODY_BYTES = 4 * 1024 * 1024
CACHE_MAX_ENTRIES = 256


class RenderCache:
    """A small thread-safe LRU of rendered bodies keyed by (format, query, data state).

    Bounded twice: at most `max_entries` bodies and at most `max_bytes` bytes of them; a body
    over `max_body_bytes` is returned without being kept. `size` is the bytes held now.
    """

    def __init__(
        self,
        max_entries: int = CACHE_MAX_ENTRIES,
        *,
        max_bytes: int = CACHE_MAX_BYTES,
        max_body_bytes: int = CACHE_MAX_BODY_BYTES,
    ) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.max_body_bytes = min(max_body_bytes, max_bytes)
        self._items: OrderedDict[Hashable, bytes] = OrderedDict()
        self._lock = threading.Lock()
        self.size = 0
        self.hits = 0
        self.misses = 0

    def get_or_build(self, key: Hashable, build: Callable[[], bytes]) -> bytes:
        with self._lock:
            body = self._items.get(key)
            if body is not None:
                self._items.move_to_end(key)
                self.hits += 1
                return body
            self.misses += 1
        body = build()  # outside the lock: two threads may build the same body once each
        if len(body) > self.max_body_bytes:
            return body
        with self._lock:
            old = self._items.pop(key, None)
            self.size += len(body) - (len(old) if old is not None else 0)
            self._items[key] = body
            while len(self._items) > self.max_entries or self.size > self.max_bytes:
                _, evicted = self._items.popitem(last=False)
                self.size -= len(evicted)
        return body

    def __len__(self) -> int:
        return len(self._items)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self.size = 0


class ChangeMemo:
    """`Store.last_change` per query, remembered for `ttl` seconds.

    `last_change` is an aggregate over the matching releases; under load it would run once per
    request. A short memo bounds that to once per query per `ttl`, at the price of a new release
    showing up to `ttl` seconds later (far inside the 10 s publish budget); `invalidate()` after
    a publish removes even that delay.
    """

    def __init__(self, fetch: Callable[[Any], tuple[datetime | None, int]], ttl: float) -> None:
        self.fetch = fetch
        self.ttl = ttl
        self._items: dict[Hashable, tuple[float, tuple[datetime | None, int]]] = {}
        self._lock = threading.Lock()

    def get(self, query: Hashable) -> tuple[datetime | None, int]:
        if self.ttl <= 0:
            return self.fetch(query)
        now = time.monotonic()
        with self._lock:
            cached = self._items.get(query)
        if cached is not None and cached[0] > now:
            return cached[1]
        value = self.fetch(query)
        with self._lock:
            if len(self._items) >= 4096:  # bounded: arbitrary keyword queries must not pile up
                self._items.clear()
            self._items[query] = (now + self.ttl, value)
        return value

    def invalidate(self) -> None:
        with self._lock:
            self._items.clear()
