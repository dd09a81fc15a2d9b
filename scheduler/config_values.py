"""A raw configuration value made typed and bounded: TOML or environment string -> setting.

The type a value must have is the type of its dataclass default (`scheduler.config`): a
boolean, a number (whole for an integer key, always finite) or a string. Every number has
bounds (BOUNDS, re-exported by `scheduler.config`): a value outside them stops start-up with
the message naming where it came from.
"""

from __future__ import annotations

import math
from typing import Any

from scheduler.exceptions import ConfigError

# (least, most) of every numeric key, inclusive. A 0 that would mean "nothing runs" (pages,
# parallel crawls) or "kill at once" (timeouts) is out of bounds; the upper bounds catch a
# slipped digit (port 99999, a 9000 s download delay) rather than forbid a real need.
BOUNDS: dict[str, tuple[float, float]] = {
    "server.port": (1, 65535),
    "crawl.max_backfill_pages": (1, 1000),
    "crawl.max_pages": (0, 1000),  # 0: only the first listing page on later crawls
    "crawl.timeout_seconds": (1, 86400),
    "crawl.download_timeout": (1, 600),
    "crawl.download_delay": (0, 60),
    "crawl.concurrent_per_host": (1, 16),
    "crawl.recheck_days": (0, 365),  # 0: known releases are never re-fetched
    "crawl.recheck_hours": (0, 8760),  # 0: ...re-fetched on every crawl while young
    # Fractions of a minute serve the tests and benchmarks (0.01 min = 0.6 s); 0 would
    # become APScheduler's one-second default period.
    "crawl.interval_minutes": (0.01, 10080),
    "crawl.jitter_seconds": (0, 3600),
    "crawl.stop_grace_seconds": (1, 600),
    "crawl.max_parallel": (1, 64),
    "crawl.retention_days": (0, 36500),  # 0: keep forever
    "crawl.worker_max_crawls": (1, 1_000_000),
    "crawl.worker_max_memory_mb": (1, 65536),  # below Scrapy's own ~100 MB: one crawl a worker
    "crawl.backoff_max_minutes": (0, 10080),  # 0: no backoff, every scheduled run is tried
    "smtp.port": (1, 65535),
    "smtp.timeout_seconds": (1, 600),
    # Fractions of a second serve the tests; a day between retries is the most a mail waits.
    "alerts.retry_initial_seconds": (0.1, 86400),
    "alerts.retry_max_seconds": (0.1, 86400),
    "alerts.backfill_window_hours": (0, 8760),  # 0: a first crawl alerts nobody
    "alerts.webhook_max_failures": (1, 1000),
    "alerts.poll_seconds": (0.1, 3600),  # 10 s is the promise from a crawl's end to the inbox
    "alerts.lease_seconds": (1, 86400),  # a few seconds serve the crash tests
}


def coerce_value(value: Any, target: Any, where: str) -> Any:
    """Convert a TOML or environment value to the type of the dataclass default."""
    if isinstance(target, bool):
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in {
            "1",
            "true",
            "yes",
            "on",
            "0",
            "false",
            "no",
            "off",
        }:
            return value.lower() in {"1", "true", "yes", "on"}
        raise ConfigError(f"{where}: expected true or false, got {value!r}")
    if isinstance(target, int | float):
        return _number(value, whole=isinstance(target, int), where=where)
    if not isinstance(value, str):
        raise ConfigError(f"{where}: expected a string, got {value!r}")
    return value


def _number(value: Any, *, whole: bool, where: str) -> float:
    """A finite number (a whole one for an integer key) from TOML or an environment string."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ConfigError(f"{where}: expected a number, got {value!r}")
    try:
        number = float(value)
    except OverflowError:  # an integer of hundreds of digits
        number = math.inf
    except ValueError:
        raise ConfigError(f"{where}: expected a number, got {value!r}") from None
    if not math.isfinite(number):
        raise ConfigError(f"{where}: expected a finite number, got {value!r}")
    if not whole:
        return number
    if not number.is_integer():
        raise ConfigError(f"{where}: expected a whole number, got {value!r}")
    return value if isinstance(value, int) else int(number)


def check_bounds(key: str, value: Any, where: str) -> None:
    """Refuse a number outside BOUNDS (a numeric key missing there must not be negative)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return
    least, most = BOUNDS.get(key, (0, math.inf))
    if value < least:
        raise ConfigError(f"{where}: must be at least {least:g}, got {value!r}")
    if value > most:
        raise ConfigError(f"{where}: must be at most {most:g}, got {value!r}")
