"""What `iomwatch crawl` shows while it crawls: one line per site when not on a terminal, a
rich live display on one (a real pseudo-terminal), Scrapy's INFO log only with -v.

The crawls are real subprocesses against a replica site plus a site whose port refuses
connections; the display's own rendering is also checked in-process on a recorded console.
"""

from __future__ import annotations

import io
import os
import pty
import re
import select
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from rich.console import Console

from crawler.run import SiteResult
from crawler.store import RunStats
from replica import ReplicaServer
from scheduler.progress import LineProgress, LiveProgress, crawl_display, result_line
from tests.helpers import ROOT, free_port, iomwatch, write_config

LINE = re.compile(
    r"^site=(?P<site>\S+) status=(?P<status>\w+) pages=(?P<pages>\d+) new=(?P<new>\d+) "
    r"errors=(?P<errors>\d+) seconds=(?P<seconds>[\d.]+)( reason='.*')?$"
)
LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
DEAD_SITE = """
[[site]]
id = "unreachable"
name = "A site whose port refuses connections"
base_url = "http://127.0.0.1:{port}"
languages = ["en"]
news_paths = ["/news"]
"""


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    """A replica site and an unreachable one; (config, data dir)."""
    tmp = tmp_path_factory.mktemp("progress")
    with ReplicaServer(["mena"]) as replica:
        sites = replica.write_sites_file(tmp / "sites.toml")
        with sites.open("a", encoding="utf-8") as fh:
            fh.write(DEAD_SITE.format(port=free_port()))
        config = write_config(
            tmp / "config.toml",
            sites_file=sites,
            database_url=f"sqlite:///{tmp / 'iomwatch.db'}",
            data_dir=tmp,
            extra="max_pages = 1\n",
        )
        yield config, tmp


def test_not_a_terminal_one_line_per_site_then_the_summary(setup: tuple[Path, Path]) -> None:
    config, _ = setup
    result = iomwatch("crawl", "--config", str(config), "--max-pages", "2")
    assert result.returncode == 1, result.stderr[-2000:]  # the unreachable site failed
    lines = result.stdout.splitlines()
    found = {m["site"]: m for m in map(LINE.match, lines) if m}
    assert set(found) == {"mena", "unreachable"}, result.stdout
    assert found["mena"]["status"] == "ok" and int(found["mena"]["new"]) > 0
    assert int(found["mena"]["pages"]) > int(found["mena"]["new"])
    assert found["unreachable"]["status"] == "failed" and found["unreachable"]["errors"] == "1"
    assert "Connection" in found["unreachable"].group(0)  # the reason, on the same line
    summary = next(i for i, line in enumerate(lines) if "crawl summary" in line)
    assert all(lines.index(m.group(0)) < summary for m in found.values())
    # no Scrapy start-up log, and each warning or error is one log line (no traceback)
    assert "Enabled extensions" not in result.stderr and "Versions" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.strip()]
    assert errors, "the unreachable site's error must be visible"
    assert all(LOG_LINE.match(line) for line in errors), result.stderr
    assert "Traceback" not in result.stderr
    assert any("unreachable" in line and "ERROR" in line for line in errors)


def test_verbose_shows_scrapys_info_log(setup: tuple[Path, Path]) -> None:
    config, _ = setup
    result = iomwatch("crawl", "-v", "--config", str(config), "--site", "mena")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Enabled extensions" in result.stderr and "[scrapy.core.engine] INFO" in result.stderr
    assert LINE.match(result.stdout.splitlines()[0])


def run_on_a_terminal(*args: str, timeout: float = 120) -> tuple[int, str]:
    """Run `python -m scheduler ARGS` with stdout and stderr on a pseudo-terminal."""
    master, slave = pty.openpty()
    env = {k: v for k, v in os.environ.items() if not k.startswith("IOMWATCH_")}
    env.update(COLUMNS="150", LINES="40", TERM="xterm-256color")
    proc = subprocess.Popen(
        [sys.executable, "-m", "scheduler", *args],
        stdin=subprocess.DEVNULL,
        stdout=slave,
        stderr=slave,
        cwd=ROOT,
        env=env,
    )
    os.close(slave)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.5)
        if ready:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        elif proc.poll() is not None:
            break
    os.close(master)
    code = proc.wait(timeout=10)
    return code, b"".join(chunks).decode("utf-8", "replace")


def test_on_a_terminal_a_live_display_then_the_summary(setup: tuple[Path, Path]) -> None:
    config, _ = setup
    code, output = run_on_a_terminal("crawl", "--config", str(config))
    assert code == 1, output[-3000:]
    assert ANSI.search(output), "a terminal gets rich's live rendering"
    text = ANSI.sub("", output)
    assert "sites 0/2" in text and "sites 2/2" in text, text[-3000:]
    assert re.search(r"pages \d+ · new \d+ · errors 1", text), text[-3000:]
    assert "✗ site=unreachable status=failed" in text  # the failure, one line above the display
    assert "crawl summary" in text
    assert text.index("sites 2/2") < text.index("crawl summary")
    assert not LINE.search(text.replace("✗ ", "")), "no per-site lines on a terminal"
    assert "Enabled extensions" not in text


def result(
    site: str, status: str, pages: int, new: int, errors: int, reason: str = ""
) -> SiteResult:
    stats = RunStats(pages=pages, new=new, errors=errors)
    return SiteResult(site, status, reason or None, stats, seconds=1.25)


def test_live_display_counts_sites_pages_new_errors_and_names_the_busy_site() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=150, record=True)
    display = crawl_display(out, 3, console=console)
    assert isinstance(display, LiveProgress)
    with display:
        display.site_opened("alpha")
        display.site_opened("beta")
        display.site_progress("alpha", RunStats(pages=4, new=2))
        display.site_progress("beta", RunStats(pages=1))
        assert display._now() == "crawling beta (+1 more)"
        display.site_progress("alpha", RunStats(pages=6, new=3))
        assert display._now() == "crawling alpha (+1 more)"
        display.site_closed(result("beta", "failed", 1, 0, 1, "listing: refused\n  twice"))
        display.site_closed(result("alpha", "ok", 9, 5, 0))
        assert display._counts() == "pages 10 · new 5 · errors 1"
        assert display.progress.tasks[0].completed == 2
    text = console.export_text()
    assert "sites 2/3" in text and "pages 10 · new 5 · errors 1" in text
    assert "✗ site=beta status=failed pages=1 new=0 errors=1 seconds=1.2" in text
    assert "reason='listing: refused twice'" in text  # one line, whatever the reason held
    assert "site=alpha" not in text  # sites that went well are the summary's


def test_lines_when_not_a_terminal() -> None:
    out = io.StringIO()
    display = crawl_display(out, 2)
    assert isinstance(display, LineProgress)
    with display:
        display.site_opened("alpha")
        display.site_progress("alpha", RunStats(pages=3))
        assert out.getvalue() == ""
        display.site_closed(result("alpha", "ok", 3, 1, 0))
        display.site_closed(result("beta", "failed", 0, 0, 1, "x" * 500))
    first, second = out.getvalue().splitlines()
    assert first == "site=alpha status=ok pages=3 new=1 errors=0 seconds=1.2"
    assert second.startswith("site=beta status=failed") and len(second) < 300
    assert result_line(result("c", "ok", 1, 0, 0, "ignored when ok")).endswith("seconds=1.2")
