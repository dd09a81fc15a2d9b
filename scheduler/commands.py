"""The handlers of the `iomwatch` sub-commands; each returns the exit code."""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import sys
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, nullcontext
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
    return scrapy_settings(options, database_url=config.database_url)


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
    sites = select_sites(load_sites(config.sites_file), args.site)
    migrate_store(config.database_url)
    runs = crawl_sites(
        sites,
        crawl_overrides(config, max_pages=args.max_pages),
        log_level="WARNING" if args.quiet else "INFO",
    )
    if config.server.websub_hub and any(r.new or r.updated for r in runs.values()):
        import httpx

        from feeds.catalog import feed_url

        with httpx.Client(timeout=httpx.Timeout(10.0)) as client:
            ping_hub(client, config.server.websub_hub, [feed_url(config.server.base_url, "atom")])
    if not args.quiet:
        print_runs(runs, sites, sys.stdout)
    failed = [s.id for s in sites if s.id not in runs or runs[s.id].status not in ("ok", "skipped")]
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
    from crawler.run import latest_runs

    config = load_config(args)
    sites = load_sites(config.sites_file)
    with Store(config.database_url) as store:
        print_runs(latest_runs(store, [s.id for s in sites]), sites, sys.stdout)
        print(f"{store.release_count()} releases stored")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from scheduler.service import run_service

    return run_service(load_config(args), config_path=args.config)


def cmd_demo(args: argparse.Namespace) -> int:
    from scheduler.demo import run_demo

    # The demo writes its own configuration; the user's (IOMWATCH_CONFIG) gives it the user agent.
    config = ServiceConfig.from_env()
    return run_demo(config, port=args.port, once=args.once, data_dir=args.data_dir)
