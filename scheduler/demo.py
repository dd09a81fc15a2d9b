"""`iomwatch demo`: local replica IOM sites on 127.0.0.1 and the whole service against them.

Nothing touches the internet: the replica serves several IOM-like sites, the service crawls
them every minute, and a new release is published on the replica every two minutes so the
feeds visibly stay current.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from scheduler.config import ServiceConfig

if TYPE_CHECKING:
    from replica import ReplicaServer

logger = logging.getLogger(__name__)
PUBLISH_EVERY_SECONDS = 120.0


def demo_config_text(config: ServiceConfig, sites_file: Path, port: int, data_dir: Path) -> str:
    """A config file for the demo (the crawl children read it too)."""
    return "\n".join(
        [
            f'sites_file = "{sites_file}"',
            f'data_dir = "{data_dir}"',
            "[server]",
            'host = "127.0.0.1"',
            f"port = {port}",
            f'base_url = "http://127.0.0.1:{port}"',
            "[crawl]",
            "interval_minutes = 1",
            "jitter_seconds = 5",
            "download_delay = 0",
            "max_backfill_pages = 5",
            f'user_agent = "{config.crawl.user_agent}"',
            "",
        ]
    )


def _publisher(server: ReplicaServer, stop: threading.Event) -> None:
    """Publishes one new release on a replica site every couple of minutes."""
    count = 0
    site_ids = server.site_ids
    while not stop.wait(PUBLISH_EVERY_SECONDS):
        site_id = site_ids[count % len(site_ids)]
        release = server.publish(site_id)
        logger.info("demo: published %s on replica site %s", release.url, site_id)
        count += 1


def run_demo(config: ServiceConfig, *, port: int, once: bool, data_dir: Path) -> int:
    from replica import ReplicaServer

    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    replica = ReplicaServer()
    replica.start()
    sites_file = replica.write_sites_file(data_dir / "replica-sites.toml")
    config_file = data_dir / "demo-config.toml"
    config_file.write_text(demo_config_text(config, sites_file, port, data_dir), encoding="utf-8")
    print(f"replica IOM sites: {', '.join(f'{s} {replica.base_url(s)}' for s in replica.site_ids)}")
    stop = threading.Event()
    try:
        demo = ServiceConfig.from_env(str(config_file))
        if once:
            return _crawl_once(demo)
        threading.Thread(target=_publisher, args=(replica, stop), daemon=True).start()
        print(f"iomwatch demo: open http://127.0.0.1:{port}/ (feeds at /feed.atom); Ctrl-C stops")
        from scheduler.service import run_service

        return run_service(demo, config_path=str(config_file))
    finally:
        stop.set()
        replica.stop()


def _crawl_once(config: ServiceConfig) -> int:
    import sys

    from crawler.run import crawl_sites
    from crawler.sites import load_sites
    from scheduler.commands import crawl_overrides, migrate_store, print_runs

    sites = load_sites(config.sites_file)
    migrate_store(config.database_url)
    runs = crawl_sites(sites, crawl_overrides(config), log_level="WARNING")
    print_runs(runs, sites, sys.stdout)
    return 0 if all(r.status == "ok" for r in runs.values()) else 1
