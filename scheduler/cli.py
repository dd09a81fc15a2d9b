"""The `iomwatch` command line: run, crawl, clean, export, feeds, sites, status, demo,
subscribers, webhooks."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from crawler.exceptions import CrawlerError
from crawler.store.records import FILTER_KEYS, SUBSCRIBER_MODES
from scheduler import alert_commands, commands
from scheduler.config import ROLES
from scheduler.exceptions import SchedulerError

if TYPE_CHECKING:
    from collections.abc import Callable

    Handler = Callable[[argparse.Namespace], int]
    Commands = argparse._SubParsersAction[argparse.ArgumentParser]

logger = logging.getLogger("iomwatch")


def _config_option() -> argparse.ArgumentParser:
    """`--config FILE`, shared by every command that reads the service configuration."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument(
        "--config", metavar="FILE", help="TOML configuration (default: $IOMWATCH_CONFIG)"
    )
    return parent


def _site_option() -> argparse.ArgumentParser:
    """`--site ID`, shared by the commands that work on some sites of the registry."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument(
        "--site", metavar="ID", action="append", default=[], help="a site (repeatable; default all)"
    )
    return parent


def _filter_options() -> argparse.ArgumentParser:
    """The release filters (`--site`, `--country`, ..., `--q`), as the feeds take them."""
    parent = argparse.ArgumentParser(add_help=False)
    for key in FILTER_KEYS:
        parent.add_argument(
            f"--{key}", action="append", default=[], help=f"filter on {key} (repeatable)"
        )
    return parent


def _command(
    group: Commands, name: str, handler: Handler, help_text: str, *parents: argparse.ArgumentParser
) -> argparse.ArgumentParser:
    """A sub-command whose handler is named here, where a reader (or an IDE) can follow it."""
    parser = group.add_parser(name, help=help_text, description=help_text, parents=list(parents))
    parser.set_defaults(func=handler)
    return parser


def _add_service_commands(sub: Commands, config: argparse.ArgumentParser) -> None:
    run = _command(sub, "run", commands.cmd_run, "the service: schedule + HTTP server", config)
    run.add_argument(
        "--role",
        choices=ROLES,
        default="all",
        help="all (default): everything in one process tree; web, scheduler, worker: the"
        " processes of a deployment spread over machines sharing one PostgreSQL database",
    )
    worker = _command(
        sub, "worker", commands.cmd_worker, "= run --role worker: crawl and alert jobs", config
    )
    worker.set_defaults(role="worker")
    crawl = _command(
        sub,
        "crawl",
        commands.cmd_crawl,
        "crawl now, store, publish; per-site summary",
        config,
        _site_option(),
    )
    crawl.add_argument("--max-pages", type=int, metavar="N")
    crawl.add_argument(
        "--quiet", action="store_true", help="no per-site table (used by the service)"
    )
    crawl.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=argparse.SUPPRESS,  # absent: `iomwatch -v crawl` still counts
        help="Scrapy's INFO log too (versions, components, stats)",
    )
    crawl.add_argument(
        "--queue-only",
        action="store_true",
        help="queue alerts only, leave sending them to a running service or worker",
    )
    demo = _command(sub, "demo", commands.cmd_demo, "local replica IOM sites + the whole service")
    demo.add_argument("--port", type=int, default=8080)
    demo.add_argument("--data-dir", type=Path, metavar="DIR", default=Path("./data/demo"))
    demo.add_argument("--once", action="store_true", help="crawl once, print the summary, exit")
    demo.add_argument(
        "--interval", type=float, default=60.0, metavar="SECONDS", help="crawl every (default 60)"
    )
    demo.add_argument(
        "--publish-every",
        type=float,
        default=120.0,
        metavar="SECONDS",
        help="the replica publishes a release this often, after the first crawls (default 120)",
    )


def _add_output_commands(sub: Commands, config: argparse.ArgumentParser) -> None:
    export = _command(
        sub,
        "export",
        commands.cmd_export,
        "every stored release as jsonl or csv",
        config,
        _filter_options(),
    )
    export.add_argument("--format", choices=["jsonl", "csv"], default="jsonl")
    export.add_argument("--out", type=Path, metavar="FILE", help="file to write (default stdout)")
    feeds = sub.add_parser("feeds", help="feed commands").add_subparsers(
        dest="feeds_command", required=True
    )
    build = _command(
        feeds, "build", commands.cmd_feeds, "static export of every feed to a folder", config
    )
    build.add_argument("--out", type=Path, metavar="DIR", required=True)
    status = _command(
        sub,
        "status",
        commands.cmd_status,
        "per site: last and next run, new releases, errors, backoff, latency",
        config,
    )
    status.add_argument(
        "--url",
        metavar="URL",
        help="the running service (e.g. http://127.0.0.1:8080): next runs as it plans them",
    )


def _add_site_commands(sub: Commands, config: argparse.ArgumentParser) -> None:
    sites = sub.add_parser("sites", help="site registry").add_subparsers(
        dest="sites_command", required=True
    )
    _command(sites, "list", commands.cmd_sites, "list the configured sites", config)
    templates = sub.add_parser("templates", help="learned boilerplate templates").add_subparsers(
        dest="templates_command", required=True
    )
    _command(
        templates,
        "rebuild",
        commands.cmd_templates,
        "re-learn from stored pages, re-clean bodies",
        config,
        _site_option(),
    )
    clean = _command(
        sub, "clean", commands.cmd_clean, "boilerplate removal on saved pages (HTML or text)"
    )
    clean.add_argument("--out", type=Path, metavar="DIR", help="where to write (default stdout)")
    clean.add_argument("files", nargs="+", type=Path, metavar="FILE")


def _add_alert_commands(sub: Commands, config: argparse.ArgumentParser) -> None:
    subs = sub.add_parser("subscribers", help="email subscribers").add_subparsers(
        dest="subscribers_command", required=True
    )
    add = _command(
        subs,
        "add",
        alert_commands.cmd_subscribers_add,
        "add a subscriber (confirmed at once)",
        config,
        _filter_options(),
    )
    add.add_argument("email", metavar="EMAIL")
    add.add_argument("--mode", choices=SUBSCRIBER_MODES, default="instant")
    add.add_argument("--hour", type=int, default=8, help="digests: local hour 0-23 (default 8)")
    add.add_argument("--timezone", default="UTC", help="digests: IANA time zone (default UTC)")
    add.add_argument(
        "--prefer",
        metavar="LANG",
        action="append",
        default=[],
        help="language wanted of a release published in several (repeatable, in order)",
    )
    _command(subs, "list", alert_commands.cmd_subscribers_list, "list the subscribers", config)
    remove = _command(
        subs, "remove", alert_commands.cmd_subscribers_remove, "remove a subscriber", config
    )
    remove.add_argument("id", type=alert_commands.positive_id, metavar="ID")
    hooks = sub.add_parser("webhooks", help="webhooks").add_subparsers(
        dest="webhooks_command", required=True
    )
    _command(
        hooks, "list", alert_commands.cmd_webhooks_list, "the webhooks and their state", config
    )
    log = _command(
        hooks, "log", alert_commands.cmd_webhooks_log, "a webhook's delivery log", config
    )
    log.add_argument("id", type=alert_commands.positive_id, metavar="ID")
    log.add_argument("--limit", type=int, default=50, help="attempts shown (default 50)")
    replay = _command(
        hooks, "replay", alert_commands.cmd_webhooks_replay, "send deliveries again", config
    )
    replay.add_argument(
        "outbox_ids", type=alert_commands.positive_id, nargs="+", metavar="OUTBOX_ID"
    )
    enable = _command(
        hooks, "enable", alert_commands.cmd_webhooks_enable, "enable a disabled webhook", config
    )
    enable.add_argument("id", type=alert_commands.positive_id, metavar="ID")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="iomwatch", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)
    config = _config_option()
    _add_service_commands(sub, config)
    _add_output_commands(sub, config)
    _add_site_commands(sub, config)
    _add_alert_commands(sub, config)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # Libraries' start-up chatter stays out of a log that runs for months.
    for noisy in ("alembic", "apscheduler", "httpx", "procrastinate"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    handler: Handler = args.func
    try:
        return handler(args)
    except (SchedulerError, CrawlerError) as exc:
        print(f"iomwatch: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
