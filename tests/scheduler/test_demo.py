"""`iomwatch demo` as a newcomer runs it: a real subprocess with a short schedule. A release
the replica publishes after the first crawls reaches /feed.atom, the demo mailbox (an .eml
file and a printed line) and the demo webhook receiver; SIGTERM stops it all within seconds.
"""

from __future__ import annotations

import email
import io
import json
import os
import re
import signal
import subprocess
import sys
import time
from email import policy
from pathlib import Path

import feedparser
import httpx

from scheduler.demo_sinks import Sink
from tests.helpers import ROOT, free_port
from tests.scheduler.test_service import wait_for

STOP_BOUND = 10.0  # seconds from SIGTERM to exit


def test_demo_shows_a_release_reach_the_feed_the_mailbox_and_the_webhook(
    tmp_path: Path,
) -> None:
    port = free_port()
    data_dir = tmp_path / "demo"
    out = (tmp_path / "demo.out").open("w")
    env = {k: v for k, v in os.environ.items() if not k.startswith("IOMWATCH_")}
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "scheduler", "demo", "--port", str(port)),
            *("--data-dir", str(data_dir), "--interval", "4", "--publish-every", "600"),
        ],
        cwd=ROOT,
        env=env,
        stdout=out,
        stderr=subprocess.STDOUT,
        text=True,
    )
    log = tmp_path / "demo.out"
    try:
        wait_for(lambda: any((data_dir / "mailbox").glob("*.eml")), 120, "a mail in the mailbox")
        wait_for(lambda: any((data_dir / "webhooks").glob("*.json")), 30, "a webhook delivery")
        printed = log.read_text()
        published = re.search(r"replica: published '(.+?)' on (\w+)", printed)
        assert published, printed[-3000:]
        title = published.group(1)
        mail = email.message_from_bytes(
            next((data_dir / "mailbox").glob("*.eml")).read_bytes(), policy=policy.default
        )
        assert title in str(mail["Subject"]) and mail["To"] == "newcomer@example.org"
        wait_for(lambda: "mailbox: mail to newcomer@example.org: " in log.read_text(), 5, "line")
        hook = json.loads(next((data_dir / "webhooks").glob("*.json")).read_text())
        assert hook["payload"]["data"]["title"] == title
        feed = feedparser.parse(httpx.get(f"http://127.0.0.1:{port}/feed.atom").content)
        assert title in [e.title for e in feed.entries]
        page_url = re.search(r"(http://127\.0\.0\.1:\d+/demo/mailbox)", printed)
        assert page_url, printed
        page = httpx.get(page_url.group(1)).text
        assert "1 mail(s)" in page and "release.created" in page
        assert str(mail["Subject"]).split("]")[-1].strip()[:20] in page
        eml = httpx.get(page_url.group(1) + "/0001.eml")
        assert eml.status_code == 200 and eml.headers["content-type"].startswith("text/plain")
        assert httpx.get(page_url.group(1) + "/../demo-config.toml").status_code == 404
        for url in (f"http://127.0.0.1:{port}/", f"http://127.0.0.1:{port}/status"):
            assert url in printed
    finally:
        start = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
        stopped = time.monotonic() - start
        out.close()
    print(f"demo: SIGTERM -> exit in {stopped:.2f} s")
    assert code == 0, log.read_text()[-3000:]
    assert stopped < STOP_BOUND
    assert "stopped cleanly" in log.read_text()
    assert "Traceback" not in log.read_text()


def test_a_forged_webhook_delivery_is_refused_and_not_kept(tmp_path: Path) -> None:
    from scheduler.demo_sinks import HookReceiver, new_secret

    receiver = HookReceiver(secret=new_secret(), data_dir=tmp_path, out=io.StringIO())
    receiver.start()
    try:
        answer = httpx.post(
            receiver.hook_url,
            content=b'{"type": "release.created", "data": {"title": "<script>x</script>"}}',
            headers={"webhook-id": "msg_1", "webhook-timestamp": "1", "webhook-signature": "v1,x"},
        )
        assert answer.status_code == 401
        assert not list((tmp_path / "webhooks").glob("*"))
        assert httpx.post(receiver.base_url + "/elsewhere", content=b"{}").status_code == 404
        assert "no delivery yet" in httpx.get(receiver.base_url + "/demo/mailbox").text
        (tmp_path / "mailbox").mkdir()
        (tmp_path / "mailbox" / "0001.eml").write_bytes(
            b"Subject: <script>alert(1)</script>\r\nTo: a@example.org\r\n\r\n<b>body</b>\r\n"
        )
        page = httpx.get(receiver.base_url + "/demo/mailbox").text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>" not in page
        raw = httpx.get(receiver.base_url + "/demo/mailbox/0001.eml")
        assert raw.headers["content-type"].startswith("text/plain")
        assert raw.headers["x-content-type-options"] == "nosniff"
    finally:
        receiver.stop()


def test_sink_numbers_what_it_keeps(tmp_path: Path) -> None:
    lines = io.StringIO()
    sink = Sink(tmp_path / "box", lines)
    first = sink.keep(".eml", b"a", "one")
    second = sink.keep(".eml", b"b", "two")
    assert (first.name, second.name) == ("0001.eml", "0002.eml")
    assert lines.getvalue() == "one\ntwo\n"
