"""Watching the watcher: per-site crawl history and publication latency, in a few queries each.

    site_history(*, runs=10, since=None, now=None) -> {site: SiteHistory}
        the last `runs` crawl runs of every site (one windowed query), the failures in a row
        since its last good run, its newest release: what /status, `iomwatch status` and the
        operator alerts read
    publication_latency(*, window=30 days, now=None) -> {site: Latency}
        the release's own date -> our first alert about it (the earliest `sent_at` of its
        translation group's outbox rows), or -> when we first saw it when no alert went out;
        median and p90 per site over the groups first seen within `window`
    latency_samples(...) -> {site: [seconds, ...]}     the values behind it (for /metrics)
    crawl_duration_buckets(bounds, *, since) / delivery_attempt_buckets(bounds, *, since) /
    waiting_outbox_ages(bounds, *, now) -> Buckets     histograms counted by the database

Run history is read within `since` (default 2 days, on the index of `started`): retention
keeps months of runs (1.5 million rows at 174 sites, 30 minutes, 180 days), and a window
function over all of them cost /status 6 to 18 s. Failures in a row are counted within the same
horizon; a registry site with no run in it shows its last run ever (`sites`).

Latency counts a translation group once (one release in several languages is one
release) and leaves out the backfill of a site's first crawl that no alert was queued for:
releases IOM published months before we started watching say nothing about our speed. A
group counts as backfill when it has no outbox row and was first seen within
FIRST_CRAWL_SPAN of the site's very first release.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import case, func, select

from crawler.store.base import StoreBase
from crawler.store.records import OUTBOX_CHANNELS, CrawlRun
from crawler.store.schema import crawl_runs, outbox, releases

if TYPE_CHECKING:
    from sqlalchemy import ColumnElement

HISTORY_HORIZON = timedelta(days=2)
LATENCY_WINDOW = timedelta(days=30)
FIRST_CRAWL_SPAN = timedelta(hours=1)
WAITING_STATES = ("pending", "failed")  # outbox rows still to send
DONE_STATES = ("sent", "dead")
FAILED = "failed"  # "skipped" (another process held the site) and "running" break no streak


@dataclass(frozen=True)
class SiteHistory:
    """One site's recent crawls (newest first) and how fresh its releases are."""

    site: str
    runs: tuple[CrawlRun, ...]
    consecutive_failures: int  # failed runs since the last ok one, within the horizon
    releases: int
    last_new: datetime | None  # when the newest release was first seen

    @property
    def last_run(self) -> CrawlRun | None:
        return self.runs[0] if self.runs else None

    def seconds_since_last_new(self, now: datetime) -> float | None:
        return (now - self.last_new).total_seconds() if self.last_new else None

    def field_coverage(self) -> dict[str, float]:
        """Per field, the share of items that had it over these runs (0..1): what a layout
        change shows first (date coverage falling while items still come)."""
        items = sum(run.items for run in self.runs)
        if not items:
            return {}
        totals: dict[str, int] = {}
        for run in self.runs:
            for name, count in run.coverage.items():
                totals[name] = totals.get(name, 0) + count
        return {name: round(count / items, 4) for name, count in sorted(totals.items())}


@dataclass(frozen=True)
class Latency:
    """Publication latency of one site: how many groups, median and 90th percentile, seconds."""

    count: int
    median: float
    p90: float
    alerted: int  # of `count`, those measured to an alert (the rest: to first seen)


@dataclass(frozen=True)
class Buckets:
    """A histogram as the database counted it: cumulative counts per upper bound."""

    bounds: tuple[float, ...]
    counts: tuple[int, ...]  # observations <= each bound
    count: int
    total: float  # the sum of the observations


