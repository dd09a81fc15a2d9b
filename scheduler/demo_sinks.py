"""What `iomwatch demo` delivers to: a local mailbox and a webhook receiver, with a page.

The mailbox is an aiosmtpd server on 127.0.0.1 that keeps every message it receives as
`data_dir/mailbox/NNNN.eml` and prints one line per mail. The webhook receiver checks each
delivery's signature (standardwebhooks, as a real receiver would), keeps it as
`data_dir/webhooks/NNNN.json` and prints one line. The receiver's server also answers
`GET /demo/mailbox`: a page listing both, each mail readable as text. Mails and payloads carry
scraped text: the page escapes everything, and a mail is served as text/plain.
"""

from __future__ import annotations

import base64
import email
import html
import json
import logging
import os
import re
import socket
import threading
import time
from dataclasses import dataclass, field
from email import policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import IO, Any

from standardwebhooks import Webhook, WebhookVerificationError

logger = logging.getLogger(__name__)

MAILBOX_PAGE = "/demo/mailbox"
HOOK_PATH = "/hook"
MAX_BODY = 1 << 20  # a webhook body larger than this is refused (the demo's own are small)
EML_NAME = re.compile(r"^\d{4}\.eml$")


def new_secret() -> str:
    """A fresh webhook signing secret in the standard `whsec_<base64>` form."""
    return "whsec_" + base64.b64encode(os.urandom(24)).decode()


@dataclass
class Sink:
    """A numbered folder of received things, and the line printed for each."""

    folder: Path
    out: IO[str]
    lock: threading.Lock = field(default_factory=threading.Lock)

    def keep(self, suffix: str, data: bytes, line: str) -> Path:
        with self.lock:
            self.folder.mkdir(parents=True, exist_ok=True)
            path = self.folder / f"{len(list(self.folder.glob('*' + suffix))) + 1:04d}{suffix}"
            path.write_bytes(data)
            print(line, file=self.out, flush=True)
        return path


class MailboxHandler:
    """aiosmtpd handler: every message kept as an .eml file, one line printed."""

    def __init__(self, sink: Sink) -> None:
        self.sink = sink

    async def handle_DATA(self, server: object, session: object, envelope: Any) -> str:
        content: bytes = envelope.content
        message = email.message_from_bytes(content, policy=policy.default)
        to = ", ".join(envelope.rcpt_tos)
        line = f"mailbox: mail to {to}: {_flat(str(message['Subject']))}"
        path = self.sink.keep(".eml", content, line)
        logger.debug("demo mailbox: kept %s", path)
        return "250 2.0.0 kept"


class Mailbox:
    """The demo's SMTP server on loopback (aiosmtpd), keeping mails in `folder`."""

    def __init__(self, folder: Path, out: IO[str]) -> None:
        from aiosmtpd.controller import Controller

        # aiosmtpd logs every SMTP command at INFO: the line per mail says what matters
        logging.getLogger("mail.log").setLevel(logging.WARNING)
        self.folder = folder
        self.port = _free_port()
        self.controller = Controller(
            MailboxHandler(Sink(folder, out)), hostname="127.0.0.1", port=self.port
        )

    def start(self) -> Mailbox:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()


def _free_port() -> int:
    """A free loopback port (aiosmtpd's Controller cannot report a port-0 bind)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _flat(text: str) -> str:
    return " ".join(text.split())


class HookReceiver:
    """The demo's webhook receiver and mailbox page, on a loopback port of its own."""

    def __init__(self, *, secret: str, data_dir: Path, out: IO[str]) -> None:
        self.verifier = Webhook(secret)
        self.mail_folder = data_dir / "mailbox"
        self.sink = Sink(data_dir / "webhooks", out)
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.server.daemon_threads = True
        self.thread = threading.Thread(
            target=self.server.serve_forever, args=(0.1,), name="demo-hooks", daemon=True
        )

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    @property
    def hook_url(self) -> str:
        return self.base_url + HOOK_PATH

    def start(self) -> HookReceiver:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)

    def receive(self, body: bytes, headers: dict[str, str]) -> int:
        """Verify and keep one delivery; the HTTP status to answer."""
        try:
            payload = self.verifier.verify(body, headers)
        except WebhookVerificationError as exc:
            print(f"webhook: refused a delivery: {exc}", file=self.sink.out, flush=True)
            return 401
        data = payload.get("data", {}) if isinstance(payload, dict) else {}
        title = _flat(str(data.get("title", ""))) if isinstance(data, dict) else ""
        kind = payload.get("type", "?") if isinstance(payload, dict) else "?"
        record = {"received": time.time(), "id": headers.get("webhook-id"), "payload": payload}
        line = f"webhook: {kind}: {title}"
        self.sink.keep(".json", json.dumps(record, ensure_ascii=False, indent=1).encode(), line)
        return 200

    def page(self) -> str:
        """The mailbox page: the mails (newest first, each linked) and the webhook deliveries."""
        mails = sorted(self.mail_folder.glob("*.eml"), reverse=True)
        hooks = sorted(self.sink.folder.glob("*.json"), reverse=True)
        rows = "".join(_mail_row(p) for p in mails) or "<li>no mail yet</li>"
        posts = "".join(_hook_row(p) for p in hooks) or "<li>no delivery yet</li>"
        return (
            "<!doctype html><meta charset=utf-8><meta http-equiv=refresh content=5>"
            "<title>iomwatch demo: mailbox</title><h1>Mailbox</h1>"
            f"<p>{len(mails)} mail(s) in {html.escape(str(self.mail_folder))}</p><ul>{rows}</ul>"
            f"<h1>Webhook deliveries</h1><p>{len(hooks)} delivery(ies)</p><ul>{posts}</ul>"
        )


def _mail_row(path: Path) -> str:
    message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
    subject = html.escape(_flat(str(message["Subject"])))
    to = html.escape(str(message["To"]))
    return f'<li><a href="{MAILBOX_PAGE}/{path.name}">{subject}</a> to {to}</li>'


def _hook_row(path: Path) -> str:
    record = json.loads(path.read_text(encoding="utf-8"))
    payload = record.get("payload") or {}
    data = payload.get("data") or {}
    when = time.strftime("%H:%M:%S", time.localtime(record.get("received", 0)))
    title = html.escape(_flat(str(data.get("title", ""))))
    link = html.escape(str(data.get("url", "")))
    kind = html.escape(str(payload.get("type", "")))
    return f'<li>{when} {kind}: <a href="{link}">{title}</a></li>'


def _handler(receiver: HookReceiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            if self.path != HOOK_PATH or length > MAX_BODY:
                self._answer(404 if self.path != HOOK_PATH else 413, b"no\n", "text/plain")
                return
            body = self.rfile.read(length)
            headers = {k.lower(): v for k, v in self.headers.items()}
            status = receiver.receive(body, headers)
            self._answer(status, b"ok\n", "text/plain")

        def do_GET(self) -> None:
            if self.path in ("/", MAILBOX_PAGE):
                self._answer(200, receiver.page().encode(), "text/html; charset=utf-8")
                return
            name = self.path.removeprefix(MAILBOX_PAGE + "/")
            path = receiver.mail_folder / name
            if EML_NAME.match(name) and path.is_file():
                self._answer(200, path.read_bytes(), "text/plain; charset=utf-8")
                return
            self._answer(404, b"not found\n", "text/plain")

        def _answer(self, status: int, body: bytes, media_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", media_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("X-Content-Type-Options", "nosniff")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # one line per delivery is printed by the receiver itself

    return Handler
