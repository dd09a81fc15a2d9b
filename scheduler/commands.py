"""The handlers of the `iomwatch` sub-commands; each returns the exit code."""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import IO, Any

from rich.console import Console
from rich.table import Table

from crawler.sites import Site, load_sites, select_sites
from crawler.store import RUN_COUNTERS, CrawlRun, ReleaseQuery, Store, StoredRelease
from scheduler.config import ServiceConfig

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
    return ServiceConfig.from_env(getattr(args, "config", None))


def crawl_overrides(config: ServiceConfig, *, max_pages: int | None = None) -> dict[str, Any]:
    """Scrapy settings for a crawl, from the service configuration."""
    from crawler.settings import crawl_settings

    crawl = config.crawl
    return crawl_settings(
        database_url=config.database_url,
        user_agent=crawl.user_agent,
        max_backfill_pages=max_pages or crawl.max_backfill_pages,
        max_pages=max_pages or crawl.max_pages,
        download_timeout=crawl.download_timeout,
        download_delay=crawl.download_delay,
        concurrent_per_host=crawl.concurrent_per_host,
        obey_robots=crawl.obey_robots,
        emit_updates=crawl.emit_updates,
        timeout_seconds=crawl.timeout_seconds,
        recheck_days=crawl.recheck_days,
        recheck_hours=crawl.recheck_hours,
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
    from crawler.run import crawl_sites
    from feeds.websub import ping_hub

    config = load_config(args)
    sites = select_sites(load_sites(config.sites_file or None), args.site)
    Store(config.database_url).close()  # migrate once, before the spiders open it concurrently
    runs = crawl_sites(
        sites,
        crawl_overrides(config, max_pages=args.max_pages),
        log_level="WARNING" if args.quiet else "INFO",
    )
    if config.server.websub_hub and any(r.new or r.updated for r in runs.values()):
        import httpx

        with httpx.Client(timeout=httpx.Timeout(10.0)) as client:
            ping_hub(
                client,
                config.server.websub_hub,
                [config.server.base_url.rstrip("/") + "/feed.atom"],
            )
    if not args.quiet:
        print_runs(runs, sites, sys.stdout)
    failed = [s.id for s in sites if s.id not in runs or runs[s.id].status != "ok"]
    return 1 if failed else 0


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


def cmd_export(args: argparse.Namespace) -> int:
    """Every stored release matching the filters, as JSON lines or CSV."""
    config = load_config(args)
    store = Store(config.database_url)
    query = ReleaseQuery.from_mapping(
        {k: getattr(args, k) for k in ReleaseQuery.__dataclass_fields__}
    )
    out = args.out.open("w", encoding="utf-8", newline="") if args.out else sys.stdout
    try:
        writer = csv.DictWriter(out, fieldnames=EXPORT_FIELDS) if args.format == "csv" else None
        if writer:
            writer.writeheader()
        for release in iter_releases(store, query):
            record = export_record(release)
            if writer:
                writer.writerow(
                    {
                        k: json.dumps(v, ensure_ascii=False) if isinstance(v, list | dict) else v
                        for k, v in record.items()
                    }
                )
            else:
                out.write(json.dumps(record, ensure_ascii=False) + "\n")
    finally:
        if args.out:
            out.close()
        store.close()
    return 0


def cmd_feeds(args: argparse.Namespace) -> int:
    from feeds.export import export_feeds

    config = load_config(args)
    store = Store(config.database_url)
    try:
        written = export_feeds(
            store, load_sites(config.sites_file or None), args.out, config.server.base_url
        )
    finally:
        store.close()
    print(f"wrote {len(written)} files to {args.out}")
    return 0


def cmd_sites(args: argparse.Namespace) -> int:
    config = load_config(args)
    table = Table(title=f"sites ({config.sites_file or 'bundled registry'})")
    for column in ("id", "base_url", "country", "region", "languages"):
        table.add_column(column)
    sites = load_sites(config.sites_file or None)
    for s in sites:
        table.add_row(s.id, s.base_url, s.country or "", s.region or "", ", ".join(s.languages))
    Console(width=160).print(table)
    print(f"{len(sites)} sites")
    return 0


def cmd_templates(args: argparse.Namespace) -> int:
    """Rebuild the learned boilerplate template of the selected sites (all by default)."""
    from crawler.boilerplate.rebuild import rebuild_template

    config = load_config(args)
    store = Store(config.database_url)
    try:
        for site in select_sites(load_sites(config.sites_file or None), args.site):
            pages, changed = rebuild_template(store, site.id)
            print(f"{site.id}: template rebuilt from {pages} pages; {changed} bodies re-cleaned")
    finally:
        store.close()
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    config = load_config(args)
    store = Store(config.database_url)
    try:
        sites = load_sites(config.sites_file or None)
        from crawler.run import latest_runs

        print_runs(latest_runs(store, [s.id for s in sites]), sites, sys.stdout)
        print(f"{store.release_count()} releases stored")
    finally:
        store.close()
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from scheduler.service import run_service

    return run_service(load_config(args), config_path=args.config)


def cmd_demo(args: argparse.Namespace) -> int:
    from scheduler.demo import run_demo

    config = load_config(args)
    config = replace(config, data_dir=str(args.data_dir), database=replace(config.database, url=""))
    return run_demo(config, port=args.port, once=args.once, data_dir=Path(args.data_dir))
