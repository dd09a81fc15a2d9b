"""The handlers of the `iomwatch` sub-commands; each returns the exit code."""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import logging
import sys
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import IO, Any

from rich.console import Console
from rich.table import Table

from crawler.sites import Site, load_sites, select_sites
from crawler.store import RUN_COUNTERS, CrawlRun, ReleaseQuery, Store, StoredRelease
from scheduler.alerting import drain_after_crawl, sync_targets
from scheduler.config import ServiceConfig
from scheduler.progress import crawl_display

logger = logging.getLogger(__name__)

EXPORT_FIELDS = (
    "id",
    "url",
    "site",
    "country",
    "region",
    "lang",
    "type",
    "title",
    "published",
    "dateline",
    "first_seen",
    "updated",
    "summary",
    "body_text",
    "image_url",
    "attachments",
    "translations",
)


def load_config(args: argparse.Namespace) -> ServiceConfig:
    """The configuration named by `--config` (else IOMWATCH_CONFIG), with its overrides."""
    return ServiceConfig.from_env(args.config)


def migrate_store(database_url: str) -> None:
    """Bring the schema up to date once, before a crawl's spiders open the store concurrently."""
    with Store(database_url, migrate=False) as store:
        store.migrate()


def crawl_overrides(config: ServiceConfig, *, max_pages: int | None = None) -> dict[str, Any]:
    """Scrapy settings for a crawl, from the service configuration (`max_pages`: both limits)."""
    from crawler.settings import CrawlOptions, scrapy_settings

    options: CrawlOptions = config.crawl
    if max_pages:
        options = dataclasses.replace(options, max_backfill_pages=max_pages, max_pages=max_pages)
    return scrapy_settings(
        options,
        database_url=config.database_url,
        backfill_window_hours=config.alerts.backfill_window_hours,
    )


TABLE_COUNTERS = tuple(c for c in RUN_COUNTERS if c != "bytes")
COUNTER_HEADINGS = {"not_modified": "304"}


def print_runs(runs: dict[str, CrawlRun], sites: tuple[Site, ...], out: IO[str]) -> None:
    table = Table(title="crawl summary")
    headings = [COUNTER_HEADINGS.get(c, c) for c in TABLE_COUNTERS]
    for column in ("site", "status", *headings, "seconds", "reason"):
        table.add_column(column)
    for site in sites:
        run = runs.get(site.id)
        if run is None:
            table.add_row(site.id, "not run", *[""] * (len(headings) + 2))
            continue
        counters = run.counters()
        table.add_row(
            site.id,
            run.status,
            *(str(counters[c]) for c in TABLE_COUNTERS),
            f"{run.duration or 0:.1f}",
            run.reason or "",
        )
    Console(file=out, width=160).print(table)


def cmd_crawl(args: argparse.Namespace) -> int:
    """Crawl now (selected sites or all), store, publish; exit 1 when any site failed."""
    from feeds.websub import ping_hub

    if not args.quiet and not args.verbose:  # this command's INFO lines go with Scrapy's
        logging.getLogger().setLevel(logging.WARNING)
    config = load_config(args)
    registry = load_sites(config.sites_file)
    sites = select_sites(registry, args.site)
    migrate_store(config.database_url)
    if not args.queue_only:  # the alerts this crawl queues go to whom the file names today
        with Store(config.database_url, migrate=False) as store:
            sync_targets(store, config)
    runs = _crawl(sites, config, args)
    if config.server.websub_hub and any(r.new or r.updated for r in runs.values()):
        import httpx

        from feeds.catalog import feed_url

        with httpx.Client(timeout=httpx.Timeout(10.0)) as client:
            ping_hub(client, config.server.websub_hub, [feed_url(config.server.base_url, "atom")])
    if not args.quiet:
        print_runs(runs, sites, sys.stdout)
    if not args.queue_only:
        send_alerts(config, registry, quiet=args.quiet)
    failed = [s.id for s in sites if s.id not in runs or runs[s.id].status not in ("ok", "skipped")]
    return 1 if failed else 0


def _crawl(
    sites: tuple[Site, ...], config: ServiceConfig, args: argparse.Namespace
) -> dict[str, CrawlRun]:
    """The crawl, watched by the live display on a terminal or a line per site elsewhere.

    Scrapy's INFO log (versions, component lists, stats dumps) only with -v: a user watching
    a backfill wants its progress, and the warnings and errors, one line each.
    """
    from crawler.run import crawl_sites

    overrides = crawl_overrides(config, max_pages=args.max_pages)
    level = "INFO" if args.verbose else "WARNING"
    if args.quiet:  # the service's own crawls: its log, no display
        return crawl_sites(sites, overrides, log_level="WARNING")
    with crawl_display(sys.stdout, len(sites)) as display:
        return crawl_sites(sites, overrides, log_level=level, observer=display)


def send_alerts(config: ServiceConfig, sites: tuple[Site, ...], *, quiet: bool) -> None:
    """The crawl's alerts, sent within a short budget; what fails or is left waits (the
    service's sender retries it). Never raises: the crawl's exit code is the crawl's."""
    with Store(config.database_url, migrate=False) as store:
        report, left = drain_after_crawl(store, config, sites)
    sent = report.sent if report else 0
    line = f"alerts: {sent} sent, {left['now']} waiting to be sent"
    if left["digest"]:
        line += f", {left['digest']} in digests to come"
    if not quiet:
        print(line)
    logger.info("%s", line)


