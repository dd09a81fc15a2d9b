"""The Dockerfile: hadolint-clean, and its CMD and HEALTHCHECK work outside a container."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from replica import ReplicaServer
from tests.helpers import ROOT, free_port

DOCKERFILE = ROOT / "Dockerfile"


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
    assert instruction("FROM").startswith("python:3.11-slim")
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
        assert httpx.get(f"http://127.0.0.1:{port}/healthz").json()["status"] == "ok"
        assert (tmp_path / "iomwatch.db").exists(), "the data goes to IOMWATCH_DATA_DIR (/data)"
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=40)
        replica.stop()
    assert code == 0
