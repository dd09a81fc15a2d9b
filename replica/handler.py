"""The HTTP side of a replica site: conditional requests, gzip, faults, request log."""

from __future__ import annotations

import contextlib
import gzip
import socket
import struct
import threading
from email.utils import parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from replica.faults import FAULT_HANDLERS, PAGE_FAULTS, SLOW_SECONDS, apply_page_fault
from replica.model import RequestRecord
from replica.pages import Page, route

if TYPE_CHECKING:
    from replica.state import SiteState


class SiteHTTPServer(ThreadingHTTPServer):
    """One site's server; tracks its connection threads so `stop()` can end them all."""

    daemon_threads = True
    block_on_close = False

    def __init__(self, address: tuple[str, int], state: SiteState, owner: Any) -> None:
        self.state = state
        self.owner = owner
        self.stopping: threading.Event = owner.stop_event
        self.connections: dict[threading.Thread, socket.socket] = {}
        self.connections_lock = threading.Lock()
        super().__init__(address, SiteRequestHandler)

    def process_request(self, request: Any, client_address: Any) -> None:
        thread = threading.Thread(
            target=self._serve_connection,
            args=(request, client_address),
            name=f"replica-{self.state.profile.id}-conn",
            daemon=True,
        )
        with self.connections_lock:
            self.connections[thread] = request
        thread.start()

    def _serve_connection(self, request: Any, client_address: Any) -> None:
        try:
            self.process_request_thread(request, client_address)
        finally:
            with self.connections_lock:
                self.connections.pop(threading.current_thread(), None)

    def close_connections(self, timeout: float = 5.0) -> None:
        """Shut every open connection down and wait for its thread."""
        with self.connections_lock:
            items = list(self.connections.items())
        for _, sock in items:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        for thread, _ in items:
            thread.join(timeout)


class SiteRequestHandler(BaseHTTPRequestHandler):
    """Answers GET and HEAD like a Drupal site behind a CDN would."""

    server: SiteHTTPServer
    protocol_version = "HTTP/1.1"
    server_version = "Apache"
    sys_version = ""
    timeout = 30

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: the replica keeps its own request log."""

    def do_GET(self) -> None:
        self.handle_request(head=False)

    def do_HEAD(self) -> None:
        self.handle_request(head=True)

    def handle_request(self, *, head: bool) -> None:
        state = self.server.state
        if state.down:
            self.send_page(
                Page(503, b"Service Unavailable\n", "text/plain", {"Retry-After": "120"}),
                head=head,
                fault="down",
            )
            return
        fault = self.matching_fault()
        if fault == "slow":  # then the page itself, as if the server were busy
            self.server.stopping.wait(SLOW_SECONDS)
        if fault in FAULT_HANDLERS:
            status, sent = FAULT_HANDLERS[fault](self, head)
            self.record(status, sent, fault)
            return
        page = self.cached_page()
        if fault in PAGE_FAULTS:
            self.send_page(apply_page_fault(page, fault), head=head, fault=fault)
            return
        self.send_page(page, head=head)

    def matching_fault(self) -> str | None:
        with self.server.state.lock:
            faults = list(self.server.state.faults)
        return next((f for prefix, f in faults if self.path.startswith(prefix)), None)

    def cached_page(self) -> Page:
        state = self.server.state
        with state.lock:
            key = (state.generation, self.path)
            page = state.cache.get(key)
            if page is None:
                page = route(state, self.path)
                state.cache[key] = page
            return page

    def send_page(self, page: Page, *, head: bool, fault: str | None = None) -> None:
        """Send a page, answering 304 when the client's validators still match."""
        headers = dict(page.headers)
        body = page.body
        cacheable = page.status == 200 and fault is None
        if cacheable:
            headers.update(page.cache_headers())
            if self.not_modified(page):
                self.record(304, 0, None)  # logged before sending: a client may look right after
                self.send_head(304, headers)
                return
            if page.content_type.startswith("text/") and "gzip" in self.headers.get(
                "Accept-Encoding", ""
            ):
                body = gzip.compress(body, mtime=0)
                headers["Content-Encoding"] = "gzip"
                headers["ETag"] = headers["ETag"][:-1] + '-gzip"'
            headers["Vary"] = "Accept-Encoding"
        headers["Content-Type"] = page.content_type
        headers["Content-Length"] = str(len(body))
        self.record(page.status, 0 if head else len(body), fault)
        self.send_head(page.status, headers)
        if not head:
            self.write(body)

    def not_modified(self, page: Page) -> bool:
        tags = self.headers.get("If-None-Match")
        if tags is not None:
            wanted = page.etag.strip('"')
            for tag in tags.split(","):
                tag = tag.strip().removeprefix("W/").strip('"').removesuffix("-gzip")
                if tag in {wanted, "*"}:
                    return True
            return False
        since = self.headers.get("If-Modified-Since")
        if since is None or page.modified is None:
            return False
        try:
            return parsedate_to_datetime(since).timestamp() >= int(page.modified)
        except (TypeError, ValueError, OverflowError):
            return False

    def send_head(self, status: int, headers: dict[str, str]) -> None:
        self.send_response(status)
        generator = (
            "Drupal 7 (http://drupal.org)"
            if self.server.state.profile.theme == "legacy"
            else "Drupal 10 (https://www.drupal.org)"
        )
        self.send_header("X-Generator", generator)
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()

    def write(self, data: bytes) -> int:
        try:
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
            return 0
        return len(data)

    def reset_connection(self) -> None:
        """Close the socket at once with an RST, without any response."""
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True
        self.connection.close()

    def record(self, status: int, sent: int, fault: str | None) -> None:
        record = RequestRecord(
            site_id=self.server.state.profile.id,
            method=self.command,
            path=self.path,
            status=status,
            bytes_sent=sent,
            headers=dict(self.headers.items()),
            fault=fault,
        )
        self.server.owner.log_request(record)

    @property
    def path_only(self) -> str:
        return urlsplit(self.path).path
