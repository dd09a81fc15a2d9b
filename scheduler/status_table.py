"""`iomwatch status`: per site, the last run, the next one, new releases, errors, backoff and
publication latency, from the store (crawler.store.health) and, with `--url`, the service.

Without `--url` the next run is estimated the way the scheduler plans it: the last run plus
the interval, times 2^(failures-1) while the site keeps failing, capped at the backoff bound
(shown with a "~"). With `--url` it is what the running service's /status says. On a
terminal the rows are a rich table; elsewhere one `key=value` line per site.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import IO, TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from crawler.store import CrawlRun, Latency, SiteHistory, Store
    from scheduler.config import CrawlConfig

logger = logging.getLogger(__name__)

DAY = timedelta(days=1)
RUNS_PER_DAY = 2000  # runs read per site for "new in 24 h": a 1-minute schedule's day, and more
SERVICE_TIMEOUT = 5.0


@dataclass(frozen=True)
class SiteRow:
    """What `iomwatch status` says about one site."""

    site: str
    last_run: CrawlRun | None
    next_run: datetime | None
    next_estimated: bool  # from the interval, not from the service
    new_24h: int
    failures: int  # failed runs in a row
    backoff: timedelta | None  # the wait before the next try, while failing
    latency: Latency | None
    releases: int


def backoff_delay(crawl: CrawlConfig, failures: int) -> timedelta:
    """The scheduler's wait after `failures` failed runs in a row (the interval when none)."""
    interval = timedelta(minutes=crawl.interval_minutes)
    if failures <= 1 or crawl.backoff_max_minutes <= 0:
        return interval
    grown = interval * (1 << min(failures - 1, 30))  # 2^30 intervals: past any cap
    return max(interval, min(grown, timedelta(minutes=crawl.backoff_max_minutes)))


def estimate_next(crawl: CrawlConfig, last: CrawlRun | None, failures: int) -> datetime | None:
    """When the scheduler will crawl the site next, judged from its last run (None: no run,
    or a cron schedule, which the table names instead)."""
    if last is None or crawl.cron:
        return None
    base = _aware(last.finished or last.started)
    return base + backoff_delay(crawl, failures)


def collect_rows(
    store: Store,
    site_ids: Sequence[str],
    crawl: CrawlConfig,
    *,
    service: Mapping[str, Any] | None = None,
    now: datetime | None = None,
) -> list[SiteRow]:
    """One row per site: the registry's, then any other the store has runs or releases of."""
    now = now or datetime.now(UTC)
    history = store.site_history(runs=RUNS_PER_DAY, since=now - DAY, now=now, sites=site_ids)
    failures = store.consecutive_failures()
    latency = store.publication_latency(now=now)
    planned = service_next_runs(service) if service is not None else {}
    ids = [*site_ids, *sorted(set(history) - set(site_ids))]
    return [
        _row(site, history.get(site), failures.get(site, 0), latency.get(site), planned, crawl)
        for site in ids
    ]


def _row(
    site: str,
    history: SiteHistory | None,
    failures: int,
    latency: Latency | None,
    planned: Mapping[str, datetime | None],
    crawl: CrawlConfig,
) -> SiteRow:
    last = history.last_run if history else None
    since = datetime.now(UTC) - DAY
    runs = history.runs if history else ()
    estimated = site not in planned
    return SiteRow(
        site=site,
        last_run=last,
        next_run=estimate_next(crawl, last, failures) if estimated else planned[site],
        next_estimated=estimated,
        new_24h=sum(r.new for r in runs if _aware(r.started) >= since),
        failures=failures,
        backoff=backoff_delay(crawl, failures) if failures > 1 else None,
        latency=latency,
        releases=history.releases if history else 0,
    )


def fetch_service_status(url: str) -> dict[str, Any]:
    """The running service's /status JSON (raises httpx.HTTPError when it does not answer)."""
    import httpx

    response = httpx.get(
        f"{url.rstrip('/')}/status",
        headers={"Accept": "application/json"},
        timeout=SERVICE_TIMEOUT,
    )
    response.raise_for_status()
    found: dict[str, Any] = response.json()
    return found


