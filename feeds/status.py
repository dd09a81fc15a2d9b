"""The watcher's view of the crawl (/status): per site the last run and the runs before it,
failures in a row, field coverage, freshness and publication latency; the scheduler's hook adds
what only it knows (next run, backoff)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from feeds.entries import site_name

logger = logging.getLogger(__name__)

if TYPE_CHECKING:
    from crawler.sites import Site
    from crawler.store import CrawlRun, Latency, SiteHistory, Store

HISTORY_RUNS = 10  # runs of each site in the JSON document
LATENCY_WINDOW = timedelta(days=30)

StatusHook = Callable[[], Mapping[str, Any]]


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat(timespec="seconds") if value else None


def run_view(run: CrawlRun | None) -> dict[str, Any] | None:
    """A crawl run as JSON: what happened, how long it took, which fields were filled."""
    if run is None:
        return None
    return {
        "id": run.id,
        "started": _iso(run.started),
        "finished": _iso(run.finished),
        "status": run.status,
        "reason": run.reason,
        **run.counters(),
        "duration": run.duration,
        "coverage": run.coverage,
    }


def latency_view(latency: Latency | None) -> dict[str, Any] | None:
    """Publication latency of a site in seconds (IOM's date -> our first alert)."""
    if latency is None:
        return None
    return {
        "count": latency.count,
        "alerted": latency.alerted,
        "median": round(latency.median),
        "p90": round(latency.p90),
    }


def site_status(
    site_id: str,
    site: Site | None,
    history: SiteHistory | None,
    latency: Latency | None,
    now: datetime,
) -> dict[str, Any]:
    """One site's row of /status: its last run, the runs before, failures in a row, latency."""
    last_new = history.last_new if history else None
    runs = history.runs if history else ()
    return {
        "id": site_id,
        "name": site_name(site, site_id),
        "base_url": site.base_url if site else None,
        "releases": history.releases if history else 0,
        "last_new": _iso(last_new),
        "seconds_since_last_new": round((now - last_new).total_seconds()) if last_new else None,
        "last_run": run_view(runs[0] if runs else None),
        "consecutive_failures": history.consecutive_failures if history else 0,
        "field_coverage": history.field_coverage() if history else {},
        "history": [
            {k: v for k, v in (run_view(run) or {}).items() if k != "coverage"} for run in runs
        ],
        "latency": latency_view(latency),
    }


def collect_status(
    store: Store,
    sites: Sequence[Site],
    hook: StatusHook | None,
    *,
    now: datetime | None = None,
    runs: int = HISTORY_RUNS,
) -> dict[str, Any]:
    """Everything /status shows, for the registry's sites and any others found in the store.

    A fixed number of queries whatever the number of sites (history, latency, the hook).
    """
    now = now or datetime.now(UTC)
    by_id = {s.id: s for s in sites}
    history = store.site_history(runs=runs, now=now, sites=list(by_id))
    latency = store.publication_latency(window=LATENCY_WINDOW, now=now)
    ids = [*by_id, *sorted(set(history) - set(by_id))]
    rows = [
        site_status(site_id, by_id.get(site_id), history.get(site_id), latency.get(site_id), now)
        for site_id in ids
    ]
    status: dict[str, Any] = {
        "now": _iso(now),
        "releases": sum(h.releases for h in history.values()),
        "latency_window_days": LATENCY_WINDOW.days,
        "sites": rows,
    }
    if hook is not None:
        merge_hook(status, hook)
    return status


def merge_hook(status: dict[str, Any], hook: StatusHook) -> None:
    """Merge the scheduler's state: top-level keys added, `sites: {id: {...}}` merged per row.

    A failing hook is logged and reported in the document; /status itself still answers.
    """
    try:
        extra = dict(hook())
    except Exception as exc:  # the hook is someone else's code; /status must not fail with it
        logger.exception("status hook failed")
        status["scheduler_error"] = f"{type(exc).__name__}: {exc}"
        return
    per_site = extra.pop("sites", None)
    if isinstance(per_site, Mapping):
        for row in status["sites"]:
            row.update(per_site.get(row["id"], {}))
    for key, value in extra.items():
        status.setdefault(key, value)
