"""The `iomwatch` command line: run, crawl, clean, export, feeds, sites, status, demo."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from crawler.exceptions import CrawlerError
from crawler.store.records import FILTER_KEYS
from scheduler.exceptions import SchedulerError

logger = logging.getLogger("iomwatch")


def _add_filters(parser: argparse.ArgumentParser) -> None:
    for key in FILTER_KEYS:
        parser.add_argument(
            f"--{key}", action="append", default=[], help=f"filter on {key} (repeatable)"
        )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="iomwatch", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="the service: schedule + HTTP server")
    run.add_argument("--config")
    crawl = sub.add_parser("crawl", help="crawl now, store, publish; per-site summary")
    crawl.add_argument("--config")
    crawl.add_argument("--site", action="append", default=[])
    crawl.add_argument("--max-pages", type=int)
    crawl.add_argument(
        "--quiet", action="store_true", help="no per-site table (used by the service)"
    )
    clean = sub.add_parser("clean", help="boilerplate removal on saved pages (HTML or text)")
    clean.add_argument("--out", type=Path)
    clean.add_argument("files", nargs="+", type=Path)
    export = sub.add_parser("export", help="every stored release as jsonl or csv")
    export.add_argument("--config")
    export.add_argument("--format", choices=["jsonl", "csv"], default="jsonl")
    export.add_argument("--out", type=Path, help="file to write (default stdout)")
    _add_filters(export)
    feeds = sub.add_parser("feeds", help="feed commands")
    feeds_sub = feeds.add_subparsers(dest="feeds_command", required=True)
    build = feeds_sub.add_parser("build", help="static export of every feed to a folder")
    build.add_argument("--config")
    build.add_argument("--out", type=Path, required=True)
    sites = sub.add_parser("sites", help="site registry")
    sites_sub = sites.add_subparsers(dest="sites_command", required=True)
    sites_list = sites_sub.add_parser("list", help="list the configured sites")
    sites_list.add_argument("--config")
    templates = sub.add_parser("templates", help="learned boilerplate templates")
    templates_sub = templates.add_subparsers(dest="templates_command", required=True)
    rebuild = templates_sub.add_parser(
        "rebuild", help="re-learn from stored pages, re-clean bodies"
    )
    rebuild.add_argument("--config")
    rebuild.add_argument("--site", action="append", default=[])
    status = sub.add_parser("status", help="per-site crawl history")
    status.add_argument("--config")
    demo = sub.add_parser("demo", help="local replica IOM sites + the whole service")
    demo.add_argument("--port", type=int, default=8080)
    demo.add_argument("--data-dir", type=Path, default=Path("./data/demo"))
    demo.add_argument("--once", action="store_true", help="crawl once, print the summary, exit")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # Libraries' start-up chatter stays out of a log that runs for months.
    for noisy in ("alembic", "apscheduler", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    from scheduler import commands

    handler = getattr(commands, f"cmd_{args.command}")
    try:
        return int(handler(args))
    except (SchedulerError, CrawlerError) as exc:
        print(f"iomwatch: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
