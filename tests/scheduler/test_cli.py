"""The `iomwatch` command line, run as a real process against the replica."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path

import feedparser
import pytest

from crawler.store import ReleaseQuery, Store
from replica import ReplicaServer
from tests.helpers import iomwatch, write_config


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