def quantile(values: Sequence[float], q: float) -> float:
    """The q-quantile by linear interpolation between ranks (PostgreSQL's percentile_cont)."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("quantile of no values")
    position = (len(ordered) - 1) * q
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def epoch_seconds(column: Any, dialect: str) -> ColumnElement[Any]:
    """Seconds since 1970 of a stored time, in SQL (SQLite keeps it as text: julianday)."""
    if dialect == "postgresql":
        return func.extract("epoch", column)
    return (func.julianday(column) - 2440587.5) * 86400.0


class HealthStore(StoreBase):
    """Read-only queries over runs, releases and the outbox for /status, /metrics and alerts."""

    def site_history(
        self,
        *,
        runs: int = 10,
        since: datetime | None = None,
        now: datetime | None = None,
        sites: Sequence[str] = (),
    ) -> dict[str, SiteHistory]:
        """Every site with a run since `since` or a release, and each of `sites`: its last
        `runs` runs (a site of `sites` with none since then: its last run ever), and more."""
        now = now or datetime.now(UTC)
        since = since or now - HISTORY_HORIZON
        recent = _recent_runs(self, runs, since)
        if missing := sorted(set(sites) - set(recent)):
            recent.update((run.site, [run]) for run in _last_runs(self, missing))
        streaks = _failure_streaks(self, since)
        summaries = _release_summaries(self)
        return {
            site: SiteHistory(
                site=site,
                runs=tuple(recent.get(site, ())),
                consecutive_failures=streaks.get(site, 0),
                releases=summaries.get(site, (0, None))[0],
                last_new=summaries.get(site, (0, None))[1],
            )
            for site in sorted({*recent, *summaries, *sites})
        }

    def consecutive_failures(self, *, since: datetime | None = None) -> dict[str, int]:
        """Per site with any: failed runs since its last ok one (within the horizon)."""
        return _failure_streaks(self, since or datetime.now(UTC) - HISTORY_HORIZON)

    def latency_samples(
        self, *, window: timedelta = LATENCY_WINDOW, now: datetime | None = None
    ) -> dict[str, list[tuple[float, bool]]]:
        """Per site, (seconds, measured to an alert?) of each group first seen in the window."""
        now = now or datetime.now(UTC)
        since = now - window
        stmt = _latency_query(since)
        found: dict[str, list[tuple[float, bool]]] = {}
        with self.engine.connect() as conn:
            rows = conn.execute(stmt).all()
        for site, published, first_seen, sent, queued, site_start in rows:
            if not queued and first_seen < site_start + FIRST_CRAWL_SPAN:
                continue  # a first crawl's backfill: no alert was due
            reached = _aware(sent) if sent is not None else _aware(first_seen)
            seconds = max(0.0, (reached - _aware(published)).total_seconds())
            found.setdefault(site, []).append((seconds, sent is not None))
        return found

    def publication_latency(
        self, *, window: timedelta = LATENCY_WINDOW, now: datetime | None = None
    ) -> dict[str, Latency]:
        """Per site: median and p90 of release date -> first alert (or first seen), seconds."""
        result = {}
        for site, samples in self.latency_samples(window=window, now=now).items():
            values = [seconds for seconds, _ in samples]
            result[site] = Latency(
                count=len(values),
                median=quantile(values, 0.5),
                p90=quantile(values, 0.9),
                alerted=sum(1 for _, alerted in samples if alerted),
            )
        return result

    def crawl_duration_buckets(
        self, bounds: Sequence[float], *, since: datetime | None = None
    ) -> Buckets:
        """Durations of the finished crawl runs (started since `since`), in seconds."""
        stmt = _bucket_query(crawl_runs.c.duration, bounds)
        if since is not None:  # on the index of `started`; all runs: a full scan
            stmt = stmt.where(crawl_runs.c.started >= since)
        with self.engine.connect() as conn:
            (row,) = conn.execute(stmt).all()
        return _buckets(bounds, row)

    def delivery_attempt_buckets(
        self, bounds: Sequence[float], *, since: datetime | None = None
    ) -> dict[tuple[str, str], Buckets]:
        """Attempts each finished alert took, per (channel, state): sent, or dead (given up).

        `since` bounds the last attempt (`next_attempt_at`, the last lease), read on the
        outbox's (channel, state, next_attempt_at) index.
        """
        keys = (outbox.c.channel, outbox.c.state)
        stmt = (
            _bucket_query(outbox.c.attempts, bounds, keys)
            .where(outbox.c.channel.in_(OUTBOX_CHANNELS), outbox.c.state.in_(DONE_STATES))
            .group_by(*keys)
        )
        if since is not None:
            stmt = stmt.where(outbox.c.next_attempt_at >= since)
        with self.engine.connect() as conn:
            return {(r[0], r[1]): _buckets(bounds, r[2:]) for r in conn.execute(stmt)}

    def waiting_outbox_ages(
        self, bounds: Sequence[float], *, now: datetime | None = None
    ) -> dict[str, Buckets]:
        """Per channel, how long the alerts still to send have waited (since queued), seconds.

        Digests wait for their hour by design: the channel label tells them apart.
        """
        now = now or datetime.now(UTC)
        waited = [outbox.c.created_at >= now - timedelta(seconds=b) for b in bounds]
        counts = [func.sum(case((w, 1), else_=0)) for w in waited]
        stmt = (
            select(outbox.c.channel, *counts, func.count())
            .where(outbox.c.channel.in_(OUTBOX_CHANNELS), outbox.c.state.in_(WAITING_STATES))
            .group_by(outbox.c.channel)
        )
        with self.engine.connect() as conn:
            epoch = epoch_seconds(outbox.c.created_at, conn.dialect.name)
            stmt = stmt.add_columns(func.sum(epoch))
            found: dict[str, Buckets] = {}
            for row in conn.execute(stmt):
                count = int(row[-2])
                total = count * now.timestamp() - float(row[-1] or 0.0)
                counts_row = tuple(int(c or 0) for c in row[1:-2])
                found[row[0]] = Buckets(tuple(bounds), counts_row, count, max(0.0, total))
        return found


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _by_site() -> Any:
    """`site`, as an expression no index serves: grouped this way, SQLite reads the window's
    rows on the index of `started` instead of all the runs on the index of `site` (measured at
    1.5 million runs: 0.25 s instead of 5.8 s)."""
    return crawl_runs.c.site.concat("")


def _recent_runs(store: StoreBase, limit: int, since: datetime) -> dict[str, list[CrawlRun]]:
    """The last `limit` runs of each site started since `since`: one query, a window function
    over the narrow (id, site) rows, then the chosen rows read whole."""
    rank = func.row_number().over(partition_by=_by_site(), order_by=crawl_runs.c.id.desc())
    ranked = select(crawl_runs.c.id, rank.label("rank")).where(crawl_runs.c.started >= since)
    chosen = ranked.subquery()
    stmt = (
        select(crawl_runs)
        .where(crawl_runs.c.id.in_(select(chosen.c.id).where(chosen.c.rank <= limit)))
        .order_by(crawl_runs.c.id.desc())
    )
    found: dict[str, list[CrawlRun]] = {}
    with store.engine.connect() as conn:
        for row in conn.execute(stmt):
            found.setdefault(row.site, []).append(_run(row))
    return found


def _last_runs(store: StoreBase, sites: Sequence[str]) -> list[CrawlRun]:
    """The latest run of each of these sites, whenever it was (on the index of `site`)."""
    latest = (
        select(func.max(crawl_runs.c.id))
        .where(crawl_runs.c.site.in_(list(sites)))
        .group_by(crawl_runs.c.site)
    )
    stmt = select(crawl_runs).where(crawl_runs.c.id.in_(latest.scalar_subquery()))
    with store.engine.connect() as conn:
        return [_run(row) for row in conn.execute(stmt)]


def _run(row: Any) -> CrawlRun:
    return CrawlRun(**{**row._asdict(), "coverage": json.loads(row.coverage or "{}")})


def _failure_streaks(store: StoreBase, since: datetime) -> dict[str, int]:
    """Per site, failed runs after its last ok run (both since `since`)."""
    window = crawl_runs.c.started >= since
    site = _by_site().label("site")
    last_ok = (
        select(site, func.max(crawl_runs.c.id).label("ok_id"))
        .where(window, crawl_runs.c.status == "ok")
        .group_by(site)
        .subquery()
    )
    stmt = (
        select(site, func.count())
        .select_from(crawl_runs.outerjoin(last_ok, last_ok.c.site == crawl_runs.c.site))
        .where(window, crawl_runs.c.status == FAILED)
        .where(crawl_runs.c.id > func.coalesce(last_ok.c.ok_id, 0))
        .group_by(site)
    )
    with store.engine.connect() as conn:
        return {site: int(count) for site, count in conn.execute(stmt)}


def _release_summaries(store: StoreBase) -> dict[str, tuple[int, datetime | None]]:
    stmt = select(releases.c.site, func.count(), func.max(releases.c.first_seen)).group_by(
        releases.c.site
    )
    with store.engine.connect() as conn:
        return {r[0]: (int(r[1]), _aware(r[2]) if r[2] else None) for r in conn.execute(stmt)}


def _latency_query(since: datetime) -> Any:
    """Per dated group: site, published, first seen, first alert sent, alerts queued, and when
    the site's first release was seen."""
    groups = (
        select(
            releases.c.site,
            releases.c.group_key,
            func.min(releases.c.published).label("published"),
            func.min(releases.c.first_seen).label("first_seen"),
        )
        .where(releases.c.first_seen >= since, releases.c.published.is_not(None))
        .group_by(releases.c.site, releases.c.group_key)
        .subquery()
    )
    sent = (  # (an alert is queued after its release is first seen, so after `since`)
        select(
            outbox.c.group_key,
            func.min(outbox.c.sent_at).label("sent"),
            func.count().label("queued"),
        )
        .where(outbox.c.created_at >= since)
        .group_by(outbox.c.group_key)
        .subquery()
    )
    starts = (
        select(releases.c.site, func.min(releases.c.first_seen).label("start"))
        .group_by(releases.c.site)
        .subquery()
    )
    return (
        select(
            groups.c.site,
            groups.c.published,
            groups.c.first_seen,
            sent.c.sent,
            sent.c.queued,
            starts.c.start,
        )
        .select_from(
            groups.outerjoin(sent, sent.c.group_key == groups.c.group_key).join(
                starts, starts.c.site == groups.c.site
            )
        )
        .order_by(groups.c.site)
    )


def _bucket_query(column: Any, bounds: Sequence[float], keys: Sequence[Any] = ()) -> Any:
    """Per bound, how many values are <= it; then the count and the sum (NULLs left out)."""
    counts = [func.sum(case((column <= b, 1), else_=0)) for b in bounds]
    return select(*keys, *counts, func.count(column), func.sum(column))


def _buckets(bounds: Sequence[float], row: Sequence[Any]) -> Buckets:
    *counts, count, total = row
    return Buckets(
        bounds=tuple(bounds),
        counts=tuple(int(c or 0) for c in counts),
        count=int(count or 0),
        total=float(total or 0.0),
    )
