"""Faults a replica site can be told to show on a path prefix (see `ReplicaServer.set_fault`).

- `500`, `503`, `404`: that status with a small body (503 carries `Retry-After`).
- `timeout`: no answer for 60 s (ended early by `stop()`), then the connection is closed.
- `redirect_loop`: 302 between `PATH` and `PATH?loop=1`, forever.
- `truncated`: the real page cut in the middle of a tag (Content-Length matches the cut body).
- `wrong_charset`: the page encoded in cp1252 while headers and `<meta>` declare utf-8.
- `wrong_charset_header`: the utf-8 page under `Content-Type: text/html; charset=iso-8859-1`.
- `huge`: a 50 MB HTML page, streamed in 64 KiB chunks.
- `reset`: the connection is closed with a TCP RST before any response.
- `slow`: the real page, after `SLOW_SECONDS` (a crawl that is still running when it is killed).
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlencode, urlsplit

from replica.pages import HTML, Page

if TYPE_CHECKING:
    from collections.abc import Callable

    from replica.handler import SiteRequestHandler

TIMEOUT_SECONDS = 60.0
HUGE_BYTES = 50 * 1024 * 1024
CHUNK = 64 * 1024
SLOW_SECONDS = 2.0
PAGE_FAULTS = frozenset({"truncated", "wrong_charset", "wrong_charset_header"})
HUGE_HEAD = (
    b'<!DOCTYPE html>\n<html lang="en" dir="ltr"><head><meta charset="utf-8"><title>Huge page</title>'
    b'</head><body><article data-history-node-id="1" class="node node--type-news">'
    b'<h1 class="page-title">Huge page</h1><div class="field--name-body">\n'
)
HUGE_LINE = b"<p>This paragraph repeats until the page weighs fifty megabytes; a crawler must stop first.</p>\n"


def _status(code: int, reason: str) -> Callable[[SiteRequestHandler, bool], tuple[int, int]]:
    def send(handler: SiteRequestHandler, head: bool) -> tuple[int, int]:
        body = f"<!DOCTYPE html><html><body><h1>{code} {reason}</h1></body></html>\n".encode()
        headers = {"Content-Type": HTML, "Content-Length": str(len(body))}
        if code == 503:
            headers["Retry-After"] = "120"
        handler.send_head(code, headers)
        return code, 0 if head else handler.write(body)

    return send


def _timeout(handler: SiteRequestHandler, head: bool) -> tuple[int, int]:
    handler.server.stopping.wait(TIMEOUT_SECONDS)
    handler.close_connection = True
    return 0, 0


def _reset(handler: SiteRequestHandler, head: bool) -> tuple[int, int]:
    handler.reset_connection()
    return 0, 0


def _redirect_loop(handler: SiteRequestHandler, head: bool) -> tuple[int, int]:
    parts = urlsplit(handler.path)
    query = dict(parse_qsl(parts.query))
    if query.pop("loop", None) is None:
        query["loop"] = "1"
    target = parts.path + ("?" + urlencode(query) if query else "")
    handler.send_head(
        302, {"Location": handler.server.state.base_url + target, "Content-Length": "0"}
    )
    return 302, 0


def _huge(handler: SiteRequestHandler, head: bool) -> tuple[int, int]:
    handler.send_head(200, {"Content-Type": HTML, "Content-Length": str(HUGE_BYTES)})
    if head:
        return 200, 0
    sent = handler.write(HUGE_HEAD)
    block = HUGE_LINE * (CHUNK // len(HUGE_LINE))
    while sent < HUGE_BYTES and not handler.close_connection:
        if handler.server.stopping.is_set():
            handler.close_connection = True
            break
        piece = block[: HUGE_BYTES - sent]
        written = handler.write(piece)
        sent += written
    return 200, sent


FAULT_HANDLERS: dict[str, Callable[[SiteRequestHandler, bool], tuple[int, int]]] = {
    "500": _status(500, "Internal Server Error"),
    "503": _status(503, "Service Unavailable"),
    "404": _status(404, "Not Found"),
    "timeout": _timeout,
    "reset": _reset,
    "redirect_loop": _redirect_loop,
    "huge": _huge,
}
FAULTS = frozenset(FAULT_HANDLERS) | PAGE_FAULTS | {"slow"}


def apply_page_fault(page: Page, fault: str) -> Page:
    """The page damaged by a body-level fault."""
    if fault == "truncated":
        cut = page.body.find(b"<", len(page.body) // 2)
        body = page.body[: cut + 2] if cut >= 0 else page.body[: len(page.body) // 2]
        return Page(page.status, body, page.content_type)
    if fault == "wrong_charset":
        body = page.body.decode("utf-8").encode("cp1252", errors="replace")
        return Page(page.status, body, HTML)
    return Page(page.status, page.body, "text/html; charset=iso-8859-1")
