"""Fixtures shared by the crawl tests: a config file pointing at the module's replica sites.

Each module defines its own `replica` fixture (which sites it serves); `config` uses it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from crawler.store import Store
from replica import ReplicaServer
from tests.helpers import write_config


@pytest.fixture
def config(replica: ReplicaServer, sqlite_store: Store, tmp_path: Path) -> Path:
    """A service config for the replica's sites on the test's SQLite store."""
    return write_config(
        tmp_path / "config.toml",
        sites_file=replica.write_sites_file(tmp_path / "sites.toml"),
        database_url=sqlite_store.url,
        data_dir=tmp_path,
    )
