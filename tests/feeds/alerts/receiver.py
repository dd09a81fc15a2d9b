"""A real webhook receiver on loopback for the tests (and the demo).

A threaded HTTP server on 127.0.0.1, port 0. It records every request (headers, body, time),
verifies each with `standardwebhooks.Webhook(...).verify` — the library's own check, not ours —
and answers from a script: `Reply(500)`, `Reply(429, retry_after="7")`, `Reply(200, delay=2.0)`
(a delay longer than the client's timeout makes it "slow"). When the script runs out it answers
`default`. A request whose signature does not verify is answered 401.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks import Webhook, WebhookVerificationError


@dataclass(frozen=True)
class Reply:
    """One scripted answer."""

    status: int = 200
    retry_after: str | None = None
    delay: float = 0.0  # seconds to wait before answering


@dataclass
class Received:
    """One request as it arrived."""

    path: str
    headers: dict[str, str]  # names in lower case
    body: bytes
    at: float  # time.monotonic() on arrival
    verified: bool
    error: str = ""  # why verification failed
    payload: Any = None  # the parsed JSON, when verified
    status: int = 0  # what we answered


def verifier(secret: str) -> Webhook:
    """The library's verifier with the project's convention: whsec_ as given, else UTF-8 bytes."""
    return Webhook(secret) if secret.startswith("whsec_") else Webhook(secret.encode())


@dataclass
class WebhookReceiver:
    """Records and verifies webhook POSTs; scripted statuses; thread-safe."""

    secret: str
    script: list[Reply] = field(default_factory=list)
    default: Reply = field(default_factory=Reply)
    received: list[Received] = field(default_factory=list)
    url: str = ""
    _lock: threading.Condition = field(default_factory=threading.Condition)

    def reply(self, *replies: Reply | int) -> None:
        """Append answers to the script (a bare int is a status)."""
        with self._lock:
            self.script.extend(r if isinstance(r, Reply) else Reply(r) for r in replies)

    def _next(self) -> Reply:
        with self._lock:
            return self.script.pop(0) if self.script else self.default

    def record(self, path: str, headers: dict[str, str], body: bytes) -> Received:
        try:
            payload = verifier(self.secret).verify(body, headers)
            item = Received(path, headers, body, time.monotonic(), True, payload=payload)
        except WebhookVerificationError as exc:
            item = Received(path, headers, body, time.monotonic(), False, str(exc))
        with self._lock:
            self.received.append(item)
            self._lock.notify_all()
        return item

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        """Block until `count` requests arrived (or fail after `timeout` seconds)."""
        with self._lock:
            if not self._lock.wait_for(lambda: len(self.received) >= count, timeout):
                raise AssertionError(f"{len(self.received)} of {count} webhook requests arrived")
            return list(self.received)


def _handler(receiver: WebhookReceiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, like real receivers

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            headers = {k.lower(): v for k, v in self.headers.items()}
            item = receiver.record(self.path, headers, body)
            reply = receiver._next()
            time.sleep(reply.delay)
            item.status = reply.status if item.verified else 401
            try:
                self.send_response(item.status)
                if reply.retry_after is not None:
                    self.send_header("Retry-After", reply.retry_after)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")
            except OSError:  # the client gave up waiting (the timeout tests)
                self.close_connection = True

        def log_message(self, format: str, *args: Any) -> None:  # quiet test output
            pass

    return Handler


@contextmanager
def serve(secret: str, script: Iterable[Reply | int] = ()) -> Iterator[WebhookReceiver]:
    """Run a receiver on 127.0.0.1 (free port) for the duration of the block."""
    receiver = WebhookReceiver(secret)
    receiver.reply(*script)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(receiver))
    server.daemon_threads = True
    server.block_on_close = False  # a handler sleeping past the client's timeout must not hang us
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    thread = threading.Thread(
        target=server.serve_forever, args=(0.05,), name="webhook-receiver", daemon=True
    )  # a short poll: shutdown() waits for one
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
