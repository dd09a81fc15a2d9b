"""A web replica whose PostgreSQL server goes away, then comes back (the real server, behind a
TCP relay this test can cut): 503 with Retry-After in each path's format, /healthz failing,
one log line and no traceback; served again once the database is back, the process never down.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from crawler.store import Store
from replica import ReplicaServer
from scheduler.roles import CLUSTER_REFRESH_SECONDS
from tests.conftest import PG_URL, pg_schema_url
from tests.helpers import ROOT, free_port, write_config
from tests.scheduler.test_service import wait_for

pytestmark = pytest.mark.postgres
PASSWORD = "s3cret-db-pw"


class Relay:
    """A loopback TCP relay to the PostgreSQL server that can be cut (listener and every live
    connection closed: what a database restart or a network cut looks like) and restored."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = free_port()
        self.sockets: list[socket.socket] = []
        self.lock = threading.Lock()
        self.listener: socket.socket | None = None

    def up(self) -> None:
        listener = socket.create_server(("127.0.0.1", self.port), reuse_port=False)
        self.listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        with self.lock:
            doomed, self.sockets = [*self.sockets, self.listener], []
            self.listener = None
        for sock in doomed:
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:  # cut
                return
            server = socket.create_connection(self.target)
            with self.lock:
                self.sockets += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)


@pytest.fixture
def relayed_url() -> Iterator[tuple[Relay, str]]:
    host_port = PG_URL.split("@", 1)[1].split("/", 1)[0]
    host, _, port = host_port.partition(":")
    relay = Relay((host, int(port or 5432)))
    relay.up()
    for url in pg_schema_url():
        with Store(url):  # migrated: the web role reads at once
            pass
        # a password (trust auth ignores it) that must never reach the log
        relayed = url.replace(f"@{host_port}/", f"@127.0.0.1:{relay.port}/")
        relayed = relayed.replace("://postgres@", f"://postgres:{PASSWORD}@")
        assert PASSWORD in relayed, "the test URL names no user 'postgres'"
        yield relay, relayed
    relay.cut()


def test_a_web_replica_answers_503_while_its_database_is_away_and_recovers(
    tmp_path: Path, relayed_url: tuple[Relay, str]
) -> None:
    relay, url = relayed_url
    port = free_port()
    with ReplicaServer(["mali"]) as replica:  # the web role only reads the sites file
        sites = replica.write_sites_file(tmp_path / "sites.toml")
    config = write_config(
        tmp_path / "config.toml",
        sites_file=sites,
        database_url=url,
        data_dir=tmp_path,
        extra=f'[server]\nport = {port}\nbase_url = "http://127.0.0.1:{port}"\n',
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("IOMWATCH_")}
    log_path = tmp_path / "web.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "scheduler", "run", "--role", "web", "--config", str(config)],
            cwd=ROOT,
            env=env,
            text=True,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, timeout=10) as http:
            wait_for(lambda: http.get("/healthz").status_code == 200, 60, "the web role")
            assert http.get("/feed.atom?lang=fr").status_code == 200
            relay.cut()
            # a view not served before: nothing cached can answer for the database
            away = {
                path: http.get(path)
                for path in ("/feed.atom?lang=es", "/api/releases?lang=es", "/?lang=es")
            }
            for path, response in away.items():
                assert response.status_code == 503, (path, response.status_code, response.text)
                assert response.headers["retry-after"] == "30", path
            assert away["/api/releases?lang=es"].json()["error"].startswith("The database")
            assert away["/feed.atom?lang=es"].text.startswith("503 Service Unavailable")
            assert "<html" in away["/?lang=es"].text.lower()
            wait_for(
                lambda: http.get("/healthz").status_code == 503,
                CLUSTER_REFRESH_SECONDS + 10,
                "/healthz to say the database is away",
            )
            assert http.get("/healthz").json()["problems"] == ["the database is unreachable"]
            assert proc.poll() is None  # the replica stays up
            relay.up()
            wait_for(
                lambda: http.get("/api/releases?lang=es").status_code == 200, 30, "served again"
            )
            wait_for(lambda: http.get("/healthz").status_code == 200, 30, "healthy again")
            assert http.get("/feed.atom?lang=es").status_code == 200
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=40)
    log_text = log_path.read_text()
    assert code == 0, log_text[-3000:]
    assert "Traceback" not in log_text, log_text[-3000:]
    # at most once a minute, with the count of requests answered meanwhile
    assert log_text.count("database unavailable (") == 1, log_text[-3000:]
    assert PASSWORD not in log_text
    assert "psycopg.pool" not in log_text  # its warning per reconnect attempt: -v only
