"""`iomwatch demo`: the whole service against local replica IOM sites, with somewhere for
its alerts to land, so a newcomer sees feeds, mail and webhooks work in one command, offline.

    replica sites (127.0.0.1)  <- crawled every minute by the service (feeds on --port)
    a local mailbox (aiosmtpd) <- mail to the demo subscriber, kept as data_dir/mailbox/*.eml
    a webhook receiver         <- the demo webhook's deliveries, kept as data_dir/webhooks/*.json
    /demo/mailbox              <- a page on the receiver listing both

The first crawl of each site is its backfill and alerts nobody (backfill window 0); once
every site has been crawled once, the replica publishes a new release, then one every
couple of minutes, and each goes crawl -> feed -> mail and webhook while you watch.
"""

from __future__ import annotations

import dataclasses
import logging
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING

from scheduler.config import ServiceConfig

if TYPE_CHECKING:
    from replica import ReplicaServer

logger = logging.getLogger(__name__)
PUBLISH_EVERY_SECONDS = 120.0
INTERVAL_SECONDS = 60.0
FIRST_CRAWLS_WAIT = 600.0  # publish anyway after this, should a first crawl never end
SUBSCRIBER = "newcomer@example.org"


@dataclass(frozen=True)
class DemoOptions:
    port: int
    data_dir: Path
    once: bool = False
    interval_seconds: float = INTERVAL_SECONDS
    publish_every: float = PUBLISH_EVERY_SECONDS


@dataclass(frozen=True)
class Sinks:
    """Where the demo's alerts go (addresses written into its configuration)."""

    smtp_port: int
    hook_url: str
    hook_secret: str


def demo_config_text(
    config: ServiceConfig,
    sites_file: Path,
    options: DemoOptions,
    sinks: Sinks | None = None,
) -> str:
    """A config file for the demo (the crawl children read it too)."""
    port = options.port
    lines = [
        f'sites_file = "{sites_file}"',
        f'data_dir = "{options.data_dir}"',
        "[server]",
        'host = "127.0.0.1"',
        f"port = {port}",
        f'base_url = "http://127.0.0.1:{port}"',
        "[crawl]",
        f"interval_minutes = {options.interval_seconds / 60:.4f}",
        "jitter_seconds = 0",
        "download_delay = 0",
        "max_backfill_pages = 5",
        f'user_agent = "{config.crawl.user_agent}"',
        "[alerts]",
        "backfill_window_hours = 0",  # the first crawls' old releases mail nobody
        "poll_seconds = 1",
    ]
    if sinks is not None:
        lines += [
            "[smtp]",
            'host = "127.0.0.1"',
            f"port = {sinks.smtp_port}",
            'from_addr = "iomwatch-demo@example.org"',
            "timeout_seconds = 5",
            "[[subscriber]]",
            f'email = "{SUBSCRIBER}"',
            'mode = "instant"',
            "[[webhook]]",
            f'url = "{sinks.hook_url}"',
            f'secret = "{sinks.hook_secret}"',
        ]
    return "\n".join([*lines, ""])


def first_crawls_done(database_url: str, site_ids: list[str]) -> bool:
    """Whether every replica site has finished one crawl (its backfill)."""
    from sqlalchemy.exc import SQLAlchemyError

    from crawler.exceptions import StoreError
    from crawler.store import Store

    try:
        with Store(database_url, migrate=False) as store:
            return all(any(run.finished for run in store.runs(site, limit=5)) for site in site_ids)
    except (StoreError, SQLAlchemyError):  # no tables yet: the service is still starting
        return False


def _publisher(
    server: ReplicaServer, database_url: str, every: float, stop: threading.Event, out: IO[str]
) -> None:
    """Once the first crawls are done, publishes one new release, then one every `every` s."""
    site_ids = server.site_ids
    waited = 0.0
    while not first_crawls_done(database_url, site_ids) and waited < FIRST_CRAWLS_WAIT:
        if stop.wait(1.0):
            return
        waited += 1.0
    count = 0
    while not stop.is_set():
        site_id = site_ids[count % len(site_ids)]
        release = server.publish(site_id)
        print(
            f"replica: published {release.title!r} on {site_id} ({release.url}); "
            "the next crawl puts it in /feed.atom, the mailbox and the webhook",
            file=out,
            flush=True,
        )
        count += 1
        if stop.wait(every):
            return


def run_demo(config: ServiceConfig, options: DemoOptions) -> int:
    from replica import ReplicaServer

    data_dir = options.data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    options = dataclasses.replace(options, data_dir=data_dir)
    replica = ReplicaServer()
    replica.start()
    sites_file = replica.write_sites_file(data_dir / "replica-sites.toml")
    config_file = data_dir / "demo-config.toml"
    print(f"replica IOM sites: {', '.join(f'{s} {replica.base_url(s)}' for s in replica.site_ids)}")
    try:
        if options.once:
            config_file.write_text(demo_config_text(config, sites_file, options), encoding="utf-8")
            return _crawl_once(ServiceConfig.from_env(str(config_file)))
        return _serve(config, replica, sites_file, config_file, options)
    finally:
        replica.stop()


def _serve(
    config: ServiceConfig,
    replica: ReplicaServer,
    sites_file: Path,
    config_file: Path,
    options: DemoOptions,
) -> int:
    """The mailbox, the receiver, the publisher and the service, until SIGTERM or Ctrl-C."""
    from scheduler.demo_sinks import MAILBOX_PAGE, HookReceiver, Mailbox, new_secret
    from scheduler.service import run_service

    data_dir = options.data_dir
    secret = new_secret()
    mailbox = Mailbox(data_dir / "mailbox", sys.stdout).start()
    receiver = HookReceiver(secret=secret, data_dir=data_dir, out=sys.stdout).start()
    stop = threading.Event()
    try:
        sinks = Sinks(mailbox.port, receiver.hook_url, secret)
        text = demo_config_text(config, sites_file, options, sinks)
        config_file.write_text(text, encoding="utf-8")
        demo = ServiceConfig.from_env(str(config_file))
        threading.Thread(
            target=_publisher,
            args=(replica, demo.database_url, options.publish_every, stop, sys.stdout),
            name="demo-publisher",
            daemon=True,
        ).start()
        _print_where(options.port, receiver.base_url + MAILBOX_PAGE, data_dir)
        return run_service(demo)
    finally:
        stop.set()
        receiver.stop()
        mailbox.stop()


def _print_where(port: int, mailbox_page: str, data_dir: Path) -> None:
    base = f"http://127.0.0.1:{port}"
    print(
        "\n".join(
            [
                "iomwatch demo is running; open:",
                f"  {base}/              the index of releases (filters, subscribe)",
                f"  {base}/feed.atom     the Atom feed (also /feed.rss, /feed.json)",
                f"  {base}/status        what the watcher knows of each site",
                f"  {mailbox_page}  the mails to {SUBSCRIBER} and the webhook deliveries",
                f"mails are kept in {data_dir / 'mailbox'}; Ctrl-C stops",
            ]
        ),
        flush=True,
    )


def _crawl_once(config: ServiceConfig) -> int:
    from crawler.run import crawl_sites
    from crawler.sites import load_sites
    from scheduler.commands import crawl_overrides, migrate_store, print_runs
    from scheduler.progress import crawl_display

    sites = load_sites(config.sites_file)
    migrate_store(config.database_url)
    with crawl_display(sys.stdout, len(sites)) as display:
        runs = crawl_sites(sites, crawl_overrides(config), log_level="WARNING", observer=display)
    print_runs(runs, sites, sys.stdout)
    return 0 if all(r.status == "ok" for r in runs.values()) else 1
