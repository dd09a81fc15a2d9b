"""When things are sent: the next digest instant of a subscriber, and the retry delay of a row.

Pure functions over explicit instants (no clock read here), so tests freeze time by passing it.
"""

from __future__ import annotations

import random

from crawler.store.digest_times import (
    DIGEST_MODES,
    WEEKLY_DAY,
    DigestMode,
    local_hour_at,
    next_digest_at,
    zone,
)

__all__ = [
    "DIGEST_MODES",
    "WEEKLY_DAY",
    "DigestMode",
    "backoff_delay",
    "local_hour_at",
    "next_digest_at",
    "zone",
]

# beyond 2**64 the delay is capped anyway; bounding the exponent keeps the float finite
MAX_EXPONENT = 64


def backoff_delay(
    attempt: int,
    *,
    initial: float,
    maximum: float,
    retry_after: float | None = None,
    rng: random.Random | None = None,
) -> float:
    """Seconds to wait after failed attempt number `attempt` (1 for the first failure).

    Exponential (initial, 2x, 4x...) capped at `maximum`, with equal jitter: a uniform draw in
    [half, whole] of the step, so delays still grow while senders that failed together spread
    out. A larger `retry_after` from the receiver wins, up to `maximum`: a hostile or confused
    receiver cannot park a delivery for a year.
    """
    if attempt < 1:
        raise ValueError(f"attempt {attempt!r}: counts from 1")
    if not 0 < initial <= maximum:
        raise ValueError(f"backoff bounds {initial!r}, {maximum!r}: need 0 < initial <= maximum")
    step = min(maximum, initial * 2.0 ** min(attempt - 1, MAX_EXPONENT))
    uniform = rng.uniform if rng is not None else random.uniform
    delay = step / 2 + uniform(0.0, step / 2)
    if retry_after is not None and retry_after > delay:
        delay = min(retry_after, maximum)
    return delay