def service_next_runs(status: Mapping[str, Any]) -> dict[str, datetime | None]:
    """Each site's next run as the service plans it: a per-site `next_run`, or the scheduler's
    `next_run: {site: time}` mapping; a site the service does not schedule maps to None."""
    planned: dict[str, datetime | None] = {}
    mapping = status.get("next_run")
    if isinstance(mapping, Mapping):
        planned.update({str(k): _parse_time(v) for k, v in mapping.items()})
    for row in status.get("sites", ()):
        if isinstance(row, Mapping) and "next_run" in row:
            planned[str(row.get("id"))] = _parse_time(row["next_run"])
    return planned


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return _aware(datetime.fromisoformat(value))
    except ValueError:
        return None


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def duration(seconds: float | None) -> str:
    """A short human duration: 42s, 7m, 3h05m, 2d04h."""
    if seconds is None:
        return "-"
    whole = round(seconds)
    if whole < 60:
        return f"{whole}s"
    minutes, _ = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h{minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d{hours:02d}h"


def _when(value: datetime | None, now: datetime) -> str:
    if value is None:
        return "-"
    delta = (value - now).total_seconds()
    stamp = value.astimezone(UTC).strftime("%Y-%m-%d %H:%M")
    return f"{stamp} (in {duration(delta)})" if delta >= 0 else f"{stamp} ({duration(-delta)} ago)"


def _cells(row: SiteRow, crawl: CrawlConfig, now: datetime) -> dict[str, str]:
    """The row's values as text, by column name (the table and the plain lines share them)."""
    last = row.last_run
    if row.next_run is None:
        upcoming = f"cron {crawl.cron}" if crawl.cron and row.next_estimated else "-"
    else:
        upcoming = ("~" if row.next_estimated else "") + _when(row.next_run, now)
        if row.next_run < now and row.next_estimated:
            upcoming += " due"
    latency = row.latency
    return {
        "site": row.site,
        "last run": _when(_aware(last.started), now) if last else "never",
        "status": last.status if last else "-",
        "next run": upcoming,
        "new (last/24h)": f"{last.new if last else 0}/{row.new_24h}",
        "errors": str(last.errors) if last else "-",
        "failing": str(row.failures) if row.failures else "-",
        "backoff": duration(row.backoff.total_seconds()) if row.backoff else "-",
        "latency (median/p90)": (
            f"{duration(latency.median)}/{duration(latency.p90)} n={latency.count}"
            if latency
            else "-"
        ),
        "releases": str(row.releases),
    }


def render_table(rows: Sequence[SiteRow], crawl: CrawlConfig, now: datetime) -> Table:
    table = Table(title="iomwatch status")
    cells = [_cells(r, crawl, now) for r in rows]
    for column in cells[0] if cells else ("site",):
        table.add_column(column, overflow="fold")
    for row, values in zip(rows, cells, strict=True):
        style = "red" if row.last_run and row.last_run.status == "failed" else None
        table.add_row(*values.values(), style=style)
    return table


def plain_lines(rows: Sequence[SiteRow], crawl: CrawlConfig, now: datetime) -> Iterator[str]:
    """One `key=value` line per site, for scripts and pipes (values with spaces quoted)."""
    for row in rows:
        values = _cells(row, crawl, now)
        yield " ".join(
            f"{_key(k)}={v!r}" if " " in v else f"{_key(k)}={v}" for k, v in values.items()
        )


def _key(column: str) -> str:
    return column.replace(" (", "_").replace(")", "").replace(" ", "_")


def print_status(
    rows: Sequence[SiteRow], crawl: CrawlConfig, out: IO[str], *, console: Console | None = None
) -> None:
    """The table on a terminal, else the plain lines."""
    now = datetime.now(UTC)
    console = console or Console(file=out, width=200)
    if console.is_terminal:
        console.print(render_table(rows, crawl, now))
        return
    for line in plain_lines(rows, crawl, now):
        print(line, file=out)
