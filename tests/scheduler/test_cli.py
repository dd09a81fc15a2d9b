"""The `iomwatch` command line, run as a real process against the replica."""

from __future__ import annotations

import csv
import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import feedparser
import pytest

from crawler.store import ReleaseQuery, RunStats, Store
from replica import ReplicaServer
from scheduler.config import CrawlConfig
from scheduler.status_table import backoff_delay, duration
from tests.helpers import free_port, iomwatch, write_config


@pytest.fixture(scope="module")
def crawled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, ReplicaServer, str]]:
    """One crawl of two replica sites, shared by the read-only command tests."""
    tmp = tmp_path_factory.mktemp("cli")
    replica = ReplicaServer(sites=["mena", "colombia"])
    replica.start()
    db = f"sqlite:///{tmp / 'iomwatch.db'}"
    config = write_config(
        tmp / "config.toml",
        sites_file=replica.write_sites_file(tmp / "sites.toml"),
        database_url=db,
        data_dir=tmp,
    )
    result = iomwatch("crawl", "--config", str(config))
    assert result.returncode == 0, result.stderr[-2000:]
    yield config, replica, db
    replica.stop()


def test_export_jsonl_has_the_spec_fields(crawled: tuple[Path, ReplicaServer, str]) -> None:
    config, replica, _ = crawled
    result = iomwatch("export", "--config", str(config), "--lang", "ar")
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(records) == len([r for r in replica.releases() if r.lang == "ar"])
    for record in records:
        for key in (
            "id",
            "url",
            "site",
            "country",
            "lang",
            "type",
            "title",
            "published",
            "first_seen",
            "updated",
            "body_text",
            "summary",
            "translations",
        ):
            assert key in record
        assert record["lang"] == "ar" and record["body_text"]
        assert record["published"][:4].isdigit() and "T" in record["published"]


def test_export_csv_and_keyword_filter(
    crawled: tuple[Path, ReplicaServer, str], tmp_path: Path
) -> None:
    config, _, _ = crawled
    out = tmp_path / "out.csv"
    result = iomwatch(
        "export",
        "--config",
        str(config),
        "--format",
        "csv",
        "--site",
        "colombia",
        "--out",
        str(out),
    )
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert rows and {r["site"] for r in rows} == {"colombia"}
    word = rows[0]["title"].split()[-1]
    hits = iomwatch("export", "--config", str(config), "--q", word).stdout.splitlines()
    assert any(json.loads(h)["id"] == rows[0]["id"] for h in hits)


def test_sites_list_and_status(crawled: tuple[Path, ReplicaServer, str]) -> None:
    config, _, _ = crawled
    listed = iomwatch("sites", "list", "--config", str(config))
    assert listed.returncode == 0 and "mena" in listed.stdout and "2 sites" in listed.stdout
    status = iomwatch("status", "--config", str(config))
    assert status.returncode == 0 and "colombia" in status.stdout and "ok" in status.stdout


def test_feeds_build_writes_parseable_feeds(
    crawled: tuple[Path, ReplicaServer, str], tmp_path: Path
) -> None:
    config, _, db = crawled
    result = iomwatch("feeds", "build", "--config", str(config), "--out", str(tmp_path / "feeds"))
    assert result.returncode == 0, result.stderr
    atom = next((tmp_path / "feeds").glob("*.atom"))
    parsed = feedparser.parse(atom.read_bytes())
    assert parsed.bozo == 0 and parsed.entries
    assert Store(db, migrate=False).release_count() >= len(parsed.entries)


def test_bundled_registry_is_listed() -> None:
    result = iomwatch("sites", "list", env={"IOMWATCH_DATA_DIR": "/tmp/iomwatch-cli-test"})
    assert result.returncode == 0
    assert "mali.iom.int" in result.stdout


