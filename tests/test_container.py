"""The Dockerfile: hadolint-clean, and its CMD and HEALTHCHECK work outside a container; the lock
file it installs from pins what the tests run; compose.yaml's environment is real configuration;
/healthz reports the scheduler and the crawl worker.

The image itself, built and run (tini, SIGTERM, a release to /feed.atom and the mailbox), is
`make image-test` (docker/image_check.py): minutes of build on vfs storage, so not in `make test`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

import httpx
from packaging.requirements import Requirement

from feeds.health import health_view
from replica import ReplicaServer
from scheduler.cli import build_parser
from scheduler.config import ServiceConfig
from scheduler.healthcheck import healthy, role_of
from tests.helpers import ROOT, free_port

DOCKERFILE = ROOT / "Dockerfile"
LOCK = ROOT / "requirements.lock"


def instruction(name: str) -> str:
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    found = re.search(rf"^{name}\s+(.*)$", text, re.MULTILINE)
    assert found, f"no {name} in the Dockerfile"
    return found.group(1)


def image_env() -> dict[str, str]:
    pairs = re.findall(r"(\w+)=(\S+)", instruction("ENV"))
    return dict(pairs)


def test_hadolint_is_clean() -> None:
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    result = subprocess.run(
        [hadolint, str(DOCKERFILE)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_image_shape() -> None:
    # The base is an argument (a local debootstrap here), a public slim Python by default.
    assert instruction("ARG").startswith("BASE_IMAGE=python:3.11-slim")
    assert instruction("FROM") == "${BASE_IMAGE} AS build"
    assert json.loads(instruction("ENTRYPOINT")) == ["/usr/bin/tini", "--"], "tini is PID 1"
    assert instruction("STOPSIGNAL") == "SIGTERM"
    assert "--require-hashes" in instruction("RUN"), "dependencies come from the lock file"
    assert instruction("USER") not in {"root", "0"}
    assert "/data" in instruction("VOLUME")
    assert instruction("EXPOSE") == "8080"


def test_cmd_and_healthcheck_run_the_service(tmp_path: Path) -> None:
    cmd = json.loads(instruction("CMD"))
    health = json.loads(instruction("HEALTHCHECK").split("CMD", 1)[1].strip())
    port = str(free_port())
    replica = ReplicaServer(sites=["southsudan"])
    replica.start()
    env = {k: v for k, v in os.environ.items() if not k.startswith("IOMWATCH_")}
    env.update(image_env())
    env.update(
        {
            "PATH": f"{Path(sys.executable).parent}:{env['PATH']}",
            "IOMWATCH_DATA_DIR": str(tmp_path),
            "IOMWATCH_SERVER_HOST": "127.0.0.1",  # 0.0.0.0 in the image; loopback is enough here
            "IOMWATCH_SERVER_PORT": port,
            "IOMWATCH_SITES_FILE": str(replica.write_sites_file(tmp_path / "sites.toml")),
        }
    )
    health = [sys.executable if part == "python" else part for part in health]
    proc = subprocess.Popen(
        cmd, env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if subprocess.run(health, env=env, capture_output=True, check=False).returncode == 0:
                break
            time.sleep(0.3)
        else:
            raise AssertionError("HEALTHCHECK never passed")
        health = httpx.get(f"http://127.0.0.1:{port}/healthz").json()
        assert health["status"] == "ok", health
        assert health["scheduler"]["jobs"] == 1, "one crawl job per site of the sites file"
        assert health["scheduler"]["running"] is True, "the service reports its scheduler"
        assert (tmp_path / "iomwatch.db").exists(), "the data goes to IOMWATCH_DATA_DIR (/data)"
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=40)
        replica.stop()
    assert code == 0


def pins(text: str) -> dict[str, tuple[str, int]]:
    """name -> (version, number of hashes) of a `uv pip compile --generate-hashes` file."""
    found: dict[str, tuple[str, int]] = {}
    for block in re.split(r"\n(?=[A-Za-z0-9])", text):
        pin = re.match(r"([A-Za-z0-9_.-]+)==(\S+)", block)
        if pin:
            name = re.sub(r"[-_.]+", "-", pin.group(1)).lower()
            found[name] = (pin.group(2), block.count("--hash=sha256:"))
    return found


def test_lock_pins_every_dependency_with_hashes_at_the_tested_versions() -> None:
    locked = pins(LOCK.read_text())
    declared = [Requirement(r) for r in metadata.requires("iomwatch") or []]
    runtime = [r for r in declared if r.marker is None]
    assert len(runtime) > 20
    for req in runtime:
        name = re.sub(r"[-_.]+", "-", req.name).lower()
        assert name in locked, f"{req.name} is not in requirements.lock: run `make lock`"
        version, hashes = locked[name]
        assert req.specifier.contains(version), f"{req.name}=={version} outside {req.specifier}"
        assert hashes >= 1, f"{req.name} has no hash"
    # The image runs what the tests ran: every pin equals the version in this venv (but the
    # build backend, which the venv's editable install does not need at run time).
    differ = {
        name: (version, installed)
        for name, (version, _) in locked.items()
        if name not in {"setuptools", "wheel"} and (installed := metadata.version(name)) != version
    }
    assert not differ, f"lock != venv (locked, installed): {differ}"
    build = pins((ROOT / "docker" / "build.lock").read_text())
    assert {n: v for n, (v, _) in build.items()} == {n: locked[n][0] for n in build}


def compose_environment() -> dict[str, str]:
    """The roles' shared environment in compose.yaml, `${VAR:-default}` as the default."""
    text = (ROOT / "compose.yaml").read_text()
    block = text.split("x-iomwatch: &iomwatch\n", 1)[1].split("\nservices:\n", 1)[0]
    env = block.split("  environment:\n", 1)[1].split("  volumes:\n", 1)[0]
    pairs = re.findall(r"^    (IOMWATCH_\w+): (.*)$", env, re.MULTILINE)
    defaults = {k: re.sub(r"\$\{(\w+):[-?]([^}]*)\}", r"\2", v).strip('"') for k, v in pairs}
    return {k: v.replace("set POSTGRES_PASSWORD in .env", "secret") for k, v in defaults.items()}


