"""The watcher's view of the crawl: per-site last run, counts, coverage and freshness (/status)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from feeds.entries import site_name

logger = logging.getLogger(__name__)

if TYPE_CHECKING:
    from crawler.sites import Site
    from crawler.store import CrawlRun, Store

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


def site_status(
    site_id: str, site: Site | None, summary: Mapping[str, Any], run: CrawlRun | None, now: datetime
) -> dict[str, Any]:
    """One site's row of /status."""
    last_new: datetime | None = summary.get("last_new")
    if last_new is not None and last_new.tzinfo is None:
        last_new = last_new.replace(tzinfo=UTC)
    return {
        "id": site_id,
        "name": site_name(site, site_id),
        "base_url": site.base_url if site else None,
        "releases": summary.get("releases", 0),
        "last_new": _iso(last_new),
        "seconds_since_last_new": round((now - last_new).total_seconds()) if last_new else None,
        "last_run": run_view(run),
    }


def collect_status(
    store: Store, sites: Sequence[Site], hook: StatusHook | None, *, now: datetime | None = None
) -> dict[str, Any]:
    """Everything /status shows, for the registry's sites and any others found in the store."""
    now = now or datetime.now(UTC)
    summaries = store.site_summaries()
    by_id = {s.id: s for s in sites}
    ids = [*by_id, *sorted(set(summaries) - set(by_id))]
    rows = []
    for site_id in ids:
        runs = store.runs(site=site_id, limit=1)
        rows.append(
            site_status(
                site_id,
                by_id.get(site_id),
                summaries.get(site_id, {}),
                runs[0] if runs else None,
                now,
            )
        )
    status: dict[str, Any] = {
        "now": _iso(now),
        "releases": sum(s.get("releases", 0) for s in summaries.values()),
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