def test_bad_config_stops_with_a_message_naming_the_key(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[crawl]\ninterval = 5\n")
    result = iomwatch("crawl", "--config", str(bad))
    assert result.returncode == 2
    assert "interval" in result.stderr and str(bad) in result.stderr
    assert "Traceback" not in result.stderr


def test_clean_on_text_files(tmp_path: Path) -> None:
    menu = [
        "-",
        "Who We Are",
        "WHO WE AREThe agency is part of the UN system.",
        "About",
        "About",
        "- 2030 Agenda",
    ]
    for index in range(3):
        body = [f"Release number {index} title", f"Juba – Paragraph {index} of the release."]
        (tmp_path / f"p{index}.txt").write_text("\n".join(menu + body), encoding="utf-8")
    out = tmp_path / "out"
    result = iomwatch(
        "clean", "--out", str(out), *[str(p) for p in sorted(tmp_path.glob("p*.txt"))]
    )
    assert result.returncode == 0, result.stderr
    assert (out / "p1.txt").read_text(
        encoding="utf-8"
    ) == "Release number 1 title\nJuba – Paragraph 1 of the release."


def test_demo_once_crawls_the_replica(tmp_path: Path) -> None:
    result = iomwatch("demo", "--once", "--data-dir", str(tmp_path / "demo"), timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "replica IOM sites" in result.stdout and "crawl summary" in result.stdout
    assert (
        Store(f"sqlite:///{tmp_path / 'demo' / 'iomwatch.db'}", migrate=False).release_count() > 50
    )


def test_templates_rebuild_keeps_bodies_and_sends_no_event(
    crawled: tuple[Path, ReplicaServer, str],
) -> None:
    config, _, db = crawled
    store = Store(db, migrate=False)
    events = len(store.events_since())
    before = {r.id: r.body_text for r in store.query_releases(ReleaseQuery(), limit=1000)}
    result = iomwatch("templates", "rebuild", "--config", str(config), "--site", "mena")
    assert result.returncode == 0, result.stderr
    assert "mena: template rebuilt from" in result.stdout
    after = {r.id: r.body_text for r in store.query_releases(ReleaseQuery(), limit=1000)}
    assert after.keys() == before.keys() and all(after.values())
    assert len(store.events_since()) == events
    assert store.load_template("mena") is not None


STATUS_LINE = re.compile(r"^site=(\S+) last_run='([^']+)' status=(\w+) next_run='([^']+)' ")


def status_lines(stdout: str) -> dict[str, str]:
    return {m.group(1): line for line in stdout.splitlines() if (m := STATUS_LINE.match(line))}


def test_status_plain_lines_estimate_the_next_run(crawled: tuple[Path, ReplicaServer, str]) -> None:
    config, _, db = crawled
    result = iomwatch("status", "--config", str(config))
    assert result.returncode == 0, result.stderr
    lines = status_lines(result.stdout)
    assert set(lines) == {"mena", "colombia"}, result.stdout
    new = Store(db, migrate=False).runs("mena", limit=1)[0].new
    assert new > 0
    mena = lines["mena"]
    assert "status=ok" in mena and f"new_last/24h={new}/{new}" in mena
    # the interval is 30 minutes: "~" marks an estimate from the last run
    assert re.search(r"next_run='~\S+ \S+ \(in (29|30)m\)'", mena), mena
    assert "failing=- backoff=-" in mena and "latency_median/p90=" in mena


@contextmanager
def status_server(document: dict[str, object]) -> Iterator[str]:
    """A stand-in for the service's /status JSON (a real HTTP server on loopback)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps(document).encode()
            ok = self.path == "/status" and "application/json" in self.headers.get("accept", "")
            self.send_response(200 if ok else 406)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_status_reads_next_runs_from_the_service(crawled: tuple[Path, ReplicaServer, str]) -> None:
    config, _, _ = crawled
    with status_server({"next_run": {"mena": "2030-01-02T03:04:00+00:00"}}) as url:
        result = iomwatch("status", "--config", str(config), "--url", url)
    assert result.returncode == 0, result.stderr
    lines = status_lines(result.stdout)
    assert "next_run='2030-01-02 03:04 (in " in lines["mena"]  # the service's, no "~"
    assert "next_run='~" in lines["colombia"]  # not in the service's answer: estimated
    down = iomwatch("status", "--config", str(config), "--url", f"http://127.0.0.1:{free_port()}")
    assert down.returncode == 0 and "next runs estimated" in down.stderr
    assert all("next_run='~" in line for line in status_lines(down.stdout).values())


def test_status_shows_failures_in_a_row_and_the_backoff(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'iomwatch.db'}"
    sites = tmp_path / "sites.toml"
    sites.write_text(
        '[[site]]\nid = "flaky"\nname = "Flaky"\nbase_url = "http://127.0.0.1:9"\n'
        'languages = ["en"]\nnews_paths = ["/news"]\n'
    )
    config = write_config(
        tmp_path / "config.toml", sites_file=sites, database_url=db, data_dir=tmp_path
    )
    with Store(db) as store:
        store.finish_run(store.start_run("flaky"), RunStats(pages=3, new=2), status="ok")
        for _ in range(3):
            store.finish_run(
                store.start_run("flaky"), RunStats(errors=1), status="failed", reason="down"
            )
    result = iomwatch("status", "--config", str(config))
    assert result.returncode == 0, result.stderr
    line = status_lines(result.stdout)["flaky"]
    # 30-minute interval, third failure in a row: 30 x 2^2 = 2 h before the next try
    assert "status=failed" in line and "failing=3 backoff=2h00m" in line, line
    # 2 h after the last failure, less the seconds since (rounded to the minute either way)
    assert re.search(r"next_run='~\S+ \S+ \(in (1h59m|2h00m)\)'", line), line
    assert "new_last/24h=0/2" in line and "errors=1" in line


def test_backoff_grows_to_its_cap() -> None:
    crawl = CrawlConfig(interval_minutes=30, backoff_max_minutes=360)
    delays = [backoff_delay(crawl, n).total_seconds() / 60 for n in range(0, 7)]
    assert delays == [30, 30, 60, 120, 240, 360, 360]
    assert backoff_delay(CrawlConfig(backoff_max_minutes=0), 9).total_seconds() == 1800
    assert backoff_delay(crawl, 10_000).total_seconds() == 360 * 60
    assert duration(59.6) == "1m" and duration(3 * 86400 + 7200) == "3d02h"