def cmd_clean(args: argparse.Namespace) -> int:
    from crawler.boilerplate.clean import run_clean

    return run_clean(list(args.files), args.out, sys.stdout, sys.stderr)


def iter_releases(store: Store, query: ReleaseQuery, batch: int = 200) -> Iterator[StoredRelease]:
    offset = 0
    while True:
        page = store.query_releases(query, limit=batch, offset=offset)
        yield from page
        if len(page) < batch:
            return
        offset += batch


def export_record(release: StoredRelease) -> dict[str, Any]:
    record = {name: getattr(release, name) for name in EXPORT_FIELDS}
    for name in ("published", "first_seen", "updated"):
        record[name] = record[name].isoformat() if record[name] else None
    return record


def _csv_cell(value: Any) -> Any:
    return json.dumps(value, ensure_ascii=False) if isinstance(value, list | dict) else value


def write_records(records: Iterable[dict[str, Any]], fmt: str, out: IO[str]) -> None:
    """Records as JSON lines, or as CSV with list and mapping cells in JSON."""
    if fmt == "jsonl":
        for record in records:
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
        return
    writer = csv.DictWriter(out, fieldnames=EXPORT_FIELDS)
    writer.writeheader()
    for record in records:
        writer.writerow({k: _csv_cell(v) for k, v in record.items()})


def _output(path: Path | None) -> AbstractContextManager[IO[str]]:
    """The file to write, or stdout (left open) when none is given."""
    if path is None:
        return nullcontext(sys.stdout)
    return path.open("w", encoding="utf-8", newline="")


def cmd_export(args: argparse.Namespace) -> int:
    """Every stored release matching the filters, as JSON lines or CSV."""
    config = load_config(args)
    query = ReleaseQuery.from_mapping(
        {k: getattr(args, k) for k in ReleaseQuery.__dataclass_fields__}
    )
    with Store(config.database_url) as store, _output(args.out) as out:
        records = (export_record(r) for r in iter_releases(store, query))
        write_records(records, args.format, out)
    return 0


def cmd_feeds(args: argparse.Namespace) -> int:
    """Static export of every feed to the `--out` folder."""
    from feeds.export import export_feeds

    config = load_config(args)
    sites = load_sites(config.sites_file)
    with Store(config.database_url) as store:
        written = export_feeds(store, sites, args.out, config.server.base_url)
    print(f"wrote {len(written)} files to {args.out}")
    return 0


def cmd_sites(args: argparse.Namespace) -> int:
    config = load_config(args)
    table = Table(title=f"sites ({config.sites_file or 'bundled registry'})")
    for column in ("id", "base_url", "country", "region", "languages"):
        table.add_column(column)
    sites = load_sites(config.sites_file)
    for s in sites:
        table.add_row(s.id, s.base_url, s.country or "", s.region or "", ", ".join(s.languages))
    Console(width=160).print(table)
    print(f"{len(sites)} sites")
    return 0


def cmd_templates(args: argparse.Namespace) -> int:
    """Rebuild the learned boilerplate template of the selected sites (all by default)."""
    from crawler.boilerplate.rebuild import rebuild_template

    config = load_config(args)
    sites = select_sites(load_sites(config.sites_file), args.site)
    with Store(config.database_url) as store:
        for site in sites:
            pages, changed = rebuild_template(store, site.id)
            print(f"{site.id}: template rebuilt from {pages} pages; {changed} bodies re-cleaned")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    """Per site: last run, next run, new releases, errors, backoff, publication latency."""
    from scheduler.status_table import collect_rows, fetch_service_status, print_status

    config = load_config(args)
    sites = load_sites(config.sites_file)
    service = None
    if args.url:
        import httpx

        try:
            service = fetch_service_status(args.url)
        except (httpx.HTTPError, ValueError) as exc:  # ValueError: not JSON
            print(f"iomwatch: {args.url}/status: {exc}; next runs estimated", file=sys.stderr)
    with Store(config.database_url) as store:
        rows = collect_rows(store, [s.id for s in sites], config.crawl, service=service)
        print_status(rows, config.crawl, sys.stdout)
        print(f"{store.release_count()} releases stored")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    if args.role == "all":  # the single-process service does not import the task engine
        from scheduler.service import run_service

        return run_service(load_config(args))
    from scheduler.roles import run_role

    return run_role(load_config(args), args.role)


def cmd_worker(args: argparse.Namespace) -> int:
    """`iomwatch worker`: `run --role worker`."""
    return cmd_run(args)


def cmd_demo(args: argparse.Namespace) -> int:
    from scheduler.demo import DemoOptions, run_demo

    # The demo writes its own configuration; the user's (IOMWATCH_CONFIG) gives it the user agent.
    config = ServiceConfig.from_env()
    options = DemoOptions(
        port=args.port,
        data_dir=args.data_dir,
        once=args.once,
        interval_seconds=args.interval,
        publish_every=args.publish_every,
    )
    return run_demo(config, options)