def test_compose_environment_is_real_configuration() -> None:
    env = compose_environment()
    assert len(env) >= 8
    config = ServiceConfig.from_env(environ=env)  # an unknown key or bad value raises
    assert config.database_url.startswith("postgresql+psycopg://iomwatch:")
    assert config.database_url.endswith("@postgres:5432/iomwatch")
    assert config.smtp.security == "starttls"
    text = (ROOT / "compose.yaml").read_text()
    assert "postgres:16" in text and "iomwatch-data:/data" in text
    assert "postgres-data:/var/lib/postgresql/data" in text
    assert "stop_grace_period: 60s" in text, "the stop timeout make image-test uses"
    commands = re.findall(r"^    command: \[(.*)\]$", text, re.MULTILINE)
    roles = [build_parser().parse_args(json.loads(f"[{c}]")[1:]) for c in commands]
    assert [(args.command, args.role) for args in roles] == [
        ("run", "web"),
        ("run", "scheduler"),
        ("worker", "worker"),
    ]
    assert text.count("<<: *iomwatch") == 3, "every role shares the database and the config"


def test_healthz_fails_when_the_scheduler_or_the_worker_is_gone() -> None:
    code, body = health_view(lambda: {"scheduler_running": True, "worker_pid": 7, "running": []})
    assert (code, body["status"], body["worker"]["pid"]) == (200, "ok", 7)
    idle: dict[str, object] = {"scheduler_running": True, "worker_pid": None, "running": []}
    assert health_view(lambda: idle)[0] == 200, "no worker between crawls is normal"
    code, body = health_view(lambda: {"scheduler_running": False, "next_run": {"a": None}})
    assert code == 503 and body["problems"] == ["the scheduler is not running"]
    lost = {"scheduler_running": True, "worker_pid": None, "running": ["mali"]}
    code, body = health_view(lambda: lost)
    assert code == 503 and "no crawl worker is alive" in body["problems"][0]

    def broken() -> dict[str, object]:
        raise RuntimeError("scheduler state unreadable")

    code, body = health_view(broken)
    assert code == 503 and body["problems"] == ["status hook: RuntimeError"]
    assert health_view(None) == (200, {"status": "ok"}), "the bare app: only the loop"


def test_the_healthcheck_knows_each_role() -> None:
    """Under --network host, a worker asking 8080 would hear another container's web role."""
    tini = ["/usr/bin/tini", "--"]
    assert role_of([*tini, "/opt/iomwatch/bin/iomwatch", "run"]) == "all"
    assert role_of([*tini, "iomwatch", "run", "--role", "web"]) == "web"
    assert role_of([*tini, "iomwatch", "run", "--role=scheduler"]) == "scheduler"
    assert role_of([*tini, "iomwatch", "worker"]) == "worker"
    closed = str(free_port())  # nothing answers there
    assert healthy("worker", closed) and healthy("scheduler", closed)
    assert not healthy("web", closed) and not healthy("all", closed)
    assert "scheduler.healthcheck" in instruction("HEALTHCHECK")
