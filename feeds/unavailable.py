"""The database away: every page, feed and API call answers 503 with Retry-After, not a 500.

A web replica of a scaled-out deployment reads a PostgreSQL server on another machine; a
restart or a network cut there must not turn each request into a traceback in the log and an
"Internal Server Error" in a feed reader. Readers retry after `RETRY_AFTER_SECONDS`, and the
engine's pool (pre-ping) reconnects once the server is back: the process itself stays up.

The log says it once per `LOG_EVERY_SECONDS`, with the count answered meanwhile: a thousand
feed readers polling an away database are one line a minute, not a thousand tracebacks.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

logger = logging.getLogger(__name__)

# Connecting, a dropped connection, the pool exhausted: the database, not the request. Not
# every DBAPIError: a ProgrammingError or an IntegrityError is a bug, and stays a 500 with its
# traceback rather than hide behind "try again shortly".
DATABASE_AWAY: tuple[type[Exception], ...] = (OperationalError, InterfaceError, PoolTimeout)
RETRY_AFTER_SECONDS = 30
LOG_EVERY_SECONDS = 60.0
MESSAGE = "The database is unavailable for the moment; try again shortly."


class DatabaseAwayHandler:
    """A Starlette exception handler for `DATABASE_AWAY`: 503 in the path's own format."""

    def __init__(
        self,
        html_page: Callable[[int, str], Response],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.html_page = html_page
        self.clock = clock
        self.logged_at: float | None = None
        self.unlogged = 0

    async def __call__(self, request: Request, exc: Exception) -> Response:
        self._log(request, exc)
        headers = {"Retry-After": str(RETRY_AFTER_SECONDS), "Cache-Control": "no-store"}
        path = request.url.path
        response: Response
        if path.startswith("/api/"):
            response = JSONResponse({"error": MESSAGE}, status_code=503)
        elif path.startswith("/feed") or path.endswith((".xml", ".json", ".opml")):
            response = PlainTextResponse(f"503 Service Unavailable: {MESSAGE}\n", status_code=503)
        else:
            response = self.html_page(503, MESSAGE)
        response.headers.update(headers)
        return response

    def _log(self, request: Request, exc: Exception) -> None:
        now = self.clock()
        if self.logged_at is not None and now - self.logged_at < LOG_EVERY_SECONDS:
            self.unlogged += 1
            return
        # The exception's type only: a driver's message may carry the server's address and
        # a statement, never needed to act on "the database is away".
        since = f"; {self.unlogged} more request(s) answered 503 since" if self.unlogged else ""
        logger.warning(
            "database unavailable (%s) on %s %s: answered 503%s",
            type(exc.__cause__ or exc).__name__,
            request.method,
            request.url.path,
            since,
        )
        self.logged_at, self.unlogged = now, 0
